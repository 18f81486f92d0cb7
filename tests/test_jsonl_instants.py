"""``monitor.jsonl.plain_instants`` reads occurred_at from the text of a block's lines at once: for every line that
is a valid event it gives the instant validation gives, or says it did not read it (UNREAD); the lines the feeds
and the simulator write are all read."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor._time import to_us
from monitor.events import EVENT_ADAPTER
from monitor.jsonl import UNREAD, plain_instants

GOLDEN = Path(__file__).resolve().parent / "data" / "golden-events.jsonl.gz"


def _instant(raw: bytes) -> int | None:
    try:
        return to_us(EVENT_ADAPTER.validate_json(raw).occurred_at)
    except ValueError:
        return None


def _check(lines: list[bytes], ending: bytes = b"") -> list[int]:
    block = b"\n".join(x + ending for x in lines)
    got = plain_instants(block, [x.rstrip(b"\r") for x in block.split(b"\n")]).tolist()
    assert len(got) == len(lines)
    for raw, at in zip(lines, got):
        want = _instant(raw)
        assert at == UNREAD or want is None or at == want, (raw, at, want)
    return got


def test_the_plain_instants_of_valid_events_are_those_validation_gives() -> None:
    rng = random.Random(5)
    docs = [json.loads(x) for x in gzip.decompress(GOLDEN.read_bytes()).splitlines() if _instant(x) is not None]
    lines = []
    for doc in rng.sample(docs, 400):
        at = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(300 * 366 * 86_400))
        minutes = rng.choice([0, 0, 480, -300, 330, 840, -720, 1439, -1439])
        local = (at + timedelta(minutes=minutes)).replace(tzinfo=None).isoformat(timespec="seconds")
        sign = "+" if minutes >= 0 else "-"
        offset = "Z" if minutes == 0 and rng.random() < 0.5 else f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        lines.append(json.dumps({**doc, "occurred_at": local + offset}, ensure_ascii=False,
                                separators=(",", ":")).encode())
    for day in ("2024-02-29", "2000-02-29", "1900-02-28", "1900-03-01", "2199-12-31", "0001-01-01", "1969-12-31"):
        lines.append(json.dumps({**docs[0], "occurred_at": f"{day}T23:59:59+08:00"}, separators=(",", ":")).encode())
    for ending in (b"", b"\r"):
        got = _check(lines, ending)
        assert UNREAD not in got[:400]  # the plain form, compact JSON: every line read
        assert sum(_instant(x) is not None for x in lines) >= 400


def test_lines_written_otherwise_are_left_to_validation() -> None:
    """Fractions, other separators, spaces, escapes, a key written twice or escaped, impossible dates and
    times, and lines that are not events: never an instant other than validation's."""
    base = {"event_id": "e1", "type": "overdue", "borrower_id": "B1", "source": "core-banking", "account_id": "A1",
            "product": "term_loan", "days_past_due": 3, "overdue_amount": 10.0}

    def line(text: str, **more: object) -> bytes:
        doc = json.dumps({**base, **more}, separators=(",", ":"))
        return doc.replace('"source"', f'"occurred_at":"{text}","source"').encode() if text else doc.encode()

    odd = [line("2025-01-01T00:00:00.5Z"), line("2025-01-01t00:00:00Z"), line("2025-01-01 00:00:00Z"),
           line("2025-01-01T00:00:00z"), line("2025-02-30T00:00:00Z"), line("2025-13-01T00:00:00Z"),
           line("2025-01-01T24:00:00Z"), line("2025-01-01T00:00:60Z"), line("2025-01-01T00:00:00+24:00"),
           line("2025-01-01T00:00:00+0800"), line("2025-01-01T00:00:00"), line("2025-01-01T00:00Z"),
           line("2025-01-01T00:00:00Z", note="\\u0041"), line("2025-01-01T00:00:00Z", note="occurred_at"),
           line("2025-01-01T00:00:00Z").replace(b'"source"', b'"occurred\\u005fat":"2030-01-01T00:00:00Z","source"'),
           line("2025-01-01T00:00:00Z").replace(b'"source"', b'"occurred_at" : "2030-01-01T00:00:00Z","source"'),
           line("2025-01-01T00:00:00Z").replace(b'"source"', b'"occurred_at":"2030-01-01T00:00:00Z","source"'),
           line("2025-01-01T00:00:00Z").replace(b"}", b',"x":"\\"occurred_at\\":\\"2030-01-01T00:00:00Z\\""}'),
           line(""), b"", b"not json", b'{"occurred_at":"2025-01-01T00:00:00Z"', b'"occurred_at"',
           b'{"occurred_at":20250101}', line("2025-01-01T00:00:00Z").replace(b'"', b"'")]
    plain = line("2025-06-01T08:00:00+08:00")
    odd.append(plain)
    valid = [x for x in odd if _instant(x) is not None]
    assert plain in valid and len(valid) >= 6  # (a dated line validation reads otherwise is among them)
    for k in range(len(odd) + 1):
        lines = [plain, *odd[:k], plain, *odd[k:], plain]
        got = _check(lines)
        assert got[0] == got[k + 1] == got[-1] == to_us(datetime(2025, 6, 1, tzinfo=UTC))
    assert _check([line("2025-02-30T00:00:00Z")]) is not None
    assert plain_instants(b"", [b""]).tolist() == [UNREAD]


def test_as_many_keys_as_lines_is_not_one_in_each() -> None:
    """A block with as many ``"occurred_at"`` as lines, one line holding two and another none: neither is read
    (nor any line after them taken for another), the lines with one are."""
    plain = (b'{"event_id":"e1","type":"lawsuit","borrower_id":"B1","occurred_at":"2025-06-01T08:00:00+08:00",'
             b'"source":"court"}')
    twice = plain.replace(b'"source":"court"', b'"source":"occurred_at"')
    none = plain.replace(b'"occurred_at"', b'"occurred"')
    for lines in ([plain, twice, none, plain], [none, plain, plain, twice], [twice, none]):
        block = b"\n".join(lines)
        assert block.count(b'"occurred_at"') == len(lines)
        want = [to_us(datetime(2025, 6, 1, tzinfo=UTC)) if x is plain else UNREAD for x in lines]
        assert plain_instants(block, lines).tolist() == want
