"""``backtest.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from monitor.backtest._report import (
    RULE_COLUMNS,
    comparison_rows,
    headline,
    num,
    pct,
    rule_rows,
)

__all__ = ["render_html"]

PALETTE = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f6a00", "#c2185b", "#00838f")
W, H = 720, 380
ML, MR, MT, MB = 60, 44, 20, 48

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans SC",sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left;white-space:nowrap}
th{background:#f4f6f8}tr.sub td:first-child{padding-left:1.6em;color:#555}
.note{color:#555;font-size:.9em}.chart{margin:.5em 0 1.5em}svg text{font-size:12px;fill:#333}
dl dt{font-weight:600;margin-top:.5em}dl dd{margin-left:1.5em}code{background:#f4f4f4;padding:0 .2em}
""".strip()


def _f(x: float) -> str:
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _nice_max(x: float) -> tuple[float, float]:
    """An axis maximum at or above ``x`` and its tick step (1, 2 or 5 times a power of ten)."""
    if x <= 0:
        return 1.0, 0.2
    raw = x / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return step * math.ceil(x / step - 1e-9), step


def _frame(x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]], x_label: str,
           y_label: str) -> list[str]:
    out = [f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="#fff" stroke="#999"/>']
    for x, label in x_ticks:
        out.append(f'<line x1="{_f(x)}" y1="{MT}" x2="{_f(x)}" y2="{H - MB}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{_f(x)}" y="{H - MB + 16}" text-anchor="middle">{escape(label)}</text>')
    for y, label in y_ticks:
        out.append(f'<line x1="{ML}" y1="{_f(y)}" x2="{W - MR}" y2="{_f(y)}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{ML - 6}" y="{_f(y + 4)}" text-anchor="end">{escape(label)}</text>')
    out.append(f'<text x="{(ML + W - MR) / 2:.1f}" y="{H - 10}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(16 {(MT + H - MB) / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    return out


def _legend(items: list[tuple[str, str, str]], x: float, y: float) -> list[str]:
    out = []
    for i, (label, color, dash) in enumerate(items):
        yy = y + i * 16
        out.append(f'<line x1="{_f(x)}" y1="{_f(yy)}" x2="{_f(x + 24)}" y2="{_f(yy)}" stroke="{color}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{_f(x + 30)}" y="{_f(yy + 4)}">{escape(label)}</text>')
    return out


def detection_chart(report: dict[str, Any]) -> str:
    """Share of defaults flagged at least x days before default, one line per policy and level."""
    days = int(report["settings"]["curve_days"])
    pw, ph = W - ML - MR, H - MT - MB

    def sx(d: float) -> float:
        return ML + d / days * pw

    def sy(v: float) -> float:
        return MT + (1 - v) * ph

    x_ticks = [(sx(d), str(d)) for d in (0, 30, 90, 180, 270, days)]
    y_ticks = [(sy(v / 10), f"{v * 10}%") for v in range(0, 11, 2)]
    parts = _frame(x_ticks, y_ticks, "days before default (at least)", "share of defaults flagged")
    legend: list[tuple[str, str, str]] = []
    for i, p in enumerate(report["policies"]):
        for name, dash in (("warning", ""), ("watch", ' stroke-dasharray="6 4"')):
            curve = p["curves"][name]
            if not curve:
                continue
            pts = " ".join(f"{_f(sx(d))},{_f(sy(v))}" for d, v in enumerate(curve))
            parts.append(f'<polyline fill="none" stroke="{_color(i)}" stroke-width="2"{dash} points="{pts}">'
                         f'<title>{escape(p["label"])} {name}+</title></polyline>')
            legend.append((f"{p['label']} {name}+", _color(i), dash))
    parts += _legend(legend, W - MR - 230, MT + 14)
    return _svg(parts, "Detection against lead time")


def tradeoff_chart(report: dict[str, Any]) -> str:
    """Visits per year (x) against defaults flagged at least 90 days before (y), one point per policy."""
    pols = report["policies"]
    base = pols[0]["workload"]["baseline_visits_per_year"] if pols else None
    xs = [p["workload"]["visits_per_year"] or 0.0 for p in pols] + [base or 0.0]
    top, step = _nice_max(max(xs) * 1.1)
    pw, ph = W - ML - MR, H - MT - MB

    def sx(v: float) -> float:
        return ML + v / top * pw

    def sy(v: float) -> float:
        return MT + (1 - v) * ph

    n_ticks = round(top / step)
    x_ticks = [(sx(k * step), f"{k * step:,.0f}") for k in range(n_ticks + 1)]
    y_ticks = [(sy(v / 10), f"{v * 10}%") for v in range(0, 11, 2)]
    parts = _frame(x_ticks, y_ticks, "visits per year the policy asks for",
                   "defaults flagged at least 90 days before")
    if base:
        parts.append(f'<line x1="{_f(sx(base))}" y1="{MT}" x2="{_f(sx(base))}" y2="{H - MB}" stroke="#555" '
                     f'stroke-dasharray="4 4"/>')
        parts.append(f'<text x="{_f(sx(base) + 4)}" y="{MT + 14}">every 90 days: {num(base)}</text>')
    for i, p in enumerate(pols):
        x = sx(p["workload"]["visits_per_year"] or 0.0)
        for name, fill in (("warning", _color(i)), ("watch", "#fff")):
            rate = p["detection"][name]["detected"]["90d"]["rate"]
            if rate is None:
                continue
            y = sy(rate)
            parts.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="6" fill="{fill}" stroke="{_color(i)}" '
                         f'stroke-width="2"><title>{escape(p["label"])} {name}+: {pct(rate)}</title></circle>')
    lx, ly = W - MR - 230, H - MB - 16 * (len(pols) + 2) - 4
    for i, p in enumerate(pols):
        parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * i)}" r="5" fill="{_color(i)}"/>')
        parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * i + 4)}">{escape(p["label"])}</text>')
    k = len(pols)
    parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * k)}" r="5" fill="#555"/>')
    parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * k + 4)}">filled: warning+</text>')
    parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * k + 16)}" r="5" fill="#fff" stroke="#555" '
                 f'stroke-width="2"/>')
    parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * k + 20)}">hollow: watch+</text>')
    return _svg(parts, "Visits against detection")


