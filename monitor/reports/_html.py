"""The report as one self-contained HTML page: inline CSS, inline SVG, print style for A4."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from monitor._escape import escape
from zoneinfo import ZoneInfo

from monitor.reports._i18n import Lang, Text, reject_parts
from monitor.reports._rowlists import lists_of
from monitor.reports._svg import TIER_COLOURS, hbars, lines, meter
from monitor.reports.model import GroupRow, PortfolioPoint, Report, TeamRow, WarningRow

__all__ = ["render_html"]

_TIERS = ("normal", "watch", "warning", "severe")
PRINT_ROWS = 10  # rows of each tier in the printed warning list
_RATIO_COLOURS = {"npl": "#b3261e", "overdue": "#e0692a", "special_mention": "#e0a526", "watch_list": "#1d4e89"}

_CSS = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--soft:#f4f6f9;--accent:#1d4e89;
--normal:#3f8f5a;--watch:#e0a526;--warning:#e0692a;--severe:#b3261e}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;color:var(--ink);background:#fff;font:14px/1.55 "PingFang SC","Hiragino Sans GB","Microsoft YaHei",
"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:32px 40px 48px}
header.cover{border-bottom:3px solid var(--accent);padding-bottom:16px;margin-bottom:20px}
header.cover .kicker{color:var(--accent);font-weight:600;letter-spacing:.04em;text-transform:uppercase;font-size:12px}
h1{font-size:26px;margin:4px 0 10px}
h2{font-size:19px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line);color:var(--accent)}
h3{font-size:15px;margin:22px 0 8px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0;font-size:13px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.note{color:var(--muted);font-size:12.5px;margin:6px 0 10px}
.warn{background:#fff6e5;border-left:4px solid var(--watch);padding:8px 12px;font-size:13px;margin:10px 0}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin:18px 0 8px}
.kpi{background:var(--soft);border-radius:6px;padding:10px 12px}
.kpi .v{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .l{color:var(--muted);font-size:12px}
nav.toc{background:var(--soft);border-radius:6px;padding:10px 18px;margin:16px 0}
nav.toc h2{border:0;margin:4px 0;font-size:15px;color:var(--ink)}
nav.toc ol{margin:4px 0 6px;padding-left:0;list-style:none;columns:2}nav.toc a{color:var(--accent);text-decoration:none}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:12.5px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--soft);font-weight:600;border-bottom:2px solid var(--line);white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:650;border-top:2px solid var(--line)}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:11.5px;white-space:nowrap}
.b-normal{background:var(--normal)}.b-watch{background:var(--watch);color:#3b2a00}.b-warning{background:var(--warning)}
.b-severe{background:var(--severe)}.late{color:var(--severe);font-weight:600}
.rules{margin:0;padding:0;list-style:none}.rules li{margin:0 0 2px}.rules b{font-weight:600}
.rules .kv{color:#34404d}.rules .id{color:var(--muted);font-size:10.5px}.nw{white-space:nowrap}
.small{font-size:11.5px;color:var(--muted)}
.chart{max-width:100%;height:auto;display:block;margin:6px 0 10px}
.meter{vertical-align:middle;margin-left:6px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:24px;align-items:center}
td.heat{text-align:right;font-variant-numeric:tabular-nums}td.heat .small{color:#34404d}
.mono{font-family:"SFMono-Regular",Menlo,Consolas,monospace;font-size:11px;word-break:break-all}
code{font-family:"SFMono-Regular",Menlo,Consolas,monospace;font-size:11px;background:var(--soft);padding:0 3px}
footer{margin-top:40px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@page{size:A4;margin:14mm 12mm 16mm}
@page{@bottom-right{content:counter(page) " / " counter(pages);font-size:9pt;color:#5f6b7a}}
.print{display:none}
.cover-figures{margin-top:18px}
@media print{body{font-size:10pt}main{max-width:none;padding:0}
header.cover{min-height:0}.cover-page{break-after:page}
section.part{break-before:page}h2,h3{break-after:avoid}
thead{display:table-header-group}tr,.kpi,.chart{break-inside:avoid}
nav.toc a{color:var(--ink)}.kpis{grid-template-columns:repeat(3,1fr)}table{font-size:8.5pt}
th,td{padding:3px 5px}.screen,tr.more{display:none}.print{display:block}.chart{max-width:100%}
table.wl .rules li{margin:0}}
""".strip()


