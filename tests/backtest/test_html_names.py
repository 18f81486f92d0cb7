"""Team names and policy labels never break the backtest's HTML (issue 12: names escaped at every output).

The backtest reads its events through the contract, which refuses control, escape and bidi characters,
so the bad names are put below it: into the backtest's JSON form (what ``backtest.json`` holds and
``render_html`` draws), as a report over records written before the contract refused them would carry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from monitor.backtest._html import render_html
from monitor.cli import main
from monitor.simulate import outcomes_path, simulate, write_simulation
from tests.reports.test_html_names import UNSAFE, _parse, shown

BAD_TEAM = '<b onclick="x()">检查"一"组</b>\r\n\x00X-Injected: 1\x1b[31m\u202e&amp;'
BAD_LABEL = "<script>alert('p')</script>\u202e\x1b"


def test_team_names_and_policy_labels_with_html_and_control_characters_are_text_in_the_backtest_html(
        tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(120, 8, 5), events)
    assert main(["backtest", str(events), "--outcomes", str(outcomes_path(events)), "--out", str(tmp_path / "out"),
                 "--jobs", "1"]) == 0
    text = (tmp_path / "out" / "backtest.json").read_text(encoding="utf-8")
    report = json.loads(text)
    teams = sorted({t["team"] for p in report["policies"] for t in p["workload"]["by_team"]})
    label = report["policies"][0]["label"]
    assert teams
    bad_names = {team: f"{BAD_TEAM} {i}" for i, team in enumerate(teams)}
    for team, name in bad_names.items():
        text = text.replace(json.dumps(team), json.dumps(name, ensure_ascii=False))
    text = text.replace(json.dumps(label), json.dumps(BAD_LABEL, ensure_ascii=False))
    old = json.loads(text)
    assert {t["team"] for t in old["policies"][0]["workload"]["by_team"]} == set(bad_names.values())

    for lang in ("zh", "en"):
        before = render_html(report, lang)
        html = render_html(old, lang)
        assert "\ufffd" not in before
        # no control, escape or bidi character in the page (tab and line feed of the template aside)
        assert not UNSAFE.findall(html), sorted(set(UNSAFE.findall(html)))
        assert "\r" not in html
        a, b = _parse(before), _parse(html)
        assert b.tags == a.tags  # nothing injected: the clean page's elements and attributes only
        shown_text = "".join(b.text)
        for name in bad_names.values():
            assert shown(name) in shown_text, (lang, shown(name))
        assert shown(BAD_LABEL) in shown_text and "<script>" in shown_text and "&amp;" in shown_text
        assert not re.search(r"<script|<b onclick", html)
