"""The backtest report as files and as a terminal table: ``backtest.json`` and the comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["RULE_COLUMNS", "comparison_rows", "headline", "render_table", "rule_rows", "write_json"]

Row = tuple[str, list[str]]


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def num(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{digits}f}"


def _lead(d: dict[str, Any]) -> str:
    lt = d["lead_time_days"]
    if not lt["n"]:
        return "n/a"
    return f"{lt['median']:.0f} [{lt['p25']:.0f}-{lt['p75']:.0f}]"


def headline(report: dict[str, Any]) -> str:
    ev, out, hist = report["events"], report["outcomes"], report["history"]
    return (f"as of {report['as_of']}: {report['borrowers']:,} borrowers, {ev['read']:,} events "
            f"({ev['rejected']:,} rejected), {hist['days']:.0f} days of history; "
            f"{out['in_scope']:,} defaults in scope ({out['after_as_of']:,} after as-of, "
            f"{out['not_in_events']:,} of borrowers not in the events)")


def comparison_rows(report: dict[str, Any]) -> list[Row]:
    """The policy comparison: one row per figure, one cell per policy."""
    pols = report["policies"]
    rows: list[Row] = []
    for name in ("warning", "watch"):
        rows.append((f"defaults flagged {name}+ before default", [
            pct(p["detection"][name]["detected"]["flagged"]["rate"]) for p in pols]))
        for h in report["settings"]["horizons_days"]:
            rows.append((f"  at least {h} days before", [
                pct(p["detection"][name]["detected"][f"{h}d"]["rate"]) for p in pols]))
    for name in ("warning", "watch"):
        rows.append((f"lead time {name}+, days: median [p25-p75]", [_lead(p["detection"][name]) for p in pols]))
    fa = [p["false_alarms"] for p in pols]
    rows.append(("warning+ flags with 12 months follow-up", [num(f["flagged"]) for f in fa]))
    rows.append(("  false alarms (no default within 12 months)", [num(f["false_alarms"]) for f in fa]))
    rows.append(("  precision", [pct(f["precision"]) for f in fa]))
    wl = [p["workload"] for p in pols]
    rows.append(("visits per year", [num(w["visits_per_year"]) for w in wl]))
    rows.append(("  every-90-days baseline", [num(w["baseline_visits_per_year"]) for w in wl]))
    rows.append(("  saving against the baseline", [pct(w["saving"]) for w in wl]))
    rows.append(("  visits per borrower-year", [num(w["visits_per_borrower_year"], 2) for w in wl]))
    st = [p["stability"] for p in pols]
    rows.append(("alerts per borrower-year", [num(s["alerts_per_borrower_year"], 3) for s in st]))
    rows.append(("  raises per borrower-year", [num(s["raises_per_borrower_year"], 3) for s in st]))
    rows.append(("  flips per borrower-year", [num(s["flips_per_borrower_year"], 3) for s in st]))
    return rows


RULE_COLUMNS = (">=90d", "lead", "precision")


def rule_rows(report: dict[str, Any]) -> list[Row]:
    """Per rule, three cells per policy: the share of defaults flagged warning+ at least 90 days
    before by the rule, the median lead of those flags in days, and the rule's precision."""
    pols = report["policies"]
    names = sorted({r["rule"] for p in pols for r in p["rules"]})
    rows: list[Row] = []
    for name in names:
        cells: list[str] = []
        for p in pols:
            r = next((x for x in p["rules"] if x["rule"] == name), None)
            if r is None:
                cells += ["-", "-", "-"]
                continue
            det = r["detection"]["warning"]
            lead = det["lead_time_days"]["median"]
            cells += [pct(det["detected"]["90d"]["rate"]), "n/a" if lead is None else f"{lead:.0f}d",
                      pct(r["false_alarms"]["precision"])]
        rows.append((name, cells))
    return rows


def _table(header: list[str], rows: list[Row]) -> list[str]:
    width = max([len(header[0])] + [len(label) for label, _ in rows])
    cols = [max([len(h)] + [len(cells[i]) for _, cells in rows]) for i, h in enumerate(header[1:])]
    lines = ["  ".join([header[0].ljust(width)] + [h.rjust(c) for h, c in zip(header[1:], cols)])]
    for label, cells in rows:
        lines.append("  ".join([label.ljust(width)] + [x.rjust(c) for x, c in zip(cells, cols)]))
    return lines


def render_table(report: dict[str, Any]) -> str:
    labels = [p["label"] for p in report["policies"]]
    lines = [headline(report), ""]
    lines += _table(["policy"] + labels, comparison_rows(report))
    lines += ["", "per rule, warning+ flags: defaults flagged >= 90 days before, median lead, precision"]
    lines += _table(["rule"] + [f"{label} {c}" if i == 0 else c for label in labels
                                for i, c in enumerate(RULE_COLUMNS)], rule_rows(report))
    fa = report["policies"][0]["false_alarms"] if report["policies"] else None
    if fa is not None and not fa["measurable"]:
        lines += ["", f"false alarms: {fa['note']}"]
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: Path) -> None:
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")
