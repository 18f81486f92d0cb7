"""``monitor backtest`` end to end: outputs, determinism, usage errors, bad outcomes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.rules.loader import DEFAULT_POLICY_PATH, default_policy
from monitor.simulate import outcomes_path, simulate, write_simulation
from monitor.vocabulary import label as vocab_label
from tests.backtest.histories import LOWER_DPD, History, policy_variant

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("sim")
    events = d / "events.jsonl"
    write_simulation(simulate(800, 15, 5, duplicates=0.01, malformed=0.01), events)  # ~2 % defaults a year
    return events, outcomes_path(events), policy_variant(d, "lower-dpd", LOWER_DPD)


def _backtest(events: Path, outcomes: Path, out: Path, *extra: str) -> int:
    return main(["backtest", str(events), "--outcomes", str(outcomes), "--out", str(out), *extra])


def test_end_to_end_on_a_small_simulation(sim, tmp_path, capsys):
    events, outcomes, lower = sim
    assert _backtest(events, outcomes, tmp_path, "--policy", str(DEFAULT_POLICY_PATH),
                     "--policy", str(lower), "--jobs", "1") == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "backtest.json").read_text(encoding="utf-8"))
    labels = [p["label"] for p in report["policies"]]
    assert labels == [default_policy().version, "lower-dpd"]
    assert report["outcomes"]["in_scope"] > 10 and report["events"]["rejected"] > 0
    base, low = report["policies"]
    for name in ("warning", "watch"):
        for key, cell in base["detection"][name]["first_flag"].items():
            assert low["detection"][name]["first_flag"][key]["count"] >= cell["count"]
        assert 0 < base["detection"][name]["base_rate"] <= 1
    assert base["workload"]["borrower_years"] == low["workload"]["borrower_years"]
    assert base["workload"]["visits"] > 0 and base["workload"]["baseline_visits_per_borrower_year"] == 4.056
    assert {t["team"] for t in base["workload"]["by_team"]} and base["false_alarms"]["warning"]["measurable"]
    assert len(base["month_ends"]["rows"]) == 14 and base["month_ends"]["watch_plus_share"] is not None
    for label in labels:
        assert label in printed
    assert "at least 90 days before the default and still flagged" in printed and "precision" in printed
    assert "backtest.html" in printed
    html = (tmp_path / "backtest.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<polyline" in html and "<circle" in html
    assert '<html lang="zh-CN">' in html and "预警策略回测" in html and "违约时仍在预警" in html
    # every code is labelled by the shared vocabulary
    assert vocab_label("tier", "watch", "zh") + "及以上" in html and vocab_label("rule", "overdue.dpd", "zh") in html
    for banned in ("<script", "http:", "https:", "src=", "<link"):
        assert banned not in html
    # the definitions in Chinese too, and no due-reason code left unlabelled
    dl = html.split("<dl>")[1].split("</dl>")[0]
    dds = re.findall(r"<dd>(.*?)</dd>", dl)
    assert len(dds) >= 12 and all(any("\u4e00" <= ch <= "\u9fff" for ch in d) for d in dds)
    assert not re.search(r"\b(the|of|and|before|after)\b", dl)
    for code in ("first_visit", "inspection", "cadence", "tier_raised", "workout_ended"):
        assert f"<td>{code}</td>" not in html


def test_the_html_in_english(sim, tmp_path):
    events, outcomes, _lower = sim
    assert _backtest(events, outcomes, tmp_path, "--jobs", "1", "--lang", "en") == 0
    html = (tmp_path / "backtest.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Policy backtest" in html and "still flagged" in html
    assert "<dt>Censoring</dt>" in html and "<dt>Capacity</dt>" in html
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in html)


def test_same_input_same_bytes_whatever_the_jobs_and_parts(sim, tmp_path):
    events, outcomes, lower = sim
    runs = [("--jobs", "1", "--shards", "1"), ("--jobs", "1", "--shards", "1"), ("--jobs", "2", "--shards", "3")]
    outputs = []
    for i, extra in enumerate(runs):
        out = tmp_path / f"run{i}"
        assert _backtest(events, outcomes, out, "--policy", str(DEFAULT_POLICY_PATH),
                         "--policy", str(lower), *extra) == 0
        outputs.append(((out / "backtest.json").read_bytes(), (out / "backtest.html").read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]


def test_with_the_teams_capacity_same_bytes_whatever_the_jobs_and_parts(sim, tmp_path):
    events, outcomes, _lower = sim
    teams = tmp_path / "teams.toml"
    teams.write_text('version = "t"\n[defaults]\nvisits_per_day = 1\n[teams.wuxi-1]\nvisits_per_day = 0\n',
                     encoding="utf-8")
    outputs = []
    for i, extra in enumerate([("--jobs", "1", "--shards", "1"), ("--jobs", "2", "--shards", "3")]):
        out = tmp_path / f"run{i}"
        assert _backtest(events, outcomes, out, "--teams", str(teams), *extra) == 0
        outputs.append(((out / "backtest.json").read_bytes(), (out / "backtest.html").read_bytes()))
    assert outputs[0] == outputs[1]
    cap = json.loads(outputs[0][0])["policies"][0]["workload"]["capacity"]
    wuxi = next(t for t in cap["by_team"] if t["team"] == "wuxi-1")
    assert wuxi["visits"] == 0 and wuxi["owed_at_as_of"] > 0  # a team that makes no visits owes them all
    assert 0 < cap["late_share"] < 1 and cap["visits"] > 0


def test_without_a_policy_the_shipped_one_is_used(tmp_path):
    # grade D is severe under any sensible policy: flagged 45 days before the default, from the warm-up (censored)
    events, outcomes = History().profile("B1").rating("B1", 5, "BBB", "D").default("B1", 50, "grade_d").write(
        tmp_path / "in")
    assert _backtest(events, outcomes, tmp_path / "out", "--as-of", "2025-03-01T00:00:00Z") == 0
    report = json.loads((tmp_path / "out" / "backtest.json").read_text(encoding="utf-8"))
    assert [p["file"] for p in report["policies"]] == ["default_policy.toml"]
    assert report["policies"][0]["detection"]["warning"]["detected"]["30d"]["count"] == 1
    assert report["policies"][0]["detection"]["warning"]["lead_time_days"]["censored"] == 1


@pytest.mark.parametrize(("line", "message"), [
    ('{"borrower_id": "B2", "defaulted_at": "2025-03-01T00:00:00", "reason": "dpd90"}',
     "outcomes.jsonl:2: defaulted_at: timezone offset required"),
    ('{"borrower_id": "B2", "defaulted_at": "2025-03-01T00:00:00Z"}', "outcomes.jsonl:2: reason: required"),
    ('{"borrower_id": "B2", "defaulted_at": "2025-03-01T00:00:00Z", "reason": "x", "amount": 1}',
     "outcomes.jsonl:2: amount: unexpected field"),
    ("B2,2025-03-01", "outcomes.jsonl:2: not JSON"),
    ('{"borrower_id": "B1", "defaulted_at": "2025-03-01T00:00:00Z", "reason": "dpd90"}',
     "outcomes.jsonl:2: borrower B1 already defaulted on line 1"),
])
def test_a_bad_outcomes_line_exits_2_with_one_line_naming_it(tmp_path, capsys, line, message):
    events, _ = History().profile("B1").profile("B2").write(tmp_path)
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text('{"borrower_id": "B1", "defaulted_at": "2025-02-01T00:00:00Z", "reason": "dpd90"}\n'
                        + line + "\n", encoding="utf-8")
    assert _backtest(events, outcomes, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("monitor: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_usage_and_policy_errors_exit_2_with_one_line(tmp_path, capsys):
    events, outcomes = History().profile("B1").write(tmp_path / "in")
    bad_policy = policy_variant(tmp_path, "bad", {"cure_days = { watch = ": "cure_days = { watch = -1, was = "})
    cases = [
        ["backtest", str(events), "--out", str(tmp_path / "o")],  # no --outcomes
        ["backtest", "-", "--outcomes", str(outcomes), "--out", str(tmp_path / "o")],
        ["backtest", str(tmp_path / "missing.jsonl"), "--outcomes", str(outcomes), "--out", str(tmp_path / "o")],
        ["backtest", str(events), "--outcomes", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")],
        ["backtest", str(events), "--outcomes", str(outcomes), "--out", str(tmp_path / "o"), "--as-of", "soon"],
        ["backtest", str(events), "--outcomes", str(outcomes), "--out", str(tmp_path / "o"),
         "--policy", str(bad_policy)],
        ["backtest", str(events), "--outcomes", str(outcomes), "--out", str(tmp_path / "o"), "--jobs", "0"],
    ]
    messages = []
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("monitor: error: "), (argv, err)
        messages.append(err)
    assert "--outcomes" in messages[0] and "standard input" in messages[1] and "no such file" in messages[2]
    assert "nope.jsonl" in messages[3] and "--as-of" in messages[4] and "cure_days" in messages[5]


def test_registered_with_the_main_command():
    done = subprocess.run([sys.executable, "-m", "monitor", "backtest", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "OUTCOMES" in done.stdout and "defaulted_at" in done.stdout
