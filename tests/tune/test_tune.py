"""``monitor tune``: search space, budgets, determinism, the written policy and the holdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor._errors import InputError
from monitor.backtest import run_backtest
from monitor.cli import main
from monitor.rules.loader import load_policy
from monitor.simulate import outcomes_path, simulate, write_simulation
from monitor.tune import load_space, parse_constraint
from monitor.tune._search import frontier
from monitor.tune._space import get_path, parse_path

ROOT = Path(__file__).resolve().parents[2]

SPACE = """
[search]
seed = 3
candidates = 7

[params]
"overdue.dpd.bands[1].min" = [15, 30, 45]
"cure_days.warning" = { min = 30, max = 120, step = 30 }
"visits.base_days.BBB" = [90, 180]
"rating.weak_grade.level" = ["watch", "warning"]
"""


@pytest.fixture(scope="module")
def portfolios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tune")
    tuning, hold = d / "tuning.jsonl", d / "holdout.jsonl"
    write_simulation(simulate(300, 14, 31, duplicates=0.01), tuning)
    write_simulation(simulate(300, 14, 32), hold)
    space = d / "space.toml"
    space.write_text(SPACE, encoding="utf-8")
    return {"events": tuning, "outcomes": outcomes_path(tuning), "holdout": hold,
            "holdout_outcomes": outcomes_path(hold), "space": space}


def _tune(p: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["tune", str(p["events"]), "--outcomes", str(p["outcomes"]), "--space", str(p["space"]),
                 "--budget", "visits=3.5x", "--budget", "alerts=5", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def tuned(portfolios, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "run"
    assert _tune(portfolios, out, "--jobs", "1", "--holdout", str(portfolios["holdout"]),
                 "--holdout-outcomes", str(portfolios["holdout_outcomes"])) == 0
    return out


def test_outputs_and_the_chosen_policy_file(tuned, portfolios):
    summary = json.loads((tuned / "tune.json").read_text(encoding="utf-8"))
    assert summary["scored"] == 7 and summary["chosen"] is not None
    chosen = summary["chosen"]
    assert chosen["feasible"] and chosen["figures"]["visits_ratio"] <= 3.5 and chosen["figures"]["alerts"] <= 5
    # the chosen is the best feasible candidate at 90 days
    rows = [json.loads(line) for line in (tuned / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 7 and rows[0]["candidate"] == 0
    best = max(r["figures"]["detection90"] for r in rows if r["feasible"])
    assert chosen["figures"]["detection90"] == best
    # the policy file: loadable, the chosen values, a new version, a provenance header
    text = (tuned / "policy.toml").read_text(encoding="utf-8")
    policy = load_policy(tuned / "policy.toml")
    assert policy.version == summary["chosen_version"] != load_policy(ROOT / "monitor/rules/default_policy.toml").version
    data = policy.model_dump(mode="json")
    for key, value in chosen["params"].items():
        got = get_path(data, parse_path(key))
        assert got == value, key
    digest = summary["inputs"]["events"][0]["sha256"]
    assert f"sha256 {digest}" in text and summary["space"]["sha256"] in text and "# figures (holdout)" in text
    assert "Policy is data" in text  # the base file's comments are kept


def test_the_frontier_is_pareto(tuned):
    summary = json.loads((tuned / "tune.json").read_text(encoding="utf-8"))
    front = summary["frontier"]
    assert front
    for a in front:
        for b in front:
            if a is not b:
                fa, fb = a["figures"], b["figures"]
                assert not (fb["detection90"] >= fa["detection90"] and fb["visits"] <= fa["visits"]
                            and (fb["detection90"], fb["visits"]) != (fa["detection90"], fa["visits"]))
    csv = (tuned / "frontier.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv) == len(front) + 1 and csv[0].startswith("candidate,feasible,detection90")


def test_the_holdout_figures_are_the_backtest_of_the_written_policy(tuned, portfolios):
    summary = json.loads((tuned / "tune.json").read_text(encoding="utf-8"))
    hold = summary["holdout"]
    bt = run_backtest([str(portfolios["holdout"])], str(portfolios["holdout_outcomes"]),
                      [str(tuned / "policy.toml")], jobs=1).report
    got = bt["policies"][0]
    assert hold["chosen"]["detection90"] == got["detection"]["warning"]["detected"]["90d"]["rate"]
    assert hold["chosen"]["visits"] == got["workload"]["visits_per_borrower_year"]
    assert hold["chosen"]["precision"] == got["false_alarms"]["warning"]["precision"]
    assert hold["chosen"]["watch_share"] == got["month_ends"]["watch_plus_share"]
    assert hold["events"][0]["file"] == "holdout.jsonl" and set(hold["constraints"]) == {"visits=3.5x", "alerts=5"}
    # and the holdout is not the tuning portfolio
    assert hold["portfolio"]["borrowers"] == 300 and hold["events"][0]["sha256"] != summary["inputs"]["events"][0]["sha256"]


def test_same_seed_same_bytes_whatever_the_jobs(tuned, portfolios, tmp_path):
    out = tmp_path / "again"
    assert _tune(portfolios, out, "--jobs", "2", "--holdout", str(portfolios["holdout"]),
                 "--holdout-outcomes", str(portfolios["holdout_outcomes"])) == 0
    for name in ("tune.json", "candidates.jsonl", "frontier.csv", "policy.toml"):
        assert (out / name).read_bytes() == (tuned / name).read_bytes(), name
    other = tmp_path / "other-seed"
    assert _tune(portfolios, other, "--jobs", "1", "--seed", "4") == 0
    a = [json.loads(x)["params"] for x in (tuned / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    b = [json.loads(x)["params"] for x in (other / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    assert a[0] == b[0] and a != b  # the base first, then other draws


def test_an_impossible_budget_writes_no_policy(portfolios, tmp_path, capsys):
    out = tmp_path / "none"
    assert main(["tune", str(portfolios["events"]), "--outcomes", str(portfolios["outcomes"]),
                 "--space", str(portfolios["space"]), "--budget", "visits=0.01", "--candidates", "3", "--jobs", "1",
                 "--out", str(out)]) == 0
    assert "no candidate meets every constraint" in capsys.readouterr().out
    assert not (out / "policy.toml").exists() and (out / "tune.json").exists()


@pytest.mark.parametrize(("text", "message"), [
    ('[params]\n"cure_dayz" = [1, 2]\n', "no such key in the base policy"),
    ('[params]\n"cure_days.watch" = ["a"]\n', "'a' is a string, the policy value is a whole number"),
    ('[params]\n"cure_days.watch" = { min = 10, max = 5 }\n', "min <= max"),
    ('[params]\n"lawsuit.claim_large.min_ratio" = { min = 0.1, max = 0.2 }\n', "needs a step"),
    ('[params]\n"overdue.dpd.bands[7].min" = [1]\n', "no such key"),
    ('[params]\n"overdue..dpd" = [1]\n', "not a policy key"),
    ('[params]\n"overdue.dpd" = [1]\n', "names a table or list"),
    ('[search]\nseeds = 1\n[params]\n"cure_days.watch" = [1]\n', "search.seeds: unknown key"),
    ("[search]\nseed = 1\n", "[params] must name at least one policy key"),
    ('[params]\n"version" = ["x"]\n', "the version is set by monitor tune"),
])
def test_a_bad_search_space_names_the_key(tmp_path, text, message):
    space = tmp_path / "space.toml"
    space.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=None) as exc:
        load_space(str(space))
    assert message in str(exc.value) and "space.toml" in str(exc.value)


def test_budgets_and_requirements_parse():
    assert parse_constraint("visits=0.7x", budget=True).metric == "visits_ratio"
    assert parse_constraint("visits=2.5", budget=True).metric == "visits"
    c = parse_constraint("precision>=30%", budget=False)
    assert (c.metric, c.op, c.bound) == ("precision", ">=", 0.3)
    for bad, kind in (("alerts=1x", True), ("speed=3", True), ("precision=0.3", False), ("nope>=1", False)):
        with pytest.raises(InputError):
            parse_constraint(bad, budget=kind)


def test_usage_errors_exit_2_with_one_line(portfolios, tmp_path, capsys):
    base = ["tune", str(portfolios["events"]), "--outcomes", str(portfolios["outcomes"]), "--space",
            str(portfolios["space"]), "--out", str(tmp_path / "o")]
    for extra, needle in ((["--budget", "late=0.1"], "--teams"), (["--holdout", "x.jsonl"], "go together"),
                          (["--budget", "visits=lots"], "--budget")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err


def test_frontier_keeps_only_undominated_points():
    from monitor.tune._search import Candidate
    cs = [Candidate(i, (), {"detection90": d, "visits": v}) for i, (d, v) in
          enumerate([(0.5, 2.0), (0.6, 3.0), (0.55, 3.5), (0.7, 5.0), (0.4, 1.0), (0.7, 6.0)])]
    assert [c.index for c in frontier(cs)] == [4, 0, 1, 3]


def test_registered_with_the_main_command():
    done = subprocess.run([sys.executable, "-m", "monitor", "tune", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "--space" in done.stdout and "--holdout-outcomes" in done.stdout