def _num(text: str) -> str:
    return f'<td class="num">{text}</td>'


def _table(headers: Sequence[tuple[str, bool]], rows: Sequence[str], cls: str = "") -> str:
    head = "".join(f'<th class="num">{escape(h)}</th>' if num else f"<th>{escape(h)}</th>" for h, num in headers)
    extra = f' class="{cls}"' if cls else ""
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _badge(t: Text, tier: str) -> str:
    return f'<span class="badge b-{escape(tier)}">{escape(t.tier(tier))}</span>'


class _Page:
    def __init__(self, report: Report, lang: Lang, rows_shown: int, csv_name: str, xlsx_name: str) -> None:
        self.r = report
        self.t = Text(lang)
        self.rows_shown = rows_shown
        self.csv_name = csv_name
        self.xlsx_name = xlsx_name

    # ----------------------------------------------------------- helpers

    def money(self, amount: float) -> str:
        return escape(self.t.money(amount))

    def unit(self, label: str) -> str:
        return f"{self.t(label)}（{self.t('money_unit')}）" if self.t.lang == "zh" else \
            f"{self.t(label)} ({self.t('money_unit')})"

    def as_of_text(self) -> str:
        m = self.r.meta
        if m.complete:
            end = f"{m.last_day} 24:00" if self.t.lang == "zh" else f"end of {m.last_day}"
        else:
            local = datetime.fromisoformat(m.as_of.replace("Z", "+00:00")).astimezone(ZoneInfo(m.timezone))
            end = local.strftime("%Y-%m-%d %H:%M:%S")
        return f"{escape(end)} <span class=\"small\">{escape(m.timezone)} · {escape(m.as_of)}</span>"

    def local(self, instant: str | None) -> str:
        """An instant in the policy's time zone, to the minute."""
        if instant is None:
            return "—"
        dt = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(self.r.meta.timezone))
        return dt.strftime("%Y-%m-%d %H:%M")

    def group_table(self, rows: Sequence[GroupRow], label: str, names: dict[str, str] | None = None) -> str:
        t = self.t
        head = [(t(label), False), (t("borrowers"), True), (self.unit("exposure"), True), (t("share"), True)]
        head += [(t.tier(x), True) for x in _TIERS] + [(self.unit("watch_plus_exp"), True)]
        body = []
        for g in rows:
            key = names.get(g.key, g.key) if names else g.key
            cells = [f"<td>{escape(key)}</td>", _num(t.count(g.borrowers)), _num(self.money(g.exposure)),
                     _num(escape(t.pct(g.exposure_share)) + meter(g.exposure_share, "#1d4e89", 60))]
            cells += [_num(t.count(getattr(g.tiers, x))) for x in _TIERS]
            cells.append(_num(self.money(g.exposure_watch_or_above)))
            body.append(f"<tr>{''.join(cells)}</tr>")
        return _table(head, body)

    # ----------------------------------------------------------- sections

    def cover(self) -> str:
        m, t = self.r.meta, self.t
        period = f"{m.label}（{m.first_day} — {m.last_day}）" if t.lang == "zh" else \
            f"{m.label} ({m.first_day} to {m.last_day})"
        zone = t.code("timezone", m.timezone)
        zone = f"{zone}（{m.timezone}）" if zone != m.timezone and t.lang == "zh" else m.timezone
        rows = [(t("period"), escape(period)), (t("as_of"), self.as_of_text()),
                (t("policy"), escape(m.policy_version)), (t("timezone"), escape(zone))]
        meta = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows)
        partial = "" if m.complete else f'<p class="warn">{escape(t("partial", replay=m.replay_as_of))}</p>'
        return (f'<header class="cover"><div class="kicker">{escape(t(m.period))}</div>'
                f'<h1>{escape(t("title"))} · {escape(m.label)}</h1><dl class="meta">{meta}</dl>{partial}</header>'
                f'<h3 class="cover-figures">{escape(t("cover_figures"))}</h3>')

    def kpis(self) -> str:
        r, t = self.r, self.t
        p = r.portfolio
        raised = next((k.alerts for k in r.changes.by_kind if k.kind == "raised"), 0)
        ratio = {x.key: x for x in r.ratios.rows}

        def change(key: str) -> str:
            v = ratio[key].mom_exposure
            return "" if v is None else f" · {t('mom')} {self.pp(v)}"

        items = [
            (t.count(p.borrowers), t("kpi_borrowers")),
            (t.money(p.exposure), f"{t('kpi_exposure')}（{t('money_unit')}）" if t.lang == "zh"
             else f"{t('kpi_exposure')} ({t('money_unit')})"),
            (t.pct(ratio["npl"].exposure_ratio), t("kpi_npl") + change("npl")),
            (t.pct(ratio["overdue"].exposure_ratio), t("kpi_overdue_r") + change("overdue")),
            (t.count(r.changes.watch_or_above_end),
             f"{t('kpi_watch')} · {t.pct(ratio['watch_list'].count_ratio)}"),
            (t.count(r.new_defaults.borrowers), t("kpi_defaults")),
            (t.count(raised), t("kpi_raised")),
            (t.count(r.inspections.total.overdue), t("kpi_overdue")),
            (t.pct(r.inspections.total.on_time_rate), t("kpi_ontime")),
        ]
        cards = "".join(f'<div class="kpi"><div class="v">{escape(v)}</div><div class="l">{escape(lbl)}</div></div>'
                        for v, lbl in items)
        return f'<div class="kpis">{cards}</div>'

    def pp(self, v: float | None) -> str:
        """A change of a ratio in percentage points, signed."""
        if v is None:
            return self.t("n_a")
        return self.t("pp", v=f"{v * 100:+.2f}")

    def ratios(self) -> str:
        r, t = self.r, self.t
        head = [(t("ratio"), False), (t("borrowers"), True), (t("by_count"), True), (t("mom"), True), (t("yoy"), True),
                (self.unit("exposure"), True), (t("by_exposure"), True), (t("mom"), True), (t("yoy"), True)]
        body = [f"<tr><td>{escape(t.code('ratio', x.key))}</td>{_num(t.count(x.borrowers))}"
                f"{_num(t.pct(x.count_ratio))}{_num(escape(self.pp(x.mom_count)))}{_num(escape(self.pp(x.yoy_count)))}"
                f"{_num(self.money(x.exposure))}{_num(t.pct(x.exposure_ratio))}"
                f"{_num(escape(self.pp(x.mom_exposure)))}{_num(escape(self.pp(x.yoy_exposure)))}</tr>"
                for x in r.ratios.rows]
        prev = r.ratios.previous.label if r.ratios.previous else t("no_history")
        ya = r.ratios.year_ago.label if r.ratios.year_ago else t("no_history")
        months = r.trend.months
        labels = [m.label for m in months]
        count_series = [(t.code("ratio", k), _RATIO_COLOURS[k], [_ratio(m, k) * 100 for m in months])
                        for k in ("npl", "overdue", "special_mention")]
        watch = [("", TIER_COLOURS["watch"], [float(m.tiers.watch + m.tiers.warning + m.tiers.severe) for m in months])]
        charts = ""
        if months:
            charts = (f'<h3>{escape(t("trend12"))}</h3><div class="pair"><div>'
                      + lines(labels, count_series, title=t("trend_ratio_count"), fmt=lambda v: f"{v:.2f}%",
                              axis_note=t("axis_note"))
                      + "</div><div>"
                      + lines(labels, [(t("trend_counts"), c, v) for _, c, v in watch], title=t("trend_counts"),
                              fmt=lambda v: f"{v:,.0f}", axis_note=t("axis_note"))
                      + "</div></div>")
        return (f'<section id="s0" class="part"><h2>{escape(t("s0"))}</h2>{_table(head, body)}'
                f'<p class="note">{escape(t("ratio_note", prev=prev, ya=ya))}</p>{charts}</section>')

    def toc(self) -> str:
        t = self.t
        items = "".join(f'<li><a href="#s{i}">{escape(t(f"s{i}"))}</a></li>' for i in range(0, 8))
        return f'<nav class="toc"><h2>{escape(t("contents"))}</h2><ol>{items}</ol></nav>'

    def portfolio(self) -> str:
        p, t = self.r.portfolio, self.t
        chart = hbars([(t.tier(g.key), g.exposure, TIER_COLOURS[g.key], f"{t.money(g.exposure)} · {t.pct(g.exposure_share)}")
                       for g in p.by_tier], title=self.unit("exposure"))
        tier_rows = [f"<tr><td>{_badge(t, g.key)}</td>{_num(t.count(g.borrowers))}{_num(self.money(g.exposure))}"
                     f"{_num(escape(t.pct(g.exposure_share)))}</tr>" for g in p.by_tier]
        tier_rows.append(f'<tr class="total"><td>{escape(t("total"))}</td>{_num(t.count(p.borrowers))}'
                         f'{_num(self.money(p.exposure))}{_num("100.0%")}</tr>')
        seg = {g.key: t.segment(g.key) for g in p.by_segment}
        cls = {g.key: t.classification(g.key) for g in p.by_classification}
        c = p.concentration
        conc_rows = [
            f"<tr>{_num(str(x.rank))}<td>{escape(x.borrower_id)}{'<br>' + escape(x.name) if x.name else ''}</td>"
            f"<td>{_badge(t, x.tier)}</td>"
            f"{_num(self.money(x.exposure))}{_num(escape(t.pct(x.share)))}{_num(escape(t.pct(x.cumulative_share)))}"
            f"<td>{escape(t.code('branch', x.branch))}</td><td>{escape(t.segment(x.segment))}</td>"
            f"<td>{escape(t.code('industry', x.industry))}</td></tr>"
            for x in c.top]
        conc_head = [(t("rank"), True), (t("borrower"), False), (t("tier"), False), (self.unit("exposure"), True),
                     (t("share"), True), (t("cum_share"), True), (t("branch"), False), (t("segment"), False),
                     (t("industry"), False)]
        return "".join([
            f'<section id="s1" class="part"><h2>{escape(t("s1"))}</h2>',
            f'<h3>{escape(t("by_tier"))}</h3><div class="pair"><div>',
            _table([(t("tier"), False), (t("borrowers"), True), (self.unit("exposure"), True), (t("share"), True)],
                   tier_rows), f"</div><div>{chart}</div></div>",
            f'<h3>{escape(t("by_grade"))}</h3>', self.group_table(p.by_grade, "grade"),
            f'<h3>{escape(t("by_class"))}</h3>', self.group_table(p.by_classification, "class", cls),
            f'<h3>{escape(t("by_segment"))}</h3>', self.group_table(p.by_segment, "segment", seg),
            f'<h3>{escape(t("by_branch"))}</h3>',
            self.group_table(p.by_branch, "branch", {g.key: t.code("branch", g.key) for g in p.by_branch}),
            f'<h3>{escape(t("by_industry"))}</h3>',
            self.group_table(p.by_industry, "industry", {g.key: t.code("industry", g.key) for g in p.by_industry}),
            f'<h3>{escape(t("concentration"))}</h3>',
            f'<p class="note">{escape(t("conc_note", n=t.count(c.borrowers), exp=t.money(c.exposure) + " " + t("money_unit"), share=t.pct(c.portfolio_share), top10=t.pct(c.top10_share)))}</p>',
            _table(conc_head, conc_rows) if conc_rows else "",
            f'<p class="note">{escape(t("hhi_note", i=f"{c.hhi_industry:.4f}", b=f"{c.hhi_branch:.4f}", r=f"{c.hhi_borrower:.4f}", t=t.pct(c.top10_portfolio_share)))}</p>',
            "</section>"])

    def changes(self) -> str:
        ch, t = self.r.changes, self.t
        kinds = [f"<tr><td>{escape(t.kind(k.kind))}</td>{_num(t.count(k.alerts))}{_num(t.count(k.borrowers))}"
                 f"{_num(self.money(k.exposure))}</tr>" for k in ch.by_kind]
        kinds.append(f'<tr class="total"><td>{escape(t("total"))}</td>{_num(t.count(ch.alerts))}<td></td><td></td></tr>')
        mg = ch.migration
        peak = max((v for row in mg.counts for v in row), default=0) or 1
        head = [(f"{t('start_tier')} \\ {t('end_tier')}", False)] + [(t.tier(e), True) for e in mg.end] + \
               [(t("total"), True)]
        rows = []
        for i, start in enumerate(mg.start):
            cells = []
            for j, end in enumerate(mg.end):
                n = mg.counts[i][j]
                alpha = 0.08 + 0.42 * n / peak if n else 0
                colour = "29,78,137" if start == end or start == "new" else \
                    ("179,38,30" if _TIERS.index(end) > _TIERS.index(start) else "63,143,90")
                style = f' style="background:rgba({colour},{alpha:.2f})"' if n else ""
                cells.append(f'<td class="heat"{style}>{t.count(n)}<br><span class="small">'
                             f"{self.money(mg.exposure[i][j])}</span></td>")
            label = t("new") if start == "new" else t.tier(start)
            rows.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}{_num(t.count(sum(mg.counts[i])))}</tr>")
        days = [d.day for d in ch.trend]
        series = [(t.tier(x), TIER_COLOURS[x], [getattr(d.tiers, x) for d in ch.trend])
                  for x in ("watch", "warning", "severe")]
        return "".join([
            f'<section id="s2" class="part"><h2>{escape(t("s2"))}</h2><h3>{escape(t("kinds"))}</h3>',
            _table([(t("kind"), False), (t("alerts_n"), True), (t("borrowers"), True), (self.unit("exposure"), True)],
                   kinds),
            f'<h3>{escape(t("migration"))}</h3>', _table(head, rows),
            f'<p class="note">{escape(t("migration_note"))}</p>',
            self.class_migration(), self.new_defaults(),
            f'<h3>{escape(t("trend"))}</h3>',
            lines([d[5:] for d in days], [(t("kpi_watch"), TIER_COLOURS["watch"],
                                           [float(sum(v[i] for _, _, v in series)) for i in range(len(days))])]
                  + [(name, colour, [float(x) for x in v]) for name, colour, v in series if name != t.tier("watch")],
                  title=t("trend"), fmt=lambda v: f"{v:,.0f}", axis_note=t("axis_note"), width=1040, height=260),
            f'<p class="note">{escape(t("watch_start_end", a=t.count(ch.watch_or_above_start), b=t.count(ch.watch_or_above_end)))}</p>',
            "</section>"])

    def signal_list(self, signals: list[dict[str, Any]]) -> str:
        t = self.t
        items = []
        for e in signals:
            kv = t.evidence(e, self.r.meta.timezone)
            code = "" if t.lang == "zh" else f' <span class="id">{escape(str(e.get("rule", "")))}</span>'
            items.append(f'<li><b>{escape(t.rule(str(e.get("rule", ""))))}</b> <span class="kv">{escape(kv)}</span>'
                         f"{code}</li>")
        return f'<ul class="rules">{"".join(items)}</ul>' if items else "—"

    def change_cell(self, row: WarningRow) -> str:
        t, c = self.t, row["last_change"]
        head = f"{c['day']} {t.kind(c['kind'])} {t.tier(c['from_tier'])} → {t.tier(c['to_tier'])}"
        return f'<span class="nw">{escape(head)}</span>{self.signal_list(c["signals"])}'

    def warning_list(self) -> str:
        wl, t = self.r.warning_list, self.t
        lists = lists_of(wl)  # (the rows as columns: only those shown made)
        shown = (lists.head(0, self.rows_shown) if lists is not None else wl.rows[: self.rows_shown]) \
            if self.rows_shown > 0 else wl.rows
        head = [(t("rank"), True), (t("borrower"), False), (t("tier"), False), (self.unit("exposure"), True),
                (f"{t('branch')} / {t('team')}", False), (t("signals_now"), False), (t("last_change"), False),
                (t("next_visit"), False), (t("case_status"), False)]
        body = []
        per_tier: dict[str, int] = {}
        for w in shown:
            per_tier[w["tier"]] = per_tier.get(w["tier"], 0) + 1
            more = ' class="more"' if per_tier[w["tier"]] > PRINT_ROWS else ""
            due = escape(w["next_visit_due"] or "—")
            if w["visit_overdue"]:
                due = f'<span class="late">{due}<br>{escape(t("overdue_flag"))}</span>'
            name = f"<br>{escape(w['name'])}" if w["name"] else ""
            quality = "、" if t.lang == "zh" else ", "
            dq = quality.join(t.code("data_quality", q) for q in w["data_quality"])
            dq = f'<br><span class="late small">{escape(dq)}</span>' if dq else ""
            case = t.code("case_status", w["case_status"]) if w["case_status"] else "—"
            owner = f'<br><span class="small">{escape(w["case_owner"])}</span>' if w["case_owner"] else ""
            body.append(
                f"<tr{more}>{_num(str(w['rank']))}<td>{escape(w['borrower_id'])}{name}<br><span class=\"small\">"
                f"{escape(t.segment(w['segment']))} · {escape(t.code('industry', w['industry']))} · "
                f"{escape(w['grade'])} · {escape(t.classification(w['min_classification']))}</span>{dq}</td>"
                f"<td>{_badge(t, w['tier'])}<br><span class=\"small\">{escape(w['tier_since'])}</span></td>"
                f"{_num(self.money(w['exposure']))}"
                f"<td>{escape(t.code('branch', w['branch']))}<br><span class=\"small\">"
                f"{escape(t.code('team', w['team']))}</span></td>"
                f"<td>{self.signal_list(w['signals'])}</td><td>{self.change_cell(w)}</td>"
                f"<td class=\"nw\">{due}</td><td>{escape(case)}{owner}</td></tr>")
        note = t("wl_note", n=t.count(wl.borrowers), exp=f"{t.money(wl.exposure)} {t('money_unit')}",
                 s=t.count(wl.tiers.severe), w=t.count(wl.tiers.warning), c=t.count(wl.tiers.watch))
        cut = ""
        if len(shown) < wl.borrowers:
            cut = f'<p class="warn screen">{escape(t("wl_cut", k=t.count(len(shown)), csv=self.csv_name))}</p>'
        printed = f'<p class="warn print">{escape(t("print_cut", k=PRINT_ROWS, csv=self.csv_name, xlsx=self.xlsx_name))}</p>'
        known = "" if self.r.meta.current_signals else f'<p class="note">{escape(t("signals_last"))}</p>'
        return (f'<section id="s3" class="part"><h2>{escape(t("s3"))}</h2><p class="note">{escape(note)}</p>{cut}'
                f"{printed}{known}{self.disposal()}"
                f"{_table(head, body, 'wl') if body else '<p>' + escape(t('none')) + '</p>'}</section>")

    def disposal(self) -> str:
        d, t = self.r.disposal, self.t
        if not d.known:
            return f'<h3>{escape(t("disposal"))}</h3><p class="note">{escape(t("disposal_offline"))}</p>'
        rows = [f"<tr><td>{escape(t('no_case') if r.status == 'none' else t.code('case_status', r.status))}</td>"
                f"{_num(t.count(r.borrowers))}{_num(self.money(r.exposure))}</tr>" for r in d.rows]
        return (f'<h3>{escape(t("disposal"))}</h3>'
                + _table([(t("case_status"), False), (t("borrowers"), True), (self.unit("exposure"), True)], rows))

    def rules(self) -> str:
        t = self.t
        peak = max((r.alerts for r in self.r.rules.rows), default=0) or 1
        head = [(t("rule"), False), (t("family"), False), (t("level"), False), (t("enabled"), False),
                (t("r_alerts"), True), (t("r_borrowers"), True), (self.unit("r_exposure"), True), (t("r_new"), True),
                (t("r_list"), True), (self.unit("r_list_exp"), True)]
        body = []
        for r in self.r.rules.rows:
            level = self.level(r.level)
            code = "" if t.lang == "zh" else f'<br><span class="small">{escape(r.rule)}</span>'
            body.append(
                f"<tr><td>{escape(t.rule(r.rule))}{code}</td>"
                f"<td>{escape(t.family(r.family))}</td><td>{escape(level)}</td>"
                f"<td>{escape(t('yes') if r.enabled else t('no'))}</td>"
                f"{_num(t.count(r.alerts) + meter(r.alerts / peak, '#1d4e89', 50))}{_num(t.count(r.borrowers))}"
                f"{_num(self.money(r.exposure))}{_num(t.count(r.newly_held))}{_num(t.count(r.on_list))}"
                f"{_num(self.money(r.on_list_exposure))}</tr>")
        return (f'<section id="s4" class="part"><h2>{escape(t("s4"))}</h2>{_table(head, body)}'
                f'<p class="note">{escape(t("rules_note"))}</p></section>')

    def level(self, level: str) -> str:
        """A rule's level as the policy states it: ``watch``, ``watch@1 / warning@30``, ``+1``."""
        t = self.t
        if level in _TIERS:
            return t.tier(level)
        if level.startswith("+"):
            return f"升 {level[1:]} 级" if t.lang == "zh" else f"{level} level"
        parts = []
        for band in level.split(" / "):
            name, _, low = band.partition("@")
            parts.append(f"{t.tier(name)} ≥{low}" if low else band)
        return " / ".join(parts)

    def team_cells(self, row: TeamRow, name: str) -> str:
        t = self.t
        cap = "—" if row.capacity_next is None else f"{row.capacity_next:,.1f}"
        load = "—" if row.load is None else t.pct(row.load)
        late = ' class="num late"' if row.overdue else ' class="num"'
        return (f"<td>{escape(name)}</td>{_num(t.count(row.due))}{_num(t.count(row.done))}"
                f"{_num(t.count(row.done_on_time))}{_num(escape(t.pct(row.on_time_rate)))}"
                f"<td{late}>{t.count(row.overdue)}</td>{_num(t.count(row.planned_next))}{_num(cap)}{_num(load)}")

    def inspections(self) -> str:
        ins, t = self.r.inspections, self.t
        head = [(t("team"), False), (t("due"), True), (t("done"), True), (t("on_time"), True),
                (t("on_time_rate"), True), (t("overdue"), True), (t("planned"), True), (t("capacity"), True),
                (t("load"), True)]
        body = [f"<tr>{self.team_cells(r, t.code('team', r.team))}</tr>" for r in ins.teams]
        body.append(f'<tr class="total">{self.team_cells(ins.total, t("total"))}</tr>')
        cap = "" if ins.capacity_configured else f'<p class="warn">{escape(t("cap_missing"))}</p>'
        outcomes = t("outcomes", **{k: t.count(v) for k, v in ins.outcomes.items()})
        return (f'<section id="s5" class="part"><h2>{escape(t("s5"))}</h2>'
                f'<p class="note">{escape(t("next_period", a=ins.next_first_day, b=ins.next_last_day, d=ins.next_working_days))}'
                f" {escape(outcomes)}</p>{cap}{_table(head, body)}"
                f'<p class="note">{escape(t("insp_note"))}</p></section>')

    def reason(self, text: str) -> str:
        """A reject reason: field names of the input format as code, the message in the report's language."""
        sep = "；" if self.t.lang == "zh" else "; "
        return sep.join((f"<code>{escape(f)}</code>{'：' if self.t.lang == 'zh' else ': '}" if f else "") + escape(m)
                        for f, m in reject_parts(text, self.t.lang))

    def class_migration(self) -> str:
        t, cm = self.t, self.r.changes.class_migration
        if cm is None:
            return ""
        peak = max((v for row in cm.counts for v in row), default=0) or 1
        head = [(f"{t('start_tier')} \\ {t('end_tier')}", False)] + [(t.classification(e), True) for e in cm.end] + \
               [(t("total"), True)]
        rows = []
        for i, start in enumerate(cm.start):
            cells = []
            for j, end in enumerate(cm.end):
                n = cm.counts[i][j]
                worse = start != "new" and j > cm.end.index(start)
                better = start != "new" and j < cm.end.index(start)
                colour = "179,38,30" if worse else "63,143,90" if better else "29,78,137"
                style = f' style="background:rgba({colour},{0.08 + 0.42 * n / peak:.2f})"' if n else ""
                cells.append(f'<td class="heat"{style}>{t.count(n)}<br><span class="small">'
                             f"{self.money(cm.exposure[i][j])}</span></td>")
            label = t("new") if start == "new" else t.classification(start)
            rows.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}{_num(t.count(sum(cm.counts[i])))}</tr>")
        return (f'<h3>{escape(t("class_migration"))}</h3>{_table(head, rows)}'
                f'<p class="note">{escape(t("class_migration_note"))}</p>')

    def new_defaults(self) -> str:
        t, nd = self.t, self.r.new_defaults
        note = t("nd_note", n=t.count(nd.borrowers), exp=f"{t.money(nd.exposure)} {t('money_unit')}")
        head = [(t("borrower"), False), (self.unit("exposure"), True), (t("branch"), False), (t("industry"), False),
                (t("grade"), False), (t("class"), False), (t("dpd"), True), (t("trigger"), False),
                (t("default_since"), False)]
        rows = [f"<tr><td>{escape(d['borrower_id'])}{'<br>' + escape(d['name']) if d['name'] else ''}</td>"
                f"{_num(self.money(d['exposure']))}<td>{escape(t.code('branch', d['branch']))}</td>"
                f"<td>{escape(t.code('industry', d['industry']))}</td><td>{escape(d['grade'])}</td>"
                f"<td>{escape(t.classification(d['min_classification']))}</td>{_num(t.count(d['days_past_due']))}"
                f"<td>{escape(t.code('default_trigger', d['trigger']))}</td><td>{escape(d['since'] or '—')}</td></tr>"
                for d in nd.rows[:50]]
        return (f'<h3>{escape(t("new_defaults"))}</h3><p class="note">{escape(note)}</p>'
                + (_table(head, rows) if rows else ""))

    def data_health(self) -> str:
        dh, t = self.r.data_health, self.t
        head = [(t("feed"), False), (t("events"), True), (t("dups"), True), (t("newest"), False), (t("age"), True),
                (t("expected"), False), (t("status"), False), (t("after"), True)]
        body = []
        for f in dh.feeds:
            age = "—" if f.age_hours is None else t("hours", h=f"{f.age_hours:,.1f}")
            expected = "—" if f.expected_days is None else t("every", d=f"{f.expected_days:g}")
            status = escape(t.code("feed_status", f.status))
            if f.status in ("late", "no_data"):
                status = f'<span class="late">{status}</span>'
            body.append(f"<tr><td>{escape(t.feed(f.feed))}</td>{_num(t.count(f.events))}{_num(t.count(f.duplicates))}"
                        f"<td>{escape(self.local(f.newest))}</td>{_num(escape(age))}<td>{escape(expected)}</td>"
                        f"<td>{status}</td>{_num(t.count(f.after_as_of))}</tr>")
        rej = [f"<tr><td>{self.reason(r.reason)}</td>{_num(t.count(r.lines))}</tr>" for r in dh.rejects]
        rejects = _table([(t("reason"), False), (t("lines"), True)], rej) if rej else \
            f"<p>{escape(t('no_rejects'))}</p>"
        dq = self.r.data_quality
        q_rows = [f"<tr><td>{escape(t.code('data_quality', q.item))}</td>{_num(t.count(q.borrowers))}"
                  f"{_num(self.money(q.exposure))}{_num(t.count(q.on_list))}</tr>" for q in dq.rows]
        quality = (f'<h3>{escape(t("dq_title"))}</h3>'
                   + _table([(t("item"), False), (t("borrowers"), True), (self.unit("exposure"), True),
                             (t("on_list"), True)], q_rows)
                   + f'<p class="note">{escape(t("dq_note", b=dq.bureau_max_days, p=dq.profile_max_days))}</p>')
        return (f'<section id="s6" class="part"><h2>{escape(t("s6"))}</h2>{_table(head, body)}'
                f'<p class="note">{escape(t("lines_read", n=t.count(dh.lines_read), r=t.count(dh.rejected)))}</p>'
                f'{quality}<h3>{escape(t("rejects"))}</h3>{rejects}</section>')
    def appendix(self) -> str:
        t, m = self.t, self.r.meta
        rows = [f"<tr><td>{escape(i.name)}</td><td>{escape(t.role(i.role))}</td>{_num(t.count(i.bytes))}"
                f'<td class="mono">{escape(i.sha256)}</td></tr>' for i in m.inputs]
        items = "".join(f"<li>{escape(x.strip())}</li>" for x in t("method_items").split("|"))
        return (f'<section id="s7" class="part"><h2>{escape(t("s7"))}</h2><h3>{escape(t("inputs"))}</h3>'
                + _table([(t("file"), False), (t("role"), False), (t("bytes"), True), (t("sha256"), False)], rows)
                + f'<p class="note">{escape(t("csv_file"))}: {escape(self.csv_name)}</p>'
                f'<h3>{escape(t("method"))}</h3><ul class="note">{items}</ul></section>')

    def render(self) -> str:
        m, t = self.r.meta, self.t
        title = f"{t('title')} · {t(m.period)} {m.label}"
        body = "".join([f'<div class="cover-page">{self.cover()}{self.kpis()}{self.toc()}</div>', self.ratios(),
                        self.portfolio(), self.changes(), self.warning_list(), self.rules(), self.inspections(),
                        self.data_health(), self.appendix()])
        lang = "zh-CN" if t.lang == "zh" else "en"
        return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>{body}"
                f"<footer>{escape(t('footer'))}</footer></main></body></html>\n")


def _ratio(point: PortfolioPoint, key: str) -> float:
    return next(r.count_ratio for r in point.ratios if r.key == key)


def render_html(report: Report, lang: Lang = "zh", *, rows_shown: int = 1000, csv_name: str = "",
                xlsx_name: str = "") -> str:
    """The report as one HTML document (``rows_shown`` rows of the warning list; 0 = all; in print, the
    largest ``PRINT_ROWS`` of each tier)."""
    return _Page(report, lang, rows_shown, csv_name, xlsx_name).render()
