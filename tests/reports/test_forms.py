"""The three forms: byte-identical rebuilds, both languages, the CSV for spreadsheets, printing to PDF."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.reports import Report, build_report, render_html, write_report
from tests.reports import portfolio

FILES = ("report-month-2025-03-31.html", "report-month-2025-03-31.json", "warning-list-month-2025-03-31.csv",
         "report-month-2025-03-31.xlsx")


def _build(events: Path, out: Path) -> Report:
    return build_report(out, [events], policy_path=portfolio.POLICY_PATH, period="month", as_of="2025-03-31")


def test_rebuilding_gives_the_same_bytes(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    first = write_report(_build(events, out), tmp_path / "one")
    # the same input copied elsewhere, built into another directory
    copy = tmp_path / "copy"
    shutil.copytree(out, copy / "replay")
    shutil.copy(events, copy / "events.jsonl")
    second = write_report(_build(copy / "events.jsonl", copy / "replay"), tmp_path / "two")
    assert [p.name for p in first] == list(FILES)
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(FILES)  # no temporary files left


def test_the_workbook_written_by_a_second_process_is_the_same(hand: tuple[Path, Path], tmp_path: Path) -> None:
    """``monitor report --jobs 2`` (the default): forked processes write the JSON and the workbook beside the others;
    same bytes as one after the other, and its failure is told as the command's error, naming the file,
    with the other forms written. (Run as the command, in a process of its own: this one may have threads
    left by other tests, and then writes one form after another.)"""
    events, out = hand
    one = write_report(_build(events, out), tmp_path / "one", "zh", jobs=1)
    args = ["report", "--period", "month", "--as-of", "2025-03-31", "--replay", str(out), "--events", str(events),
            "--policy", str(portfolio.POLICY_PATH), "--jobs", "2"]
    code, _, stderr = _run(*args, "--out", str(tmp_path / "two"))
    assert code == 0, stderr
    for a in one:
        assert a.read_bytes() == (tmp_path / "two" / a.name).read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(FILES)
    blocked = tmp_path / "blocked"
    (blocked / FILES[3]).mkdir(parents=True)  # the workbook cannot take its place
    code, _, stderr = _run(*args, "--out", str(blocked))
    assert code == 2 and stderr.startswith("monitor: error: ") and stderr.count("\n") == 1, stderr
    assert re.search(re.escape(FILES[3]) + ": cannot write the report: .*directory", stderr), stderr
    assert (blocked / FILES[2]).read_bytes() == one.csv.read_bytes()
    json_blocked = tmp_path / "json-blocked"  # the JSON, by a fork of its own too
    (json_blocked / FILES[1]).mkdir(parents=True)
    code, _, stderr = _run(*args, "--out", str(json_blocked))
    assert code == 2 and re.search(re.escape(FILES[1]) + ": cannot write the report: .*directory", stderr), stderr
    assert (json_blocked / FILES[3]).read_bytes() == one.xlsx.read_bytes()
    csv_blocked = tmp_path / "csv-blocked"  # the CSV (by this process): the workbook still written
    (csv_blocked / FILES[2]).mkdir(parents=True)
    code, _, stderr = _run(*args, "--out", str(csv_blocked))
    assert code == 2 and re.search("cannot write the report: .*directory", stderr), stderr
    assert (csv_blocked / FILES[3]).read_bytes() == one.xlsx.read_bytes()
    assert (csv_blocked / FILES[1]).read_bytes() == one.json.read_bytes()
    for where in (blocked, json_blocked, csv_blocked):  # no temporary file left beside the forms
        assert not [p.name for p in where.iterdir() if p.name.endswith(".tmp")], where
    code, _, stderr = _run(*args[:-2], "--jobs", "1", "--out", str(blocked))  # one after the other: no name
    assert code == 2 and FILES[3] not in stderr and "cannot write the report" in stderr, stderr


_SLICED = r"""
import sys, types
import monitor.reports._write as W
from monitor.reports import build_report
replay, events, policy, out, fail = sys.argv[1:6]
W.SLICE = 2
if fail:  # the workbook's writer fails after its first rows: the CSV goes on, the error is told
    W._sheetxml = types.SimpleNamespace(__file__=fail, write_frame=W._sheetxml.write_frame)
