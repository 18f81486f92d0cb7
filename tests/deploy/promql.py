"""Helpers for the deployment tests: metric names in PromQL, exported names, promtool."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy/prometheus"
DASHBOARD = ROOT / "deploy/grafana/dashboards/monitor.json"
REQUIRED = bool(os.environ.get("CI") or os.environ.get("MONITOR_REQUIRE_BROKER"))

# PromQL words that are not metric names
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
             "bool", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label names (inside braces or grouping clauses), durations or numbers."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load((PROM / "rules.yml").read_text())
    return [(r.get("alert") or r.get("record"), r["expr"]) for g in doc["groups"] for r in g["rules"]]


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "rules.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def system_tool(names: tuple[str, ...], package: str) -> str:
    """The first of ``names`` on PATH; a failure under CI / MONITOR_REQUIRE_BROKER, else a skip."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    what = " or ".join(names)
    if REQUIRED:
        pytest.fail(f"{what} is required (Debian package {package}; make system-deps)", pytrace=False)
    pytest.skip(f"{what} not installed (Debian package {package}; make system-deps)")


def promtool() -> str:
    return system_tool(("promtool",), "prometheus")
