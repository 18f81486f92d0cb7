"""The backtest report as files and as a terminal table: ``backtest.json`` and the comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.backtest._labels import Lang, label, tier_name

__all__ = ["comparison_rows", "headline", "num", "pct", "render_table", "rule_columns", "rule_rows", "write_json"]

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


def headline(report: dict[str, Any], lang: Lang = "en") -> str:
    ev, out, hist = report["events"], report["outcomes"], report["history"]
    return label(lang, "headline", as_of=report["as_of"], borrowers=f"{report['borrowers']:,}",
                 events=f"{ev['read']:,}", rejected=f"{ev['rejected']:,}", days=f"{hist['days']:.0f}",
                 in_scope=f"{out['in_scope']:,}", after=f"{out['after_as_of']:,}", unknown=f"{out['not_in_events']:,}")


def comparison_rows(report: dict[str, Any], lang: Lang = "en") -> list[Row]:
    """The policy comparison: one row per figure, one cell per policy."""
    pols = report["policies"]
    rows: list[Row] = []
    horizons = report["settings"]["horizons_days"]
    for name in ("warning", "watch"):
        lvl = tier_name(lang, name)
        for h in horizons:
            rows.append((label(lang, "det_head", level=lvl, h=h),
                         [pct(p["detection"][name]["detected"][f"{h}d"]["rate"]) for p in pols]))
        rows.append((label(lang, "det_first", h=90),
                     [pct(p["detection"][name]["first_flag"]["90d"]["rate"]) for p in pols]))
        rows.append((label(lang, "lead", level=lvl), [_lead(p["detection"][name]) for p in pols]))
        rows.append((label(lang, "censored"), [num(p["detection"][name]["lead_time_days"]["censored"]) for p in pols]))
        rows.append((label(lang, "base_rate", level=lvl), [pct(p["detection"][name]["base_rate"]) for p in pols]))
        rows.append((label(lang, "lift"), [num(p["detection"][name]["lift"], 2) for p in pols]))
        fa = [p["false_alarms"][name] for p in pols]
        rows.append((label(lang, "fa_flagged", level=lvl), [num(f["flagged"]) for f in fa]))
        rows.append((label(lang, "precision"), [pct(f["precision"]) for f in fa]))
        rows.append((label(lang, "fpr"), [pct(f["false_positive_rate"]) for f in fa]))
    wl = [p["workload"] for p in pols]
    rows.append((label(lang, "vpby"), [num(w["visits_per_borrower_year"], 2) for w in wl]))
    rows.append((label(lang, "baseline"), [num(w["baseline_visits_per_borrower_year"], 2) for w in wl]))
    rows.append((label(lang, "ratio"), [num(w["ratio_to_baseline"], 2) for w in wl]))
    rows.append((label(lang, "visits_year"), [num(w["visits_per_year"]) for w in wl]))
    if any("capacity" in w for w in wl):
        caps = [w.get("capacity") for w in wl]
        rows.append((label(lang, "late_share"), [pct(c["late_share"]) if c else "n/a" for c in caps]))
        rows.append((label(lang, "days_late"), [num(c["days_late_mean"], 2) if c else "n/a" for c in caps]))
        rows.append((label(lang, "owed"), [num(c["owed_at_as_of"]) if c else "n/a" for c in caps]))
    me = [p["month_ends"] for p in pols]
    rows.append((label(lang, "watch_share"), [pct(m["watch_plus_share"]) for m in me]))
    rows.append((label(lang, "severe_share"), [pct(m["severe_share"]) for m in me]))
    st = [p["stability"] for p in pols]
    rows.append((label(lang, "alerts_by"), [num(s["alerts_per_borrower_year"], 3) for s in st]))
    rows.append((label(lang, "flips_by"), [num(s["flips_per_borrower_year"], 3) for s in st]))
    return rows


def rule_columns(lang: Lang = "en") -> tuple[str, str, str]:
    return label(lang, "d90"), label(lang, "lead_col"), label(lang, "precision_col")


def rule_rows(report: dict[str, Any]) -> list[Row]:
    """Per rule, three cells per policy, of the warning+ flags the rule raised: the share of defaults so
    flagged at least 90 days before and still at the default, the median lead in days, the precision."""
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
                      pct(r["false_alarms"]["warning"]["precision"])]
        rows.append((name, cells))
    return rows


def _table(header: list[str], rows: list[Row]) -> list[str]:
    width = max([len(header[0])] + [len(lbl) for lbl, _ in rows])
    cols = [max([len(h)] + [len(cells[i]) for _, cells in rows]) for i, h in enumerate(header[1:])]
    lines = ["  ".join([header[0].ljust(width)] + [h.rjust(c) for h, c in zip(header[1:], cols)])]
    for lbl, cells in rows:
        lines.append("  ".join([lbl.ljust(width)] + [x.rjust(c) for x, c in zip(cells, cols)]))
    return lines


def render_table(report: dict[str, Any]) -> str:
    labels = [p["label"] for p in report["policies"]]
    lines = [headline(report), ""]
    lines += _table(["policy"] + labels, comparison_rows(report))
    lines += ["", "per rule, the warning+ flags it raised: defaults flagged >= 90 days before and still at the "
                  "default, median lead, precision"]
    lines += _table(["rule"] + [f"{lbl} {c}" if i == 0 else c for lbl in labels
                                for i, c in enumerate(rule_columns())], rule_rows(report))
    fa = report["policies"][0]["false_alarms"]["warning"] if report["policies"] else None
    if fa is not None and not fa["measurable"]:
        lines += ["", f"false alarms: {fa['note']}"]
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: Path) -> None:
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")