report = build_report(replay, [events], policy_path=policy, period="month", as_of="2025-03-31")
W.write_report(report, out, "zh", jobs=2)
"""

_FAILING = """
import sys
sys.stdin.buffer.read(100)
sys.stderr.write("ValueError: the sheet's XML failed\\n")
sys.exit(1)
"""


def _sliced(hand: tuple[Path, Path], out: Path, fail: bool) -> subprocess.CompletedProcess[str]:
    events, replay = hand
    failing = out.parent / "failing.py"
    failing.write_text(_FAILING)
    return subprocess.run([sys.executable, "-c", _SLICED, str(replay), str(events), str(portfolio.POLICY_PATH),
                           str(out), str(failing) if fail else ""], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])


def test_the_workbook_by_a_writer_fed_the_cells_gives_the_same_bytes(hand: tuple[Path, Path], tmp_path: Path) -> None:
    """``--jobs 2``: this process makes the list's cells a few rows at a time (here two), writes the CSV and sends
    the cells through a pipe to a process of its own that makes the workbook: the same bytes as one process, no
    file left beside the forms. (In a process of its own: forking needs no other thread running.)"""
    events, out = hand
    one = write_report(_build(events, out), tmp_path / "one", "zh", jobs=1)
    assert _build(events, out).warning_list.borrowers >= 5
    done = _sliced(hand, tmp_path / "two", fail=False)
    assert done.returncode == 0, done.stderr
    for a in one:
        assert a.read_bytes() == (tmp_path / "two" / a.name).read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(FILES)


def test_a_workbook_writer_that_fails_midway_is_told_and_the_csv_still_written(hand: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    events, out = hand
    one = write_report(_build(events, out), tmp_path / "one", "zh", jobs=1)
    done = _sliced(hand, tmp_path / "two", fail=True)
    assert done.returncode != 0
    assert re.search(re.escape(FILES[3]) + r": ValueError: the sheet's XML failed", done.stderr), done.stderr
    assert (tmp_path / "two" / FILES[2]).read_bytes() == one.csv.read_bytes()
    assert (tmp_path / "two" / FILES[1]).read_bytes() == one.json.read_bytes()
    assert not (tmp_path / "two" / FILES[3]).exists()
    assert not [p.name for p in (tmp_path / "two").iterdir() if p.name.endswith(".tmp")]


def test_json_is_the_model(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    report = _build(events, out)
    paths = write_report(report, tmp_path, "en")
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert Report.model_validate(data) == report
    assert data["meta"]["policy_version"] == portfolio.POLICY.version and data["meta"]["format"] == "monitor-report/2"
    # the JSON does not depend on the language
    zh = write_report(report, tmp_path / "zh", "zh")
    assert zh.json.read_bytes() == paths.json.read_bytes()


@pytest.mark.parametrize("lang, words", [("zh", ["贷后预警监测报告", "预警名单", "严重预警", "万元", "目录"]),
                                         ("en", ["Monitoring Report", "Warning list", "Severe", "CNY mn", "Contents"])])
def test_both_languages_render(hand: tuple[Path, Path], lang: str, words: list[str]) -> None:
    events, out = hand
    page = render_html(_build(events, out), lang)  # type: ignore[arg-type]
    for w in words:
        assert w in page
    assert page.startswith("<!DOCTYPE html>") and f'lang="{"zh-CN" if lang == "zh" else "en"}"' in page
    for anchor in range(1, 8):
        assert f'href="#s{anchor}"' in page and f'id="s{anchor}"' in page
    assert "@page" in page and "@media print" in page and "<svg" in page
    # self-contained: nothing is fetched
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page and "@import" not in page
    for item in ("2025-03-01", portfolio.POLICY.version, "events.jsonl", "2025-03-31"):
        assert item in page


def test_html_rows_are_limited_json_and_csv_are_complete(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    report = _build(events, out)
    paths = write_report(report, tmp_path, "en", html_rows=2)
    page = paths.html.read_text(encoding="utf-8")
    assert "The first 2 are listed here" in page and FILES[2] in page
    assert page.count('<span class="badge') >= 2
    assert len(json.loads(paths.json.read_text())["warning_list"]["rows"]) == 5


def test_csv_opens_in_a_spreadsheet(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    paths = write_report(_build(events, out), tmp_path, "zh")
    raw = paths.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert rows[0][:5] == ["序号", "借款人编号", "借款人名称", "预警等级", "期初等级"]
    assert [r[1] for r in rows[1:]] == ["B", "E", "J", "A", "D"]
    b = dict(zip(rows[0], rows[1]))
    assert b["预警等级"] == "严重预警" and b["敞口（元）"] == "5000000.00" and b["下次检查日"] == "2025-01-15"
    assert b["最近一次等级变动"] == "2025-01-31 升级（预警 → 严重预警）"
    assert b["变动时的信号"] == "本行逾期：本行逾期 90 天，逾期金额 0.10 万元，阈值 ≥ 90 天"
    assert b["检查是否逾期"] == "是"
    assert rows[1][-3:] == ["2025-03", "2025-03-31T16:00:00Z", portfolio.POLICY.version]
    en = write_report(_build(events, out), tmp_path / "en", "en").csv.read_bytes()
    assert en[3:].split(b"\r\n")[0].startswith(b"rank,borrower_id,name,tier,tier_at_start,exposure_cny")


def test_csv_cells_are_never_formulas(tmp_path: Path) -> None:
    from monitor.reports._write import _safe

    assert _safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _safe("@x") == "'@x" and _safe("B1") == "B1"


_CELLS = st.one_of(
    st.sampled_from(["", "plain", "逾期 90 天", "a,b", 'say "hi"', "=1+1", "-3", "+x", "@a", "\tx", "\rx", "line\nfeed",
                     "a\x1bb", "x\u202e", 1, 1.0, True, False, 0, -0.0, None, 2.5, -1234.567]),
    st.text(max_size=12), st.integers(), st.floats(), st.none(), st.booleans())


def _csv_oracle(rows: list[list[object]]) -> bytes:
    """The list's CSV rows as the csv module writes them, each cell as the report has always converted it."""
    from monitor.reports._sheetxml import _RISKY
    from monitor.reports._write import _safe

    def cell(v: object) -> object:
        if isinstance(v, str):
            return v if v.isprintable() and not v.startswith(_RISKY) else _safe(v)
        return "" if v is None else f"{v:.2f}" if isinstance(v, float) else v

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([cell(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_CELLS, min_size=26, max_size=26) | st.lists(_CELLS, max_size=3), max_size=8))
def test_the_list_csv_is_the_csv_modules_bytes_for_any_cells(rows: list[list[object]]) -> None:
    """The CSV's rows, made without a call per cell (the text of recurring values made once per column), are the
    csv module's bytes: quoting, formulas defused, control characters replaced, 1, 1.0 and True told apart in one
    column, empty cells and short rows."""
    from monitor.reports._write import _CsvLines

    lines = _CsvLines()
    assert lines(rows) == _csv_oracle(rows)  # type: ignore[arg-type]
    assert lines(rows[::-1]) == _csv_oracle(rows[::-1])  # type: ignore[arg-type]  (the same memo, again)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_CELLS, min_size=26, max_size=26), max_size=8))
