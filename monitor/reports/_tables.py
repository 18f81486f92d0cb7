"""The report's tables as rows of typed values, shared by the CSV and the workbook."""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from typing import Any

from monitor import vocabulary
from monitor._evidence import SHOWN_FIELDS, shown_sentence
from monitor.reports._i18n import Lang, Text
from monitor.reports._rowlists import RowLists, lists_of
from monitor.reports.model import Report, WarningRow

__all__ = ["SLICE", "Table", "warning_columns", "warning_head", "warning_slices", "warning_table"]

Cell = str | int | float | None
# (column title, kind): kind is text, int, money (CNY), date, pct
Head = list[tuple[str, str]]
Table = tuple[Head, list[list[Cell]]]
SLICE = 20_000  # rows made at a time when a form is written as they are made

_WARN_HEAD = {
    "zh": ["序号", "借款人编号", "借款人名称", "预警等级", "期初等级", "敞口（元）", "分行", "检查团队", "客户类型", "行业",
           "评级", "五级分类下限", "进入本等级日期", "本等级天数", "期末成立的预警信号", "信号现值及阈值", "最近一次等级变动",
           "变动时的信号", "下次检查日", "检查是否逾期", "案件状态", "案件负责人", "数据质量", "报告期", "数据截至",
           "预警策略版本"],
    "en": ["rank", "borrower_id", "name", "tier", "tier_at_start", "exposure_cny", "branch", "team", "segment",
           "industry", "grade", "min_classification", "tier_since", "days_at_tier", "signals_at_end",
           "signal_values", "last_change", "last_change_signals", "next_visit_due", "visit_overdue", "case_status",
           "case_owner", "data_quality", "period", "as_of", "policy_version"],
}
_KINDS = ["int", "text", "text", "text", "text", "money", "text", "text", "text", "text", "text", "text", "date",
          "int", "text", "text", "text", "text", "date", "text", "text", "text", "text", "text", "text", "text"]


def _sentences(t: Text, signals: list[dict[str, Any]], tz: str) -> str:
    sep = "；" if t.lang == "zh" else "; "
    colon = "：" if t.lang == "zh" else ": "
    return sep.join(f"{t.rule(str(e.get('rule', '')))}{colon}{t.evidence(e, tz)}" for e in signals)


def _change(t: Text, r: WarningRow) -> str:
    c = r["last_change"]
    return _change_text(t, (c["day"], c["kind"], c["from_tier"], c["to_tier"]))


def _change_text(t: Text, change: tuple[str, str, str, str]) -> str:
    """The text of a last change of tier: (day, kind, from tier, to tier)."""
    day, kind, frm, to = change
    arrow = f"{t.tier(frm)} → {t.tier(to)}"
    return f"{day} {t.kind(kind)}（{arrow}）" if t.lang == "zh" else f"{day} {t.kind(kind)} ({arrow})"


def warning_row(t: Text, r: WarningRow, report: Report) -> list[Cell]:
    m = report.meta
    sep = "、" if t.lang == "zh" else ", "
    start = t("new") if r["tier_at_start"] == "new" else t.tier(r["tier_at_start"])
    now, then = r["signals"], r["last_change"]["signals"]
    now_text = _sentences(t, now, m.timezone)
    then_text = now_text if then is now or then == now else _sentences(t, then, m.timezone)  # mostly the same
    return [
        r["rank"], r["borrower_id"], r["name"] or "", t.tier(r["tier"]), start, float(r["exposure"]),
        t.code("branch", r["branch"]), t.code("team", r["team"]), t.segment(r["segment"]),
        t.code("industry", r["industry"]), r["grade"], t.classification(r["min_classification"]), r["tier_since"],
        r["days_at_tier"], sep.join(t.rule(str(e.get("rule", ""))) for e in r["signals"]),
        now_text, _change(t, r), then_text,
        r["next_visit_due"], t("yes") if r["visit_overdue"] else t("no"),
        t.code("case_status", r["case_status"]) if r["case_status"] else "", r["case_owner"] or "",
        sep.join(vocabulary.label("data_quality", q, t.lang) for q in r["data_quality"]), m.label, m.as_of,
        m.policy_version,
    ]


def warning_head(lang: Lang) -> Head:
    return list(zip(_WARN_HEAD[lang], _KINDS))


