"""Periodic monitoring reports (daily, weekly, monthly) from the outputs of ``monitor replay``.

    from monitor.reports import build_report, write_report

    report = build_report("out/", ["events.jsonl"], period="month", as_of="2025-12-31")
    paths = write_report(report, "reports/", lang="zh")   # HTML, JSON, CSV

``build_report`` is the one function a scheduler calls; it reads no clock, so
the same input always gives the same report, byte for byte. Command line:
``monitor report --period day|week|month --as-of DATE --replay DIR --events FILE``.

Definitions (where the issue left a choice):

* Periods are calendar days in the policy's time zone: a day; the ISO week
  (Monday to Sunday) that holds the as-of date; the calendar month. Each runs to
  the end of the as-of date, so a week or month report built mid-period covers
  the period to date. An as-of date after the replay's as-of date is refused; on
  the replay's own date the figures hold at the replay's as-of (``complete`` is
  false).
* State at an instant: the tier is the ``to_tier`` of the latest alert; profile
  fields come from the latest loan profile; the grade from the latest rating
  change, else the first profile (as the engine keeps it); the minimum
  classification from each account's days past due counted to the instant.
* Rule statistics: alerts in the period whose evidence cites the rule, their
  distinct borrowers and exposure; "newly held" counts borrowers whose signal
  began (``since``) in the period; "on list" counts warning-list borrowers whose
  latest change of tier cites it.
* Inspection work, per team (the schedule entry's team): due = obligations whose
  due date falls in the period and that were not pulled forward to an earlier
  date; done = visits made in the period (one per event id); on time = made on
  or before the due date then in force (on-time rate = on time / done); overdue
  = the due date in force at the end has passed; planned = due dates in the next
  period (the rest of the calendar period, or the next one). Capacity is
  optional (``--capacity``: team = visits per working day, Monday to Friday).
* Data health: distinct events per feed dated in the period (copies counted
  apart), the newest event of each feed at the as-of instant, rejected lines by
  reason (the whole input: a rejected line has no trustworthy date).
"""

from __future__ import annotations

from monitor.reports._build import build_report, load_capacity, with_cases
from monitor.reports._html import render_html
from monitor.reports._period import PERIODS, PeriodKind, make_period, midnight_us
from monitor.reports._write import ReportPaths, file_names, render_csv, render_json, render_xlsx, write_report
from monitor.reports.model import Report

__all__ = ["PERIODS", "PeriodKind", "Report", "ReportPaths", "build_report", "file_names", "load_capacity",
           "make_period", "midnight_us", "render_csv", "render_html", "render_json", "render_xlsx", "with_cases",
           "write_report"]