def test_the_list_csv_of_columns_is_that_of_the_rows(rows: list[list[object]]) -> None:
    """The CSV's rows given as their columns (what the list's writer gets: ``_tables.warning_columns``) are the
    bytes of the same rows given a row at a time, and so the csv module's."""
    from monitor.reports._write import _CsvLines

    columns = [[r[j] for r in rows] for j in range(26)]
    assert _CsvLines().columns(columns) == _csv_oracle(rows)  # type: ignore[arg-type]
    lines = _CsvLines()
    assert lines(rows) == lines.columns(columns) == _csv_oracle(rows)  # type: ignore[arg-type]  (one memo, twice)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_html_prints_to_pdf_in_headless_chromium(hand: tuple[Path, Path], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install -y chromium): needed to print the report")
        pytest.skip("chromium is not installed; set CI=1 to make this a failure")
    events, out = hand
    pdfs = []
    for lang in ("zh", "en"):
        paths = write_report(_build(events, out), tmp_path / lang, lang)  # type: ignore[arg-type]
        pdf = tmp_path / f"{lang}.pdf"
        profile = tmp_path / f"profile-{lang}"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
               paths.html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=180)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF-")
        pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
        assert pages >= 7, pages  # the cover, then each section on a page of its own
        pdfs.append(pages)


