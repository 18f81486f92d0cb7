"""Names that predate the contract never break the report's HTML (issue 12: names escaped at every output).

The event contract refuses control, escape and bidi characters in names, but a replay written before it
did (or from another producer's records) may hold them. The replay's outputs are written with clean
placeholder names and the placeholders then replaced, below the contract, by names carrying HTML
metacharacters, CR, LF, NUL, ESC and U+202E. The report must show them as text: no element or attribute
the clean report does not have, the metacharacters shown literally, the control characters as U+FFFD
(as the desk's CSV and calendar show them).
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from monitor.reports import build_report
from monitor.reports._html import render_html
from monitor.reports._write import render_csv
from tests.reports import portfolio

# placeholder -> the name an old record carries
BAD = {
    "ZZNAMEA": '<script>alert("名")</script> & \'甲\'\r\n\x00\x1b[31m\u202e公司',
    "ZZTEAM1": '<b onclick="x()">检查一组</b>\r\n\x00X-Injected: 1',
    "ZZBRANCH1": "<img src=x onerror=alert(1)>\u202e&amp;\x1b",
}
OWNER = '<i title="o">张三</i>\x1b\u202e'
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(name: str) -> str:
    """How a name is to be read on the page: every control, escape and bidi character as U+FFFD."""
    return re.sub("[\r\n]", "\ufffd", UNSAFE.sub("\ufffd", name))


class _Page(HTMLParser):
    """The page's elements with their attribute names, and its text as a reader sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(a for a, _ in attrs))))
        self.values.extend(v for _, v in attrs if v)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/" + tag, ()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _replay(directory: Path) -> tuple[Path, Path]:
    """The hand-made portfolio with borrower A named, team T1 and branch SH renamed to placeholders."""
    docs = []
    for d in portfolio.events():
        if isinstance(d, dict):
            d = dict(d)
            if d.get("type") == "loan_profile" and d["borrower_id"] == "A":
                d["name"] = "ZZNAMEA"
            if d.get("team") == "T1":
                d["team"] = "ZZTEAM1"
            if d.get("branch") == "SH":
                d["branch"] = "ZZBRANCH1"
        docs.append(d)
    return portfolio.build(directory, docs)


def _old_names(replay_dir: Path) -> None:
    """Each placeholder replaced by its bad name in every JSON file the replay wrote (as JSON strings)."""
    for path in [*replay_dir.rglob("*.json"), *replay_dir.rglob("*.jsonl")]:
        text = path.read_text(encoding="utf-8")
        for placeholder, name in BAD.items():
            text = text.replace(json.dumps(placeholder), json.dumps(name, ensure_ascii=False))
        path.write_text(text, encoding="utf-8")


def test_names_with_html_and_control_characters_from_old_records_are_text_in_the_report_html(tmp_path: Path) -> None:
    events, out = _replay(tmp_path / "clean")
    cases = {"A": ("open", "ZZOWNER")}
    clean = build_report(out, [events], policy_path=portfolio.POLICY_PATH, period="month", as_of="2025-03-31",
                         cases=cases)
    _old_names(out)
    old = build_report(out, [events], policy_path=portfolio.POLICY_PATH, period="month", as_of="2025-03-31",
                       cases={"A": ("open", OWNER)})
    # the bad names did reach the report (the test is about the page, not about the readers)
    row = next(r for r in old.warning_list.rows if r["borrower_id"] == "A")
    assert (row["name"], row["team"], row["branch"], row["case_owner"]) == \
        (BAD["ZZNAMEA"].strip(), BAD["ZZTEAM1"], BAD["ZZBRANCH1"], OWNER)

    for lang in ("zh", "en"):
        before = render_html(clean, lang, rows_shown=0, csv_name="w.csv", xlsx_name="r.xlsx")
        html = render_html(old, lang, rows_shown=0, csv_name="w.csv", xlsx_name="r.xlsx")
        assert "\ufffd" not in before  # clean names lose nothing
        # no control, escape or bidi character in the page at all (tab and line feed of the template aside)
        assert not UNSAFE.findall(html), sorted(set(UNSAFE.findall(html)))
        assert "\r" not in html
        a, b = _parse(before), _parse(html)
        # exactly the clean page's elements and attributes: nothing injected
        assert b.tags == a.tags
        # every name is shown as text, literally, with its control characters as U+FFFD
        text = "".join(b.text)
        for name in (*BAD.values(), OWNER):
            assert shown(name).strip() in text, (lang, shown(name))
        assert "<script>" in text and "&amp;" in text  # shown, not run nor decoded
        for placeholder in BAD:
            assert placeholder not in html


def test_names_with_control_characters_from_old_records_never_break_a_row_of_the_report_csv(tmp_path: Path) -> None:
    """The warning list's CSV as the desk's CSV has it: control, escape and bidi characters as U+FFFD (not kept
    inside quoted cells, where a CR LF splits a row for many readers and an ESC or U+202E hides text)."""
    events, out = _replay(tmp_path / "clean")
    clean = build_report(out, [events], policy_path=portfolio.POLICY_PATH, period="month", as_of="2025-03-31",
                         cases={"A": ("open", "ZZOWNER")})
    _old_names(out)
    old = build_report(out, [events], policy_path=portfolio.POLICY_PATH, period="month", as_of="2025-03-31",
                       cases={"A": ("open", OWNER)})
    for lang in ("zh", "en"):
        before = render_csv(clean, lang)
        data = render_csv(old, lang)
        assert data.startswith(b"\xef\xbb\xbf")
        text = data[3:].decode("utf-8")
        assert "\ufffd" not in before.decode("utf-8")  # clean names lose nothing
        lines = text.split("\r\n")
        assert lines[-1] == "" and len(lines) - 1 == len(old.warning_list.rows) + 1  # one line a row, header first
        for line in lines:
            assert not UNSAFE.findall(line) and "\r" not in line and "\n" not in line, (lang, line)
        records = list(csv.reader(io.StringIO(text, newline="")))
        assert len(records) == len(old.warning_list.rows) + 1
        assert {len(r) for r in records} == {len(records[0])}
        a = next(r for r in records if "A" in r[:3])
        # the name, team, branch and case owner shown as text, with their control characters as U+FFFD
        for name in (BAD["ZZNAMEA"].strip(), BAD["ZZTEAM1"], BAD["ZZBRANCH1"], OWNER):
            assert shown(name) in a, (lang, shown(name), a)
        assert text.replace("\ufffd", "") != text
        # the rows of borrowers with clean names are as before
        old_rows = {r[1]: r for r in records[1:]}
        for r in csv.reader(io.StringIO(before[3:].decode("utf-8"), newline="")):
            if r[1] in old_rows and r[1] != "A" and not any(p in "".join(r) for p in BAD):
                assert old_rows[r[1]] == r