def warning_slices(report: Report, lang: Lang, size: int = SLICE, begin: int = 0,
                   end: int | None = None, first: int | None = None) -> Iterator[list[list[Cell]]]:
    """The warning list's rows (``begin`` to ``end``: a share of them), ``size`` at a time (a form written as
    they are made never holds them all); ``first``: the first slice's size, when another (a writer fed the
    slices starts sooner).

    The cells are :func:`warning_row`'s; what recurs is made once: a label per code, the sentences per
    distinct signal (:meth:`Text.evidence`), the text of a last change per (day, kind, tiers), and the items
    of data quality per list (rows with the same items share one list)."""
    lists = lists_of(report.warning_list)  # the rows as columns: rows whose signals are their sentence keys
    rows = report.warning_list.rows if lists is None else None
    make = _RowMaker(Text(lang), report)
    count = len(rows) if rows is not None else lists.n  # type: ignore[union-attr]
    end = count if end is None else min(end, count)
    lo, step = begin, first or size
    while lo < end:
        hi = min(lo + step, end)
        yield [make(r) for r in (rows[lo:hi] if rows is not None else lists.light(lo, hi))]  # type: ignore[union-attr]
        lo, step = hi, size


def warning_columns(report: Report, lang: Lang, size: int = SLICE,
                    first: int | None = None) -> Iterator[list[list[Cell]]]:
    """:func:`warning_slices`' cells, each slice as its columns (26 lists, list ``j`` the ``j``-th cell of each
    row): from the list's columns (:func:`monitor.reports._rowlists.lists_of`) a column at a time, each code's label
    and each signal's sentence made once (no row's dict made: a million borrowers, ~146,000 rows); from plain rows,
    their cells turned about."""
    lists = lists_of(report.warning_list)
    if lists is None:
        for rows in warning_slices(report, lang, size, first=first):
            yield [list(column) for column in zip(*rows)]
        return
    make = _ColumnMaker(Text(lang), report, lists)
    lo, step = 0, first or size
    while lo < lists.n:
        hi = min(lo + step, lists.n)
        yield make(lo, hi)
        lo, step = hi, size