# ---------------------------------------------------------------- the command line

def _run(*args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=300)
    return done.returncode, done.stdout, done.stderr


def test_cli_writes_four_files_and_prints_their_paths(hand: tuple[Path, Path], tmp_path: Path) -> None:
    events, out = hand
    cap = tmp_path / "cap.json"
    cap.write_text('{"T1": 3}', encoding="utf-8")
    code, stdout, stderr = _run("report", "--period", "month", "--as-of", "2025-03-31", "--replay", str(out),
                                "--events", str(events), "--out", str(tmp_path / "r"), "--lang", "en",
                                "--capacity", str(cap), "--policy", str(portfolio.POLICY_PATH))
    assert code == 0, stderr
    printed = [line.split()[-1] for line in stdout.splitlines()]
    assert [Path(p).name for p in printed] == list(FILES)
    assert all(Path(p).is_file() for p in printed)
    report = json.loads(Path(printed[1]).read_text())
    assert report["inspections"]["capacity_configured"] and report["meta"]["inputs"][-1]["role"] == "capacity"


@pytest.mark.parametrize("args, message", [
    (["--period", "year", "--as-of", "2025-03-31"], "'year' is not one of"),
    (["--period", "day", "--as-of", "31/03/2025"], "not a date"),
    (["--period", "day", "--as-of", "2025-04-11"], "after the replay's as-of"),
    (["--period", "day"], "Missing option '--as-of'"),
])
def test_cli_usage_errors_exit_2_with_one_line(hand: tuple[Path, Path], tmp_path: Path, args: list[str],
                                               message: str, capsys: pytest.CaptureFixture[str]) -> None:
    events, out = hand
    code = main(["report", *args, "--replay", str(out), "--events", str(events), "--out", str(tmp_path),
                 "--policy", str(portfolio.POLICY_PATH)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("monitor: error: ") and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("case", ["no-replay", "bad-capacity", "other-policy"])
def test_cli_input_errors_name_the_problem(hand: tuple[Path, Path], tmp_path: Path, case: str) -> None:
    events, out = hand
    args = ["report", "--period", "day", "--as-of", "2025-03-05", "--events", str(events), "--out", str(tmp_path)]
    if case == "no-replay":
        args += ["--replay", str(tmp_path / "nowhere")]
        expect = "no such file"
    elif case == "bad-capacity":
        cap = tmp_path / "cap.toml"
        cap.write_text('T1 = -2\n', encoding="utf-8")
        args += ["--replay", str(out), "--capacity", str(cap)]
        expect = "T1: Input should be greater than 0"
    else:
        pol = tmp_path / "p.toml"
        version = portfolio.POLICY.version
        pol.write_text(portfolio.POLICY_PATH.read_text().replace(f'version = "{version}"', 'version = "x-1"'))
        args += ["--replay", str(out), "--policy", str(pol)]
        expect = f"the replay used policy '{version}'"
    code, _, stderr = _run(*args)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("monitor: error: ") and expect in stderr, stderr
