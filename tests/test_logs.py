"""Structured logs: one JSON object per line, and no borrower name gets through."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from monitor.agents.runtime import Message, Runtime, StepResult, partition_for
from monitor.cli import cli
from monitor.engine import Engine
from monitor.events import EVENT_ADAPTER
from monitor.logs import MASK, configure_logging, logging_config, scrub
from monitor.rules.loader import default_policy
from monitor.simulate import simulate, write_simulation
from monitor.topics import Topics


@pytest.fixture
def captured():
    buf = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("debug", "json", stream=buf)
    try:
        yield buf
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_one_json_object_per_line_with_time_level_logger_message_and_extras(captured):
    log = logging.getLogger("monitor.worker")
    log.info("batch: %d messages in", 12, extra={"feed": "profiles", "alerts": 3})
    log.warning("two\nlines")
    docs = _lines(captured)
    assert len(docs) == 2  # the newline inside a message stays inside its JSON string
    first = docs[0]
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "monitor.worker"
    assert first["message"] == "batch: 12 messages in" and first["feed"] == "profiles" and first["alerts"] == 3
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert docs[1]["message"] == "two\nlines"


def test_personal_fields_and_printed_names_are_masked(captured):
    log = logging.getLogger("monitor.test")
    log.info("profile", extra={"borrower_name": "王五", "event": {"borrower_id": "B1", "name": "王五"}})
    log.info('raw %s', '{"borrower_id": "B1", "name": "赵\\"六"}')
    log.info("repr %r", {"name": "钱七", "team": "T1"})
    log.info("model LoanProfile(borrower_id='B1', name='孙八', team='T1')")
    text = captured.getvalue()
    for name in ("王五", "赵", "钱七", "孙八"):
        assert name not in text
    docs = _lines(captured)
    assert docs[0]["borrower_name"] == MASK and docs[0]["event"] == {"borrower_id": "B1", "name": MASK}
    assert "B1" in docs[1]["message"] and "T1" in docs[2]["message"] and "team='T1'" in docs[3]["message"]


def test_a_validation_error_traceback_does_not_print_the_name(captured):
    doc = {"type": "loan_profile", "event_id": "e1", "borrower_id": "B1", "occurred_at": "2025-01-01T00:00:00Z",
           "name": "周九", "exposure": -1}
    with pytest.raises(ValidationError) as err:
        EVENT_ADAPTER.validate_python(doc)
    assert "周九" in str(err.value)  # pydantic prints the input: exactly what must not reach a log
    try:
        EVENT_ADAPTER.validate_python(doc)
    except ValidationError:
        logging.getLogger("monitor.worker").exception("processing a batch failed")
    out = captured.getvalue()
    assert "周九" not in out
    (doc_line,) = _lines(captured)
    assert "ValidationError" in doc_line["exc_info"] and "input_value=***" in doc_line["exc_info"]


def test_replay_and_worker_paths_log_no_borrower_name(captured, tmp_path: Path):
    """Simulated profiles carry names; the replay command and the streaming runtime run at DEBUG with
    JSON logs, bad lines and dead letters included, and no name reaches the log."""
    events = tmp_path / "events.jsonl"
    write_simulation(simulate(40, 3, 7), events)
    lines = events.read_text().splitlines()
    names = {json.loads(x)["name"] for x in lines if '"name"' in x}
    assert len(names) > 10
    profile = next(x for x in lines if '"name"' in x)
    bad = json.loads(profile)
    bad["exposure"] = "lots"
    with events.open("a") as fh:
        fh.write(json.dumps(bad, ensure_ascii=False) + "\n")
    # the replay command (logging stays as configured: the CLI runs in this process)
    res = CliRunner().invoke(cli, ["replay", str(events), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    # the streaming runtime over the same lines, one partition, with the dead letter it makes
    topics = Topics("t.")
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(default_policy()), topics, clock="wall", partitions=1, get_state=store.get)
    rt.assign([0], [])
    out = StepResult()
    msgs = [Message(topics.feed(json.loads(x)["type"]), 0, i, json.loads(x)["borrower_id"].encode(), x.encode())
            for i, x in enumerate(events.read_text().splitlines())]
    assert partition_for("any", 1) == 0
    rt.accept(msgs, out)
    rt.step(out)
    assert out.dead and any(n in (out.dead[0].value_text or "") for n in names)  # the dead letter holds it
    log = logging.getLogger("monitor.worker")
    for d in out.dead:  # as a careless shell might log them
        log.warning("dead letter %s", d)
        log.warning("dead letter", extra={"dead_letter": d.model_dump()})
    log.debug("batch: %d messages in, %d alerts", len(msgs), len(out.alerts))
    text = captured.getvalue()
    assert text.count("\n") >= 3
    leaked = sorted(n for n in names if n in text)
    assert not leaked, leaked


def test_text_format_and_bad_arguments():
    assert logging_config("info", "text")["formatters"]["text"]
    with pytest.raises(ValueError, match="json or text"):
        logging_config("info", "xml")
    with pytest.raises(ValueError, match="log level"):
        logging_config("loud")
    assert scrub("name='A', input_value={'name': 'B', 'x': 1}, input_type=dict") == \
        "name=***, input_value=***, input_type=dict"


def test_uvicorns_colour_codes_do_not_reach_the_log(captured):
    # uvicorn.error as uvicorn logs it (a name of our own: a uvicorn started in this process may have
    # configured its loggers not to propagate)
    logging.getLogger("tests.uvicorn.error").info("Started server process [%d]", 42,
                                            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    (line,) = _lines(captured)
    assert line["message"] == "Started server process [42]" and "color_message" not in line
    assert "\x1b" not in captured.getvalue() and "\\u001b" not in captured.getvalue()


def test_dead_letters_are_logged_with_where_they_are_and_no_personal_data(captured):
    from monitor.agents.metrics import WorkerMetrics

    topics = Topics("t.")
    runtime = Runtime(Engine(default_policy()), topics, clock="wall", partitions=1, get_state=lambda bid: None)
    runtime.assign([0], [])
    metrics = WorkerMetrics(topics, partitions=1, policy_version="p")
    secret = '{"type": "loan_profile", "borrower_id": "B1", "name": "王小明", "exposure": -5}'
    bad = [Message(topics.feed("loan_profile"), 0, offset, b"B1", secret.encode(), handle=offset)
           for offset in (7, 8, 9)]
    bad.append(Message(topics.feed("lawsuit"), 0, 3, b"B1", "王小明 not json".encode(), handle=3))
    # reasons that quote the message's own values: a key that is not its borrower id, a type given as a name
    good = json.loads(secret) | {"exposure": 5, "segment": "small", "industry": "x", "branch": "b", "team": "t",
                                 "product": "p", "mitigation": "secured", "grade": "A", "event_id": "e1",
                                 "occurred_at": "2025-01-01T00:00:00Z", "disbursed_at": "2024-01-01T00:00:00Z",
                                 "borrower_id": "B7654321"}
    bad.append(Message(topics.feed("loan_profile"), 0, 10, b"B1234567", json.dumps(good).encode(), handle=10))
    typed = {"type": "王小明", "borrower_id": "B1", "event_id": "e2", "occurred_at": "2025-01-01T00:00:00Z"}
    bad.append(Message(topics.feed("lawsuit"), 0, 4, b"B1", json.dumps(typed, ensure_ascii=False).encode(), handle=4))
    out = StepResult()
    runtime.accept(bad, out)
    runtime.step(out, None)
    assert len(out.dead) == 6
    assert any("B7654321" in d.reason for d in out.dead)  # the dead-letter topic keeps the whole reason
    metrics.on_batch(out, started=0.0, decided=0.0, committed=0.0, messages=6)
    lines = [x for x in _lines(captured) if x["message"].startswith("dead letter")]
    assert len(lines) == 4  # one per topic-partition and reason
    by_reason = {x["reason"]: x for x in lines}
    assert set(by_reason) == {"invalid", "not_json", "key_mismatch", "unknown_type"}
    assert "key '***' differs from borrower_id '***'" in by_reason["key_mismatch"]["message"]
    assert "event_id: required" in by_reason["invalid"]["message"]  # what is wrong, without a value
    by_topic = {x["topic"]: x for x in lines if x["reason"] in ("invalid", "not_json")}
    p = by_topic["t.profiles"]
    assert p["level"] == "WARNING" and p["partition"] == 0 and p["count"] == 3
    assert (p["first_offset"], p["last_offset"]) == (7, 9) and p["feed"] == "profiles"
    assert by_topic["t.lawsuits"]["reason"] == "not_json"
    text = captured.getvalue()
    assert "王小明" not in text and "\\u738b" not in text.lower()
    # borrower ids are the bank's identifiers of people: not in logs either (the desk logs no path for that reason)
    for borrower_id in ("B1234567", "B7654321"):
        assert borrower_id not in text


def test_a_rebalance_s_routine_library_lines_are_info(captured):
    import inspect

    import aiokafka.consumer.group_coordinator as coordinator

    from monitor.logs import ROUTINE

    # the contract: the library still writes these lines (an upgrade that rewords one fails here)
    for logger, fmt in ROUTINE:
        assert logger == coordinator.log.name and f'"{fmt}"' in inspect.getsource(coordinator), fmt
    coordinator.log.warning("Heartbeat failed for group %s because it is rebalancing", "monitor")
    coordinator.log.warning("Heartbeat failed for group %s: generation id is not  current.", "monitor")
    routine, other = _lines(captured)
    assert routine["level"] == "INFO" and routine["message"].endswith("because it is rebalancing")
    assert other["level"] == "WARNING"  # anything else stays what the library said


def test_routine_lines_are_dropped_below_the_handlers_level():
    buf = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("warning", "json", stream=buf)
    try:
        log = logging.getLogger("aiokafka.consumer.group_coordinator")
        log.warning("Heartbeat failed for group %s because it is rebalancing", "monitor")
        log.warning("Heartbeat failed: local member_id was not recognized; resetting and re-joining group")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    (line,) = _lines(buf)
    assert line["level"] == "WARNING" and "member_id" in line["message"]