class _RowMaker:
    """:func:`warning_row`, with what recurs across rows made once."""

    def __init__(self, t: Text, report: Report) -> None:
        self.t, self.report = t, report
        m = report.meta
        self.tail = [m.label, m.as_of, m.policy_version]
        self.tz = m.timezone
        self.sep = "、" if t.lang == "zh" else ", "
        self.yes_no = (t("no"), t("yes"))
        self.new = t("new")
        self.labels: dict[str, dict[str | None, str]] = {}
        self.changes: dict[tuple[str, str, str, str], str] = {}
        self.quality: dict[int, tuple[list[str], str]] = {}  # id of a shared list -> (the list, its text)
        self.colon = "：" if t.lang == "zh" else ": "
        self.semi = "；" if t.lang == "zh" else "; "
        # per rule: its name, the fields its direct sentence shows (shown_fields) or None, and its sentences keyed
        # by the marshal bytes of those fields (direct) or of (thresholds, values) (the others): they tell 1, 1.0
        # and True apart as repr does, and the same bytes load back to the same values, but a float costs no
        # decimal text (a million borrowers: ~566,000 signals, ~180,000 distinct)
        self.rules: dict[str, tuple[str, tuple[str, str, str] | None, dict[bytes, str], dict[bytes, str]]] = {}
        # rows made from the list's columns: a signal is its sentence key (monitor.reports._sigread.sentence_keys)
        # -> its rule's name and its part of the sentences
        self.keyed: dict[bytes, tuple[str, str]] = {}
        # each code column's labels (a label made on first use): one subscript a cell
        self.tier, self.branch, self.team, self.segment, self.industry, self.classification = (
            _Labels(t, section) for section in ("tier", "branch", "team", "segment", "industry", "classification"))

    def label(self, section: str, value: str | None) -> str:
        memo = self.labels.get(section)
        if memo is None:
            memo = self.labels[section] = {}
        got = memo.get(value)
        if got is None:
            got = memo[value] = self.t.code(section, value)
        return got

    def _rule(self, rule: str) -> tuple[str, tuple[str, str, str] | None, dict[bytes, str], dict[bytes, str]]:
        got = self.rules[rule] = (self.label("rule", rule), SHOWN_FIELDS.get(rule), {}, {})
        return got

    def _texts(self, signals: list[Any]) -> tuple[str, str]:
        """:meth:`texts` of signals not as the replay writes them (not dicts, a rule not a text): as the rows'
        other texts are made."""
        return (self.sep.join([self.label("rule", str(g.get("rule", ""))) for g in signals]),
                _sentences(self.t, signals, self.tz))

    def _keyed(self, key: bytes) -> tuple[str, str]:
        """A signal's rule's name and its sentence (with the name), by its sentence key: ``(rule, (value, amount,
        threshold))`` for a direct sentence, else ``(rule, thresholds, values)``."""
        got = marshal.loads(key)
        rule = got[0]
        name = self.label("rule", rule)
        if len(got) == 2:
            sentence = shown_sentence(rule, got[1], self.t.lang)
            if sentence is None:  # (the key is direct only where the sentence can be made)
                raise ValueError(f"no sentence for a signal of {rule}")
        else:
            sentence = vocabulary.evidence_sentence({"rule": rule, "values": got[2], "thresholds": got[1]},
                                                    self.t.lang, timezone=self.tz)
        made = self.keyed[key] = (name, f"{name}{self.colon}{sentence}")
        return made

    def key_texts(self, keys: tuple[bytes, ...]) -> tuple[str, str]:
        """:meth:`texts` of signals given by their sentence keys."""
        keyed = self.keyed
        got = [keyed.get(k) or self._keyed(k) for k in keys]
        return self.sep.join([g[0] for g in got]), self.semi.join([g[1] for g in got])

    def texts(self, signals: list[dict[str, Any]]) -> tuple[str, str]:
        """The names of the rules of ``signals`` and their sentences (as :func:`_sentences`), a sentence made once
        per rule and what it shows (:func:`shown_fields`) or per rule, thresholds and values (the others)."""
        names, parts = [], []
        rules, dumps, colon = self.rules, marshal.dumps, self.colon
        for e in signals:
            if type(e) is not dict:
                return self._texts(signals)
            rule = e.get("rule")
            if type(rule) is not str:
                return self._texts(signals)
            got = rules.get(rule)
            name, shown, direct, full = got if got is not None else self._rule(rule)
            v, th = e.get("values"), e.get("thresholds")
            if shown is not None and type(v) is dict and type(th) is dict:
                a, m, b = shown
                if a in v and m in v and b in th:
                    # keyed by what the sentence shows (not the account id of overdue.dpd's values)
                    fields = (v[a], v[m], th[b])
                    try:
                        key = dumps(fields, 2)
                    except ValueError:
                        key = b""
                    part = direct.get(key) if key else None
                    if part is None and key:
                        sentence = shown_sentence(rule, fields, self.t.lang)
                        if sentence is not None:  # else: as evidence_sentence makes it, below (every value listed)
                            part = direct[key] = f"{name}{colon}{sentence}"
                    if part is not None:
                        names.append(name)
                        parts.append(part)
                        continue
            try:
                key = dumps((th, v), 2)
            except ValueError:  # a value marshal cannot write (not from JSON): made without the memo
                names.append(name)
                parts.append(f"{name}{colon}{vocabulary.evidence_sentence(e, self.t.lang, timezone=self.tz)}")
                continue
            part = full.get(key)
            if part is None:
                # Text.evidence's sentence, without its memo (keyed by a repr of all three: a second copy of this one)
                sentence = vocabulary.evidence_sentence(e, self.t.lang, timezone=self.tz)
                part = full[key] = f"{name}{colon}{sentence}"
            names.append(name)
            parts.append(part)
        return self.sep.join(names), self.semi.join(parts)

    def __call__(self, r: WarningRow) -> list[Cell]:
        t, label, tier = self.t, self.label, self.tier
        start = self.new if r["tier_at_start"] == "new" else tier[r["tier_at_start"]]
        now, c = r["signals"], r["last_change"]
        then = c["signals"]
        if type(now) is tuple:  # sentence keys (rows of the list's columns)
            names, now_text = self.key_texts(now) if now else ("", "")
            then_text = now_text if then is now or then == now else self.key_texts(then)[1]
        else:
            names, now_text = self.texts(now) if now else ("", "")
            then_text = now_text if then is now or then == now else self.texts(then)[1]
        key = (c["day"], c["kind"], c["from_tier"], c["to_tier"])
        change = self.changes.get(key)
        if change is None:
            change = self.changes[key] = _change(t, r)
        dq = r["data_quality"]
        got = self.quality.get(id(dq))
        if got is None or got[0] is not dq:
            got = self.quality[id(dq)] = (dq, self.sep.join(vocabulary.label("data_quality", q, t.lang) for q in dq))
        status = r["case_status"]
        return [
            r["rank"], r["borrower_id"], r["name"] or "", tier[r["tier"]], start, float(r["exposure"]),
            self.branch[r["branch"]], self.team[r["team"]], self.segment[r["segment"]],
            self.industry[r["industry"]], r["grade"], self.classification[r["min_classification"]],
            r["tier_since"], r["days_at_tier"], names, now_text, change, then_text,
            r["next_visit_due"], self.yes_no[bool(r["visit_overdue"])],
            label("case_status", status) if status else "", r["case_owner"] or "", got[1], *self.tail,
        ]


