"""``backtest.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import math
from monitor._escape import escape
from typing import Any

from monitor.backtest._labels import Lang, definitions, label, reason_name, rule_name, team_name, tier_name
from monitor.backtest._report import comparison_rows, headline, num, pct, rule_columns, rule_rows

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


def detection_chart(report: dict[str, Any], lang: Lang = "en") -> str:
    """Share of defaults flagged at least x days before default and still at it, per policy and level."""
    days = int(report["settings"]["curve_days"])
    pw, ph = W - ML - MR, H - MT - MB

    def sx(d: float) -> float:
        return ML + d / days * pw

    def sy(v: float) -> float:
        return MT + (1 - v) * ph

    x_ticks = [(sx(d), str(d)) for d in (0, 30, 90, 180, 270, days)]
    y_ticks = [(sy(v / 10), f"{v * 10}%") for v in range(0, 11, 2)]
    parts = _frame(x_ticks, y_ticks, label(lang, "x_days"), label(lang, "y_detected"))
    legend: list[tuple[str, str, str]] = []
    for i, p in enumerate(report["policies"]):
        for name, dash in (("warning", ""), ("watch", ' stroke-dasharray="6 4"')):
            curve = p["curves"][name]
            if not curve:
                continue
            pts = " ".join(f"{_f(sx(d))},{_f(sy(v))}" for d, v in enumerate(curve))
            parts.append(f'<polyline fill="none" stroke="{_color(i)}" stroke-width="2"{dash} points="{pts}">'
                         f'<title>{escape(p["label"])} {escape(tier_name(lang, name))}+</title></polyline>')
            legend.append((f"{p['label']} {tier_name(lang, name)}+", _color(i), dash))
    parts += _legend(legend, W - MR - 230, MT + 14)
    return _svg(parts, label(lang, "chart_detection"))


def tradeoff_chart(report: dict[str, Any], lang: Lang = "en") -> str:
    """Visits per borrower-year (x) against the headline detection at 90 days (y), one point per policy."""
    pols = report["policies"]
    base = pols[0]["workload"]["baseline_visits_per_borrower_year"] if pols else None
    xs = [p["workload"]["visits_per_borrower_year"] or 0.0 for p in pols] + [base or 0.0]
    top, step = _nice_max(max(xs) * 1.1)
    pw, ph = W - ML - MR, H - MT - MB

    def sx(v: float) -> float:
        return ML + v / top * pw

    def sy(v: float) -> float:
        return MT + (1 - v) * ph

    n_ticks = round(top / step)
    x_ticks = [(sx(k * step), f"{k * step:,.1f}") for k in range(n_ticks + 1)]
    y_ticks = [(sy(v / 10), f"{v * 10}%") for v in range(0, 11, 2)]
    parts = _frame(x_ticks, y_ticks, label(lang, "x_visits"), label(lang, "y_d90"))
    if base:
        parts.append(f'<line x1="{_f(sx(base))}" y1="{MT}" x2="{_f(sx(base))}" y2="{H - MB}" stroke="#555" '
                     f'stroke-dasharray="4 4"/>')
        parts.append(f'<text x="{_f(sx(base) + 4)}" y="{MT + 14}">{escape(label(lang, "every90", v=num(base, 2)))}</text>')
    for i, p in enumerate(pols):
        x = sx(p["workload"]["visits_per_borrower_year"] or 0.0)
        for name, fill in (("warning", _color(i)), ("watch", "#fff")):
            rate = p["detection"][name]["detected"]["90d"]["rate"]
            if rate is None:
                continue
            y = sy(rate)
            parts.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="6" fill="{fill}" stroke="{_color(i)}" '
                         f'stroke-width="2"><title>{escape(p["label"])} {escape(tier_name(lang, name))}+: {pct(rate)}'
                         '</title></circle>')
    lx, ly = W - MR - 230, H - MB - 16 * (len(pols) + 2) - 4
    for i, p in enumerate(pols):
        parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * i)}" r="5" fill="{_color(i)}"/>')
        parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * i + 4)}">{escape(p["label"])}</text>')
    k = len(pols)
    parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * k)}" r="5" fill="#555"/>')
    parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * k + 4)}">{escape(label(lang, "filled"))}</text>')
    parts.append(f'<circle cx="{_f(lx + 12)}" cy="{_f(ly + 16 * k + 16)}" r="5" fill="#fff" stroke="#555" '
                 f'stroke-width="2"/>')
    parts.append(f'<text x="{_f(lx + 30)}" y="{_f(ly + 16 * k + 20)}">{escape(label(lang, "hollow"))}</text>')
    return _svg(parts, label(lang, "chart_tradeoff"))


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


def render_html(report: dict[str, Any], lang: Lang = "zh") -> str:
    pols = report["policies"]
    labels = [p["label"] for p in pols]

    def t(key: str, **values: object) -> str:
        return escape(label(lang, key, **values))

    body: list[str] = [f"<h1>{t('title')}</h1>\n<p>{escape(headline(report, lang))}.</p>"]
    if "teams" in report:
        body.append(f'<p class="note">{t("teams_file", file=report["teams"]["file"], version=report["teams"]["version"])}</p>')
    body.append(f"<h2>{t('policies')}</h2>")
    body.append(_html_table([label(lang, "policy"), label(lang, "version"), label(lang, "file"), "SHA-256"],
                            [(p["label"], [p["version"], p["file"], p["sha256"][:16]]) for p in pols]))
    body.append(f"<h2>{t('comparison')}</h2>")
    body.append(_html_table([label(lang, "figure")] + labels, comparison_rows(report, lang)))
    fa = pols[0]["false_alarms"]["warning"] if pols else None
    if fa is not None and not fa["measurable"]:
        body.append(f'<p class="note">{t("not_measurable")}: {escape(fa["note"])}.</p>')
    body.append(f"<h2>{t('chart_detection')}</h2>")
    body.append(f'<p class="note">{t("chart_detection_note")}</p>')
    body.append(f'<div class="chart">{detection_chart(report, lang)}</div>')
    body.append(f"<h2>{t('chart_tradeoff')}</h2>")
    body.append(f'<p class="note">{t("chart_tradeoff_note")}</p>')
    body.append(f'<div class="chart">{tradeoff_chart(report, lang)}</div>')
    body.append(f"<h2>{t('visits_where')}</h2>")
    rows = [(tier_name(lang, tier), [num(p["workload"]["by_tier"][i]["visits"]) for p in pols])
            for i, tier in enumerate(("normal", "watch", "warning", "severe"))]
    body.append(_html_table([label(lang, "tier")] + labels, rows))
    reasons = sorted({r["reason"] for p in pols for r in p["workload"]["by_reason"]})
    rows = [(reason_name(lang, r), [num(next((x["visits"] for x in p["workload"]["by_reason"] if x["reason"] == r), 0))
                                    for p in pols]) for r in reasons]
    body.append(_html_table([label(lang, "reason")] + labels, rows))
    teams = sorted({x["team"] for p in pols for x in p["workload"]["by_team"]})
    team_rows = []
    for team in teams:
        cells = []
        for p in pols:
            x = next((y for y in p["workload"]["by_team"] if y["team"] == team), None)
            cap = next((y for y in p["workload"].get("capacity", {}).get("by_team", []) if y["team"] == team), None)
            cells += (["-"] * 4 if x is None else
                      [num(x["visits_per_year"]), num(x["visits_per_borrower_year"], 2),
                       num(cap["capacity_per_year"]) if cap else "-", pct(cap["late_share"]) if cap else "-"])
        team_rows.append((team_name(lang, team), cells))
    body.append(_html_table([label(lang, "team")] + [h for lbl in labels for h in (
        f"{lbl} {label(lang, 'per_year')}", label(lang, "vpby"), label(lang, "capacity_year"), label(lang, "late"))],
        team_rows))
    body.append(f"<h2>{t('month_ends')}</h2>")
    for p in pols:
        rows = [(r["at"][:10], [num(r["monitored"]), pct(r["watch_plus_share"]), pct(r["warning_plus_share"]),
                                pct(r["severe_share"]), num(r["workout"]), num(r["defaulted"])])
                for r in p["month_ends"]["rows"]]
        body.append(f"<p>{escape(p['label'])}</p>")
        body.append(_html_table([label(lang, "at"), label(lang, "monitored"), tier_name(lang, "watch") + "+",
                                 tier_name(lang, "warning") + "+", tier_name(lang, "severe"),
                                 label(lang, "workout"), label(lang, "defaulted")], rows))
    body.append(f"<h2>{t('per_rule')}</h2>")
    body.append(f'<p class="note">{t("per_rule_note")}</p>')
    body.append(_html_table([label(lang, "rule")] + [f"{lbl} {c}" if i == 0 else c for lbl in labels
                                                     for i, c in enumerate(rule_columns(lang))],
                            [(rule_name(lang, r), cells) for r, cells in rule_rows(report)]))
    body.append(f"<h2>{t('definitions')}</h2>\n<dl>")
    st = report["settings"]
    for _key, title, text in definitions(lang, warm_up=st["warm_up_days"], follow_up=st["follow_up_days"],
                                         baseline=st["baseline_interval_days"]):
        body.append(f"<dt>{escape(title)}</dt><dd>{escape(text)}</dd>")
    body.append("</dl>")
    body.append(f'<p class="note">{t("footer")}</p>')
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (f"<!DOCTYPE html>\n<html lang=\"{html_lang}\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{t('title')}</title>\n"
            f"<style>\n{CSS}\n</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
