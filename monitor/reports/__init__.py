"""Periodic monitoring reports (daily, weekly, monthly) from the outputs of ``monitor replay``.

    from monitor.reports import build_report, write_report

    report = build_report("out/", ["events.jsonl"], period="month", as_of="2025-12-31")
    paths = write_report(report, "reports/", lang="zh")   # HTML, JSON, CSV

``build_report`` is the one function a scheduler calls; it reads no clock, so
the same input always gives the same report, byte for byte.
"""

from __future__ import annotations

from monitor.reports._build import build_report, load_capacity
from monitor.reports._html import render_html
from monitor.reports._write import ReportPaths, file_names, render_csv, render_json, write_report
from monitor.reports.model import Report

__all__ = ["Report", "ReportPaths", "build_report", "file_names", "load_capacity", "render_csv", "render_html",
           "render_json", "write_report"]