def _svg(parts: list[str], title: str) -> str:
    return (f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'role="img" aria-label="{escape(title)}">\n' + "\n".join(parts) + "\n</svg>")


def _html_table(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"]
    for label, cells in rows:
        cls = ' class="sub"' if label.startswith("  ") else ""
        out.append(f"<tr{cls}><td>{escape(label.strip())}</td>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
                   + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_html(report: dict[str, Any]) -> str:
    pols = report["policies"]
    labels = [p["label"] for p in pols]
    body: list[str] = [f"<h1>Policy backtest</h1>\n<p>{escape(headline(report))}.</p>"]
    body.append("<h2>Policies</h2>")
    body.append(_html_table(["policy", "version", "file", "sha256"],
                            [(p["label"], [p["version"], p["file"], p["sha256"][:16]]) for p in pols]))
    body.append("<h2>Comparison</h2>")
    body.append(_html_table(["figure"] + labels, comparison_rows(report)))
    fa = pols[0]["false_alarms"] if pols else None
    if fa is not None and not fa["measurable"]:
        body.append(f'<p class="note">False alarms: {escape(fa["note"])}.</p>')
    body.append("<h2>Detection against lead time</h2>")
    body.append('<p class="note">Share of the defaults in scope whose first flag came at least x days before '
                'the default. Solid: warning or above; dashed: watch or above.</p>')
    body.append(f'<div class="chart">{detection_chart(report)}</div>')
    body.append("<h2>Visits against detection</h2>")
    body.append('<p class="note">One point per policy: filled, warning or above; hollow, watch or above. '
                'Up is better detection, left is fewer visits; the dashed line is a visit every 90 days.</p>')
    body.append(f'<div class="chart">{tradeoff_chart(report)}</div>')
    body.append("<h2>Where the visits go</h2>")
    tiers = [t["tier"] for t in pols[0]["workload"]["by_tier"]] if pols else []
    rows = [(tier, [cell for p in pols for cell in (num(p["workload"]["by_tier"][i]["visits_per_year"]),
                                                      num(p["workload"]["by_tier"][i]["borrower_years"]))])
            for i, tier in enumerate(tiers)]
    body.append(_html_table(["tier"] + [h for label in labels for h in (f"{label} visits per year",
                                                                        "borrower-years")], rows))
    teams = sorted({t["team"] for p in pols for t in p["workload"]["by_team"]})
    team_rows = []
    for team in teams:
        cells = []
        for p in pols:
            t = next((x for x in p["workload"]["by_team"] if x["team"] == team), None)
            cells += (["-"] * 3 if t is None else
                      [num(t["visits_per_year"]), num(t["baseline_visits_per_year"]), pct(t["saving"])])
        team_rows.append((team, cells))
    body.append(_html_table(["team"] + [h for label in labels for h in (f"{label} visits per year",
                                                                        "every 90 days", "saving")], team_rows))
    body.append("<h2>Per rule</h2>")
    body.append('<p class="note">For each rule, flags at warning or above: share of defaults flagged by the rule '
                'at least 90 days before, the median lead of those flags, and the rule\'s precision.</p>')
    body.append(_html_table(["rule"] + [f"{label} {c}" if i == 0 else c for label in labels
                                        for i, c in enumerate(RULE_COLUMNS)], rule_rows(report)))
    body.append("<h2>Definitions</h2>\n<dl>")
    for key, text in report["definitions"].items():
        body.append(f"<dt>{escape(key)}</dt><dd>{escape(text)}</dd>")
    body.append("</dl>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Policy backtest</title>\n"
            f"<style>\n{CSS}\n</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
