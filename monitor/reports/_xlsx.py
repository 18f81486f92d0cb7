"""The report as a workbook (XlsxWriter): the whole warning list and the report's tables.

Chinese (or English) sheet and column names, frozen header rows, number formats
(amounts in 万元 / CNY, shares as percentages, dates as dates), an autofilter on
the warning list. Built deterministically: the document's creation date is the
report's as-of instant and XlsxWriter writes its zip entries with a fixed
timestamp, so the same report gives the same bytes.

The warning list holds a row per borrower at watch or above: a hundred thousand rows
and more at a million borrowers, two million cells, which XlsxWriter writes at about
5 µs a cell (its per-cell bookkeeping in Python). XlsxWriter writes the workbook --
styles, every other sheet, the list's header, column widths, frozen pane and filter --
with one blank probe cell per column carrying the column's format; the list's rows are
then put into that sheet's ``<sheetData>`` as SpreadsheetML written column by column
(inline strings, the probes' style ids), and the package is zipped again with the
same entries, order and fixed timestamps. Only the file format is relied on (the
sheet's ``<sheetData>``, ``<dimension>`` and the probe row's ``s`` attributes), not
XlsxWriter's internals; tests read the workbook back with openpyxl.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import xlsxwriter

from monitor.reports._i18n import Lang, Text
from monitor.reports._sheetxml import _money_unit, _trimmed, put_rows
from monitor.reports._tables import Table, warning_head, warning_slices
from monitor.reports.model import GroupRow, PortfolioPoint, Report

__all__ = ["ListSheet", "render_xlsx"]

_SHEETS = {
    "zh": {"list": "预警名单", "ratios": "核心指标", "trend": "月度趋势", "class": "五级分类迁移", "defaults": "新增违约",
           "branch": "按分行", "industry": "按行业", "rules": "预警规则统计", "inspections": "贷后检查执行",
           "quality": "数据质量", "about": "报告信息"},
    "en": {"list": "Warning list", "ratios": "Key ratios", "trend": "Monthly trend", "class": "Classification migration",
           "defaults": "New defaults", "branch": "By branch", "industry": "By industry", "rules": "Rules",
           "inspections": "Inspections", "quality": "Data quality", "about": "About"},
}


class _Book:
    def __init__(self, report: Report, lang: Lang, table: Table | None) -> None:
        self.r, self.t = report, Text(lang)
        self.table = table
        self.buf = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buf, {"in_memory": True, "strings_to_formulas": False,
                                                 "strings_to_urls": False, "strings_to_numbers": False})
        as_of = datetime.fromisoformat(report.meta.as_of.replace("Z", "+00:00")).replace(tzinfo=None)
        self.wb.set_properties({"title": f"{self.t('title')} {report.meta.label}", "author": "monitor report",
                                "created": as_of, "comments": f"policy {report.meta.policy_version}"})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#E8EDF3", "border": 1, "text_wrap": True,
                                        "valign": "top"})
        self.fmt = {
            "text": self.wb.add_format({"valign": "top", "text_wrap": False}),
            "wrap": self.wb.add_format({"valign": "top", "text_wrap": True}),
            "int": self.wb.add_format({"num_format": "#,##0", "valign": "top"}),
            "money": self.wb.add_format({"num_format": "#,##0.00", "valign": "top"}),
            "pct": self.wb.add_format({"num_format": "0.00%", "valign": "top"}),
            "pp": self.wb.add_format({"num_format": '+0.00" pp";-0.00" pp";0.00" pp"', "valign": "top"}),
            "date": self.wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"}),
        }
        self.names = _SHEETS[lang]
        self._days: dict[str, datetime] = {}
        self._fast: tuple[int, list[str], int, Iterable[list[list[Any]]]] | None = None  # the list: sheet, kinds, rows

    def unit(self, title: str) -> str:
        return f"{title}（{self.t('money_unit')}）" if self.t.lang == "zh" else f"{title} ({self.t('money_unit')})"

    def money(self, amount: float) -> float:
        """In the tables' unit: 万元, or CNY million in English."""
        return round(amount / _money_unit(self.t.lang), 6)

    def sheet(self, key: str, head: list[tuple[str, str, int]], rows: list[list[Any]], filt: bool = False,
              fast: tuple[int, Iterable[list[list[Any]]]] | None = None) -> None:
        """``fast``: the rows are (count, slices of rows), put in as SpreadsheetML after the workbook is made."""
        ws = self.wb.add_worksheet(self.names[key])
        ws.freeze_panes(1, 0)
        for j, (title, kind, width) in enumerate(head):
            ws.write_string(0, j, title, self.head)
            ws.set_column(j, j, width)
        if fast is not None:  # a probe row of blank cells in each column's format; the rows go in after close
            for j, (_, kind, _) in enumerate(head):
                ws.write_blank(1, j, None, self.fmt[kind])
            count, slices = fast
            self._fast = (len(self.wb.worksheets()), [kind for _, kind, _ in head], count, slices)
            if filt and count:
                ws.autofilter(0, 0, count, len(head) - 1)
            return
        # one writer per column (a hundred thousand rows: no per-cell dispatch)
        writers = [self.writer(ws, kind) for _, kind, _ in head]
        for i, row in enumerate(rows, start=1):
            for j, v in enumerate(row):
                if v is not None and v != "":
                    writers[j](i, j, v)
        if filt and rows:
            ws.autofilter(0, 0, len(rows), len(head) - 1)

    def writer(self, ws: Any, kind: str) -> Any:
        text, number = ws.write_string, ws.write_number
        if kind in ("int", "money", "pct", "pp"):
            fmt = self.fmt[kind]
            return lambda i, j, v: number(i, j, v, fmt) if isinstance(v, (int, float)) else text(i, j, str(v), fmt)
        if kind == "date":
            fmt, days = self.fmt["date"], self.days
            return lambda i, j, v: ws.write_datetime(i, j, days(v), fmt)
        fmt = self.fmt["wrap" if kind == "wrap" else "text"]
        return lambda i, j, v: text(i, j, str(v), fmt)

    def days(self, text: str) -> datetime:
        got = self._days.get(text)
        if got is None:
            got = self._days[text] = datetime.combine(date.fromisoformat(text), datetime.min.time())
        return got

    # ------------------------------------------------------------ sheets

    def warning_list(self) -> None:
        head = warning_head(self.t.lang)[:-3]  # period, as-of and policy: on the about sheet
        widths = {"text": 14, "int": 8, "money": 14, "date": 12}
        cols = []
        for title, kind in head:
            if kind == "money":
                title = self.unit(self.t("exposure"))
            wide = title in ("信号现值及阈值", "变动时的信号", "signal_values", "last_change_signals")
            cols.append((title, "wrap" if wide else kind, 60 if wide else widths.get(kind, 14)))
        if self.table is not None:  # already made (for the CSV)
            rows = self.table[1]
            made: Iterable[list[list[Any]]] = (rows[lo:lo + _ROWS_AT_ONCE] for lo in range(0, len(rows), _ROWS_AT_ONCE))
        else:  # made here, a slice at a time
            made = warning_slices(self.r, self.t.lang, _ROWS_AT_ONCE)
        lang = self.t.lang
        self.sheet("list", cols, [], filt=True,
                   fast=(self.r.warning_list.borrowers, (_trimmed(part, lang) for part in made)))

    def ratios(self) -> None:
        t = self.t
        head = [(t("ratio"), "text", 16), (t("borrowers"), "int", 10), (t("by_count"), "pct", 10),
                (t("mom"), "pp", 12), (t("yoy"), "pp", 12), (self.unit(t("exposure")), "money", 16),
                (t("by_exposure"), "pct", 10), (t("mom"), "pp", 12), (t("yoy"), "pp", 12)]
        pp = (lambda v: None if v is None else round(v * 100, 4))
        rows = [[t.code("ratio", x.key), x.borrowers, x.count_ratio, pp(x.mom_count), pp(x.yoy_count),
                 self.money(x.exposure), x.exposure_ratio, pp(x.mom_exposure), pp(x.yoy_exposure)]
                for x in self.r.ratios.rows]
        self.sheet("ratios", head, rows)

    def trend(self) -> None:
        t = self.t
        keys = ("npl", "overdue", "special_mention", "watch_list")
        head = [(t("period"), "text", 10), (t("end"), "date", 12), (t("borrowers"), "int", 10),
                (self.unit(t("exposure")), "money", 16)]
        head += [(f"{t.tier(x)}", "int", 10) for x in ("watch", "warning", "severe")]
        head += [(f"{t.code('ratio', k)} {t('by_count')}", "pct", 14) for k in keys]
        head += [(f"{t.code('ratio', k)} {t('by_exposure')}", "pct", 14) for k in keys]

        def row(m: PortfolioPoint) -> list[Any]:
            r = {x.key: x for x in m.ratios}
            return ([m.label, m.day, m.borrowers, self.money(m.exposure), m.tiers.watch, m.tiers.warning,
                     m.tiers.severe] + [r[k].count_ratio for k in keys] + [r[k].exposure_ratio for k in keys])

        self.sheet("trend", head, [row(m) for m in self.r.trend.months])

    def class_migration(self) -> None:
        t, cm = self.t, self.r.changes.class_migration
        if cm is None:
            return
        head = [(f"{t('start_tier')} \\ {t('end_tier')}", "text", 14)]
        head += [(t.classification(e), "int", 10) for e in cm.end]
        head += [(f"{t.classification(e)} {self.unit(t('exposure'))}", "money", 16) for e in cm.end]
        rows = [[t("new") if s == "new" else t.classification(s), *cm.counts[i],
                 *[self.money(v) for v in cm.exposure[i]]] for i, s in enumerate(cm.start)]
        self.sheet("class", head, rows)

    def defaults(self) -> None:
        t = self.t
        head = [(t("borrower"), "text", 12), (t("name"), "text", 24), (self.unit(t("exposure")), "money", 14),
                (t("branch"), "text", 12), (t("industry"), "text", 16), (t("grade"), "text", 6),
                (t("class"), "text", 10), (t("dpd"), "int", 8), (t("trigger"), "text", 16),
                (t("default_since"), "date", 12)]
        rows = [[d["borrower_id"], d["name"], self.money(d["exposure"]), t.code("branch", d["branch"]),
                 t.code("industry", d["industry"]), d["grade"], t.classification(d["min_classification"]),
                 d["days_past_due"], t.code("default_trigger", d["trigger"]), d["since"]]
                for d in self.r.new_defaults.rows]
        self.sheet("defaults", head, rows)

    def groups(self, key: str, rows: list[GroupRow], section: str) -> None:
        t = self.t
        head = [(t(key), "text", 18), (t("borrowers"), "int", 10), (self.unit(t("exposure")), "money", 16),
                (t("share"), "pct", 10)]
        head += [(t.tier(x), "int", 10) for x in ("normal", "watch", "warning", "severe")]
        head += [(self.unit(t("watch_plus_exp")), "money", 18)]
        out = [[t.code(section, g.key), g.borrowers, self.money(g.exposure), g.exposure_share, g.tiers.normal,
                g.tiers.watch, g.tiers.warning, g.tiers.severe, self.money(g.exposure_watch_or_above)] for g in rows]
        self.sheet(key, head, out)

    def rules(self) -> None:
        t = self.t
        head = [(t("rule"), "text", 24), (t("family"), "text", 10), (t("r_alerts"), "int", 12),
                (t("r_borrowers"), "int", 10), (self.unit(t("r_exposure")), "money", 16), (t("r_new"), "int", 14),
                (t("r_list"), "int", 10), (self.unit(t("r_list_exp")), "money", 16)]
        rows = [[t.rule(r.rule), t.family(r.family), r.alerts, r.borrowers, self.money(r.exposure), r.newly_held,
                 r.on_list, self.money(r.on_list_exposure)] for r in self.r.rules.rows]
        self.sheet("rules", head, rows)

    def inspections(self) -> None:
        t, ins = self.t, self.r.inspections
        head = [(t("team"), "text", 18), (t("due"), "int", 10), (t("done"), "int", 10), (t("on_time"), "int", 10),
                (t("on_time_rate"), "pct", 10), (t("overdue"), "int", 12), (t("planned"), "int", 12),
                (t("capacity"), "money", 12), (t("load"), "pct", 10)]
        rows = [[t.code("team", r.team) if r is not ins.total else t("total"), r.due, r.done, r.done_on_time,
                 r.on_time_rate, r.overdue, r.planned_next, r.capacity_next, r.load] for r in [*ins.teams, ins.total]]
        self.sheet("inspections", head, rows)

    def quality(self) -> None:
        t = self.t
        head = [(t("item"), "text", 22), (t("borrowers"), "int", 10), (self.unit(t("exposure")), "money", 16),
                (t("on_list"), "int", 14)]
        rows = [[t.code("data_quality", q.item), q.borrowers, self.money(q.exposure), q.on_list]
                for q in self.r.data_quality.rows]
        self.sheet("quality", head, rows)

    def about(self) -> None:
        t, m = self.t, self.r.meta
        rows = [[t("title"), f"{t(m.period)} {m.label}"], [t("period"), f"{m.first_day} — {m.last_day}"],
                [t("as_of"), m.as_of], [t("policy"), m.policy_version], [t("timezone"), m.timezone],
                [t("names_masked"), t("yes") if m.names_masked else t("no")]]
        self.sheet("about", [(t("item"), "text", 18), (t("value"), "text", 40)], rows)

    def render(self, rows: bool = True) -> bytes:
        """The workbook; ``rows`` False: with the list's probe row in place of its rows (see :class:`ListSheet`)."""
        self.warning_list()
        self.ratios()
        self.trend()
        self.class_migration()
        self.defaults()
        self.groups("branch", self.r.portfolio.by_branch, "branch")
        self.groups("industry", self.r.portfolio.by_industry, "industry")
        self.rules()
        self.inspections()
        self.quality()
        self.about()
        self.wb.close()
        data = self.buf.getvalue()
        if self._fast is not None and rows:
            data = put_rows(data, *self._fast)
        return data


_ROWS_AT_ONCE = 20_000


class ListSheet:
    """The report's workbook without the warning list's rows, for a writer that adds them
    (:mod:`monitor.reports._sheetxml`, fed the rows given as the CSV's cells): the workbook's bytes with the list
    sheet's probe row (``data``), the sheet's number, its columns' kinds and the count of rows. With the rows
    added: the bytes of :func:`render_xlsx`."""

    def __init__(self, report: Report, lang: Lang) -> None:
        book = _Book(report, lang, ([], []))
        self.data = book.render(rows=False)
        if book._fast is None:
            raise RuntimeError("the workbook has no warning list sheet")
        self.number, self.kinds, self.count, _ = book._fast


def render_xlsx(report: Report, lang: Lang = "zh", table: Table | None = None) -> bytes:
    """The workbook's bytes (the same report gives the same bytes); ``table``: the warning list's rows when
    already made for the CSV."""
    return _Book(report, lang, table).render()
