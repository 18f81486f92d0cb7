"""The alert desk against a real broker and a real worker (marked ``integration``).

One worker (wall clock) and ``monitor serve`` processes share a module: the
worker decides, the desk shows it, commands round-trip through Kafka and the
worker applies them. Every wait is a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.desk.auth import add_user
from monitor.events import EVENT_ADAPTER
from monitor.settings import Settings
from monitor.topics import Topics, create_topics
from tests import factories as f
from tests.integration.kafka_harness import ROOT, Worker, read_topic, settings_env, wait_for

pytestmark = pytest.mark.integration


def not_found(bid: str) -> dict[str, object]:
    """The body of a 404 for a borrower (missing, or outside an inspector's teams: the same)."""
    return {"detail": f"borrower {bid!r} not found", "code": "borrower_not_found", "params": {"id": bid}}

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """A ``monitor serve`` process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.env = {**env, "MONITOR_PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve"], env={**os.environ, **self.env},
                                     stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        return self

    def ready(self, timeout: float = 60) -> Serve:
        def up() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"serve exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout, f"serve on port {self.port} ready")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)


def _events() -> list[Any]:
    """B1 (T1) and B4 (T2) go 45 days overdue (warning); B2 (T2) and B3 (T1) are only profiles."""
    evs = []
    for bid, team in (("B1", "T1"), ("B2", "T2"), ("B3", "T1"), ("B4", "T2")):
        evs.append(f.profile(T0, bid=bid, team=team, branch="SH01", eid=f"{bid}-profile"))
    evs.append(f.overdue(T0 + timedelta(days=1), 45, bid="B1", eid="B1-od"))
    evs.append(f.overdue(T0 + timedelta(days=1), 45, bid="B4", eid="B4-od"))
    return evs


def _produce(env: dict[str, str], path: Path, events: list[Any]) -> None:
    from monitor.produce import produce

    path.write_text("".join(EVENT_ADAPTER.dump_json(e).decode() + "\n" for e in events))
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    produce([path], Settings(**{keys[k]: v for k, v in env.items() if k in keys}), watermark=False)


class Env:
    def __init__(self, broker: Any, names: Any, tmp: Path) -> None:
        self.broker, self.names, self.tmp = broker, names, tmp
        # a fixed policy (the backtest tests' copy of the default these histories were written for), so that
        # "60 days past due is a warning" keeps its meaning when the shipped default is retuned
        policy = str(ROOT / "tests" / "backtest" / "policy.toml")
        self.env = settings_env(broker, names, tmp / "w", MONITOR_CLOCK="wall", MONITOR_TICK_SECONDS="0.5",
                                MONITOR_POLICY=policy)
        users = tmp / "users.toml"
        self.tokens = {
            "risk": add_user(users, "rita", "risk_officer", ()),
            "super": add_user(users, "sam", "supervisor", ()),
            "insp1": add_user(users, "ivan", "inspector", ("T1",)),
            "admin": add_user(users, "ada", "admin", ()),
        }
        self.serve_env = {"MONITOR_BROKER": broker.url, "MONITOR_TOPIC_PREFIX": names.prefix,
                          "MONITOR_USERS_FILE": str(users), "MONITOR_WRITE_TIMEOUT": "10",
                          "MONITOR_POLICY": policy}
        self.topics = Topics(names.prefix)
        self.worker: Worker | None = None
        self.serves: list[Serve] = []

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def serve(self, name: str) -> Serve:
        s = Serve(self.serve_env, self.tmp / f"{name}.log").start()
        self.serves.append(s)
        return s


@pytest.fixture(scope="module")
def desk(broker, tmp_path_factory) -> Iterator[Env]:
    from tests.integration.kafka_harness import Names

    e = Env(broker, Names(), tmp_path_factory.mktemp("desk"))
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    create_topics(Settings(**{keys[k]: v for k, v in e.env.items() if k in keys}))
    _produce(e.env, e.tmp / "events.jsonl", _events())
    e.worker = Worker(e.env, e.tmp / "worker.log").start()
    first = e.serve("serve-a")
    try:
        first.ready()
        yield e
    finally:
        for s in e.serves:
            s.stop()
        e.worker.terminate()


def _get(serve: Serve, path: str, headers: dict[str, str], **params: Any) -> Any:
    r = httpx.get(serve.url + path, headers=headers, params=params, timeout=10)
    r.raise_for_status()
    return r.json()


def _feed(e: Env, serve: Serve, **params: Any) -> list[dict[str, Any]]:
    return _get(serve, "/api/v1/alerts", e.h("risk"), limit=500, **params)["items"]


def test_an_alert_from_the_worker_appears_in_the_feed_and_is_pushed_to_the_stream(desk):
    e, serve = desk, desk.serves[0]
    def both() -> list[dict[str, Any]] | None:
        items = [i for i in _feed(e, serve) if i["alert"]["borrower_id"] in ("B1", "B4")]
        return items if {i["alert"]["borrower_id"] for i in items} == {"B1", "B4"} else None

    items = wait_for(both, 90, "the worker's alerts for B1 and B4 in the feed")
    assert all(i["case_status"] == "open" and i["alert"]["kind"] == "raised" for i in items)
    page = wait_for(lambda: (p := _get(serve, "/api/v1/borrowers/B1", e.h("risk")))["detail"] and p, 60,
                    "B1's detail from the borrowers topic")
    assert page["detail"]["overdue_accounts"][0]["days_past_due"] >= 45
    assert "name" not in page["detail"]["profile"] and page["tier_history"][0]["kind"] == "raised"
    got: list[str] = []
    subscribed = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", serve.url + "/api/v1/alerts/stream", headers=e.h("risk"),
                          params={"limit": 1, "team": "T1"}, timeout=60) as r:
            for line in r.iter_lines():
                subscribed.set()  # the stream subscribes before its first line
                if line.startswith("data: "):
                    got.append(json.loads(line[6:])["alert"]["borrower_id"])

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert subscribed.wait(30), "the push stream did not start"
    _produce(e.env, e.tmp / "b3.jsonl", [f.overdue(NOW - timedelta(hours=1), 45, bid="B3", eid="B3-od")])
    t.join(60)
    assert got == ["B3"]


def _case(e: Env, serve: Serve, bid: str) -> str:
    return wait_for(lambda: next((i["case_id"] for i in _feed(e, serve) if i["alert"]["borrower_id"] == bid
                                  and i["case_id"]), None), 90, f"a case for {bid}")


def test_acknowledgement_and_override_round_trip_through_kafka_to_the_audit_trail_and_the_worker(desk):
    e, serve = desk, desk.serves[0]
    case = _case(e, serve, "B1")
    r = httpx.post(f"{serve.url}/api/v1/cases/{case}/acknowledge", json={"reason": "calling the borrower"},
                   headers={**e.h("risk"), "X-Request-ID": "it-ack-1"}, timeout=30)
    assert r.status_code == 200, r.text  # read back from the audit topic within the timeout
    assert r.json()["case"]["status"] == "acknowledged" and r.json()["case"]["acknowledged_by"] == "rita"
    until = (NOW + timedelta(days=10)).isoformat()
    r = httpx.post(f"{serve.url}/api/v1/borrowers/B2/overrides", headers={**e.h("risk"), "X-Request-ID": "it-ov-1"},
                   json={"action": "set", "direction": "floor", "tier": "warning", "until": until,
                         "reason": "owner detained"}, timeout=30)
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]
    trail = _get(serve, "/api/v1/borrowers/B1/audit", e.h("super"))
    assert [(a["user"], a["action"], a["reason"], a["request_id"]) for a in trail] == \
        [("rita", "acknowledge", "calling the borrower", "it-ack-1")]
    on_topic = [json.loads(m.value) for m in read_topic(e.broker.bootstrap, e.topics.audit)]
    assert {(d["borrower_id"], d["action"]) for d in on_topic} >= {("B1", "acknowledge"), ("B2", "override")}
    sent = [json.loads(m.value) for m in read_topic(e.broker.bootstrap, e.topics.feed("tier_override"))]
    assert [(d["event_id"], d["borrower_id"], d["requested_by"]) for d in sent] == [(event_id, "B2", "rita")]

    def override_alert() -> dict[str, Any] | None:  # the worker applied the floor: B2 raised with its evidence
        for i in _feed(e, serve):
            a = i["alert"]
            if a["borrower_id"] == "B2" and any(s["family"] == "override" for s in a["signals"]):
                return a
        return None

    a = wait_for(override_alert, 60, "an alert for B2 carrying the override signal")
    assert a["to_tier"] == "warning" and a["kind"] == "raised"
    assert event_id in [eid for s in a["signals"] for eid in s["event_ids"]]

    def detail_with_floor() -> dict[str, Any] | None:  # the worker's borrower detail, read by the desk
        d = _get(serve, "/api/v1/borrowers/B2", e.h("risk"))["detail"]
        return d if d and any(o["event_id"] == event_id for o in d["overrides"]) else None

    d = wait_for(detail_with_floor, 60, "B2's detail with the floor")
    assert (d["tier"], d["computed_tier"], d["profile"]["team"]) == ("warning", "normal", "T2")
    assert [(o["direction"], o["tier"], o["requested_by"]) for o in d["overrides"]] == [("floor", "warning", "rita")]


def test_a_cap_needs_a_second_officer_and_then_reaches_the_worker(desk):
    e, serve = desk, desk.serves[0]
    _case(e, serve, "B4")
    until = (NOW + timedelta(days=30)).isoformat()
    r = httpx.post(f"{serve.url}/api/v1/borrowers/B4/overrides", headers=e.h("risk"), timeout=30,
                   json={"action": "set", "direction": "cap", "tier": "watch", "until": until,
                         "reason": "arrears repaid, statement pending"})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    request = r.json()["record_id"]
    sent = [m for m in read_topic(e.broker.bootstrap, e.topics.feed("tier_override"))
            if json.loads(m.value)["borrower_id"] == "B4"]
    assert sent == []  # nothing reaches the engine before the approval
    r = httpx.post(f"{serve.url}/api/v1/override-requests/{request}/approve", headers=e.h("super"), timeout=30,
                   json={"reason": "bank statement seen"})
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]

    def capped() -> dict[str, Any] | None:
        for i in _feed(e, serve):
            a = i["alert"]
            if a["borrower_id"] == "B4" and a["to_tier"] == "watch" and \
                    event_id in [x for s in a["signals"] for x in s["event_ids"]]:
                return a
        return None

    a = wait_for(capped, 60, "an alert lowering B4 to watch under the approved cap")
    assert a["kind"] == "de_escalated" and a["computed_tier"] == "warning"
    doc = next(json.loads(m.value) for m in read_topic(e.broker.bootstrap, e.topics.feed("tier_override"))
               if json.loads(m.value)["event_id"] == event_id)
    assert (doc["requested_by"], doc["approved_by"], doc["direction"]) == ("rita", "sam", "cap")


def test_an_inspector_of_one_team_cannot_see_or_change_another_teams_visits(desk):
    e, serve = desk, desk.serves[0]
    wait_for(lambda: httpx.get(serve.url + "/api/v1/borrowers/B4", headers=e.h("admin"), timeout=5).status_code
             == 200, 60, "B4 known to the desk")
    assert httpx.get(serve.url + "/api/v1/teams/T2/schedule", headers=e.h("insp1")).status_code == 403
    assert httpx.get(serve.url + "/api/v1/teams/T2/schedule.ics", headers=e.h("insp1")).status_code == 403
    hidden = httpx.get(serve.url + "/api/v1/borrowers/B4", headers=e.h("insp1"))  # T2's: as if it did not exist
    missing = httpx.get(serve.url + "/api/v1/borrowers/B404", headers=e.h("insp1"))
    assert (hidden.status_code, hidden.json()) == (404, not_found("B4"))
    assert (missing.status_code, missing.json()) == (404, not_found("B404"))
    r = httpx.post(serve.url + "/api/v1/borrowers/B4/visits", json={"outcome": "normal"}, headers=e.h("insp1"))
    assert (r.status_code, r.json()) == (404, not_found("B4"))
    own = _get(serve, "/api/v1/teams/T1/schedule", e.h("insp1"), end=(NOW + timedelta(days=400)).date().isoformat())
    assert {i["borrower_id"] for i in own["items"]} >= {"B1"} and all(i["team"] == "T1" for i in own["items"])
    r = httpx.post(serve.url + "/api/v1/borrowers/B1/visits", json={"outcome": "concern", "notes": "停产"},
                   headers=e.h("insp1"), timeout=30)
    assert r.status_code == 200, r.text

    def inspected() -> bool:  # the worker applied the inspection: B1's next visit follows from it
        entry = _get(serve, "/api/v1/borrowers/B1", e.h("insp1"))["schedule"]
        return entry is not None and entry["reason"].startswith("inspected")

    wait_for(inspected, 60, "B1's schedule moved by the recorded visit")
    trail = [json.loads(m.value) for m in read_topic(e.broker.bootstrap, e.topics.audit)]
    assert not any(d["borrower_id"] == "B4" and d["action"] == "record_visit" for d in trail)
    refused = [(d["user"], d["borrower_id"], d["details"]["route"], d["details"]["status"]) for d in trail
               if d["action"] == "refused" and d["user"] == "ivan"]  # on the audit topic, with who and what
    assert ("ivan", "B4", "/api/v1/borrowers/{borrower_id}", 404) in refused
    assert ("ivan", "B4", "/api/v1/borrowers/{borrower_id}/visits", 404) in refused
    assert ("ivan", None, "/api/v1/teams/{team}/schedule", 403) in refused
    log = (e.tmp / "serve-a.log").read_text()
    assert '"user": "ivan"' in log and '"route": "/api/v1/borrowers/{borrower_id}"' in log  # request lines


def test_control_characters_in_a_name_get_an_answer_never_a_dropped_connection_and_slashes_work(desk):
    """Over real HTTP (uvicorn, h11): a team name with LF, CR or NUL is refused with a 422, never a 500 or
    a connection closed without an answer; a borrower id with a slash opens."""
    e, serve = desk, desk.serves[0]
    for char in ("%0A", "%0D", "%00", "%0D%0AX-Injected:%201"):
        for route in (f"/api/v1/teams/T{char}1/schedule.csv", f"/api/v1/teams/T{char}1/schedule.ics",
                      f"/api/v1/teams/T{char}1/schedule"):
            r = httpx.get(serve.url + route, headers=e.h("risk"), timeout=10)
            assert r.status_code == 422 and "control character" in r.text, (route, r.status_code, r.text)
            assert "x-injected" not in r.headers
        r = httpx.get(f"{serve.url}/api/v1/feeds/T{char}1.ics", params={"key": "feed_nope"}, timeout=10)
        assert r.status_code == 422, (char, r.text)
    r = httpx.get(serve.url + "/api/v1/teams/NOPE/schedule", headers=e.h("risk"), timeout=10)
    assert r.status_code == 404
    _produce(e.env, e.tmp / "slash.jsonl", [f.profile(T0, bid="B/5", team="T1", branch="SH01", eid="B/5-profile"),
                                             f.overdue(NOW - timedelta(hours=2), 45, bid="B/5", eid="B/5-od")])
    page = wait_for(lambda: (r := httpx.get(serve.url + "/api/v1/borrowers/B%2F5", headers=e.h("insp1"),
                                            timeout=10)).status_code == 200 and r.json()["detail"] and r.json(),
                    90, "the borrower B/5 opened by its encoded id")
    assert page["borrower_id"] == "B/5" and page["detail"]["as_of"] is not None
    r = httpx.post(serve.url + "/api/v1/borrowers/B%2F5/visits", json={"outcome": "normal"}, headers=e.h("insp1"),
                   timeout=30)
    assert r.status_code == 200, r.text


def _snapshot(e: Env, serve: Serve) -> Any:
    h = e.h("admin")
    out: dict[str, Any] = {"alerts": _get(serve, "/api/v1/alerts", h, limit=500),
                           "cases": _get(serve, "/api/v1/cases", h, limit=500),
                           "schedule": _get(serve, "/api/v1/teams/T1/schedule", h)}
    for bid in ("B1", "B2", "B3", "B4"):
        out[bid] = _get(serve, f"/api/v1/borrowers/{bid}", h)
        out[bid + "-audit"] = _get(serve, f"/api/v1/borrowers/{bid}/audit", h)
    return out


def test_a_restarted_serve_and_a_second_replica_answer_the_same(desk):
    e, first = desk, desk.serves[0]
    case = _case(e, first, "B4")
    r = httpx.post(f"{first.url}/api/v1/cases/{case}/notes", headers={**e.h("risk"), "X-Request-ID": "it-note-1"},
                   json={"kind": "action_plan", "text": "要求追加担保", "reason": "plan agreed"}, timeout=30)
    assert r.status_code == 200, r.text
    second = e.serve("serve-b").ready()
    wait_for(lambda: _snapshot(e, first) == _snapshot(e, second), 60, "the two replicas to agree")
    first.stop()
    again = e.serve("serve-a2").ready()
    wait_for(lambda: _snapshot(e, again) == _snapshot(e, second), 60, "the restarted replica to answer the same")
    snap = _snapshot(e, again)
    notes = _get(again, f"/api/v1/cases/{case}", e.h("admin"))["notes"]
    assert [(n["user"], n["kind"], n["text"]) for n in notes] == [("rita", "action_plan", "要求追加担保")]
    assert snap["B4-audit"][-1]["request_id"] == "it-note-1" and snap["B4-audit"][-1]["action"] == "note"
    assert {i["alert"]["borrower_id"] for i in snap["alerts"]["items"]} >= {"B1", "B4"}