class _ColumnMaker(_RowMaker):
    """:class:`_RowMaker`'s cells of rows ``lo`` to ``hi`` of the list's columns, as columns: the same values (the
    same memos), made a column at a time."""

    def __init__(self, t: Text, report: Report, lists: RowLists) -> None:
        super().__init__(t, report)
        self.lists = lists
        self.start = _Labels(t, "tier")
        self.start["new"] = self.new  # (tier_at_start: a tier, or new)
        self.status = _Labels(t, "case_status")
        self.status[None] = self.status[""] = ""  # (no case)

    def _signal_texts(self, lo: int, hi: int) -> tuple[list[str], list[str], list[str]]:
        """The names of the current signals' rules, their sentences, and those of the last change's signals."""
        lists, texts, keyed, made = self.lists, self.key_texts, self.keyed, self._keyed
        then = lists.then.keys[lo:hi]
        now = then if lists.now is None else lists.now.keys[lo:hi]
        names, now_texts, then_texts = [], [], []
        for a, b in zip(now, then):
            if len(a) == 1:  # (most rows: one signal, its name and sentence as they are)
                name, text = keyed.get(a[0]) or made(a[0])
            else:
                name, text = texts(a) if a else ("", "")
            names.append(name)
            now_texts.append(text)
            if a is b or a == b:
                then_texts.append(text)
            elif len(b) == 1:
                then_texts.append((keyed.get(b[0]) or made(b[0]))[1])
            else:
                then_texts.append(texts(b)[1])
        return names, now_texts, then_texts

    def _quality(self, items: list[str]) -> str:
        got = self.quality.get(id(items))
        if got is None or got[0] is not items:
            got = self.quality[id(items)] = (items, self.sep.join(vocabulary.label("data_quality", q, self.t.lang)
                                                                  for q in items))
        return got[1]

    def __call__(self, lo: int, hi: int) -> list[list[Cell]]:  # type: ignore[override]
        cols, n = self.lists.cols, hi - lo

        def col(key: str) -> list[Any]:
            return cols[key][lo:hi]

        def labels(memo: dict[Any, str], key: str) -> list[str]:
            return list(map(memo.__getitem__, cols[key][lo:hi]))

        names, now, then = self._signal_texts(lo, hi)
        changes = self.changes
        change = [changes.get(c) or changes.setdefault(c, _change_text(self.t, c))
                  for c in zip(*(x[lo:hi] for x in self.lists.change))]
        yes_no = self.yes_no
        return [
            list(range(lo + 1, hi + 1)), col("borrower_id"), [x or "" for x in col("name")], labels(self.tier, "tier"),
            labels(self.start, "tier_at_start"), list(map(float, col("exposure"))), labels(self.branch, "branch"),
            labels(self.team, "team"), labels(self.segment, "segment"), labels(self.industry, "industry"), col("grade"),
            labels(self.classification, "min_classification"), col("tier_since"), col("days_at_tier"), names, now,
            change, then, col("next_visit_due"), [yes_no[bool(x)] for x in col("visit_overdue")],
            labels(self.status, "case_status"), [x or "" for x in col("case_owner")],
            list(map(self._quality, col("data_quality"))), *([x] * n for x in self.tail),
        ]


class _Labels(dict[Any, str]):
    """One column's labels of codes, each made by :meth:`Text.code` when first asked for."""

    def __init__(self, t: Text, section: str) -> None:
        super().__init__()
        self.t, self.section = t, section

    def __missing__(self, value: Any) -> str:
        got = self[value] = self.t.code(self.section, value)
        return got


def warning_table(report: Report, lang: Lang) -> Table:
    return warning_head(lang), [row for part in warning_slices(report, lang) for row in part]
