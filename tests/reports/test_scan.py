"""The vectorised JSONL reading agrees with ``json`` and ``datetime`` on every line it claims to read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor._time import to_us
from monitor.reports._scan import (
    decode_strings, flat_fields, gather, iter_chunks, make_chunk, parse_dates, parse_instants, prefixed_ids, seq_fields,
    sha256_file,
)

KEYS = ["type", "borrower_id", "event_id", "occurred_at", "exposure", "team"]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
value = st.one_of(text, st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                  st.booleans(), st.none())
obj = st.dictionaries(st.sampled_from(KEYS + ["name", "notes", "x"]), value, max_size=8)


def _line(d: dict, compact: bool, ascii_only: bool) -> bytes:
    seps = (",", ":") if compact else (", ", ": ")
    return json.dumps(d, separators=seps, ensure_ascii=ascii_only).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(obj, st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_flat_fields_agree_with_json(lines) -> None:
    raw = [_line(d, c, a) for d, c, a in lines]
    chunk = make_chunk(b"\n".join(raw) + b"\n", 1, 0)
    fields, bad = flat_fields(chunk, np.ones(chunk.lines, dtype=bool), KEYS)
    for i, (d, _, _) in enumerate(lines):
        if bad[i]:
            assert b'\\"' in raw[i] or b"\\\\" in raw[i], raw[i]  # only an escaped quote may defeat it
            continue
        for key in KEYS:
            fp = fields[key]
            if key not in d:
                assert fp.kind[i] == 0
            elif isinstance(d[key], str):
                assert fp.kind[i] == 1
                got = decode_strings(chunk, fp, np.array([i]))[0].decode("utf-8")
                assert got == d[key].rstrip("\x00")
            else:
                assert fp.kind[i] == 2
                token = chunk.data[fp.start[i]:fp.end[i]]
                assert json.loads(token) == d[key]


ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ids, st.one_of(st.none(), ids, st.lists(ids, max_size=3))), min_size=1, max_size=10),
       st.sampled_from([24, 256]))
def test_seq_fields_agree_with_json(rows, width) -> None:
    raw = [json.dumps({"a": a, "b": b, "c": [1]}, separators=(",", ":"), ensure_ascii=False).encode() for a, b in rows]
    chunk = make_chunk(b"\n".join(raw), 1, 0)
    fields, ok, pos = seq_fields(chunk, ("a", "b"), "c", width=width)
    a = decode_strings(chunk, fields["a"], np.arange(chunk.lines))
    b = decode_strings(chunk, fields["b"], np.arange(chunk.lines))
    for i, (va, vb) in enumerate(rows):
        if not ok[i]:
            assert b"\\" in raw[i] or len(raw[i]) > 200, raw[i]
            continue
        assert a[i].decode() == va.rstrip("\x00")
        assert (fields["b"].kind[i] == 1) == isinstance(vb, str)
        if isinstance(vb, str):
            assert b[i].decode() == vb.rstrip("\x00")
        assert chunk.data[pos[i]:pos[i] + 3] == b"[1]"


zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)),
                         timezone(timedelta(hours=14))])


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)), zones,
       st.sampled_from([0, 1, 3, 6]), st.booleans())
def test_instants_agree_with_datetime(dt, zone, digits, zulu) -> None:
    aware = dt.replace(tzinfo=zone)
    text = aware.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{aware.microsecond:06d}"[:digits]
    off = aware.utcoffset()
    text += "Z" if zulu and off == timedelta(0) else aware.strftime("%z")[:3] + ":" + aware.strftime("%z")[3:]
    raw = text.encode()
    us, ok = parse_instants(gather(np.frombuffer(raw, np.uint8), np.array([0]), 40), np.array([len(raw)]))
    assert ok[0], text
    assert us[0] == to_us(datetime.fromisoformat(text.replace("Z", "+00:00"))), text


def test_instants_it_cannot_read_are_flagged_not_misread() -> None:
    for text in ["2025-01-01T00:00:00", "2025-02-30T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T00:00:00.1234567Z",
                 "2025-01-01T00:00:00+0800", "20250101T000000Z", "2025-01-01T00:00:00Zx", "yesterday"]:
        raw = text.encode()
        _, ok = parse_instants(gather(np.frombuffer(raw, np.uint8), np.array([0]), 40), np.array([len(raw)]))
        assert not ok[0], text


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_dates_agree_with_date(d) -> None:
    raw = d.isoformat().encode()
    days, ok = parse_dates(gather(np.frombuffer(raw, np.uint8), np.array([0]), 10), np.array([10]))
    assert ok[0] and days[0] == (d - date(1970, 1, 1)).days


def test_chunks_cut_at_line_ends_from_any_line_start(tmp_path: Path) -> None:
    import gzip
    import hashlib

    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 50)}"}}'.encode() for i in range(2000)]
    data = b"\r\n".join(lines)  # CRLF, and no newline at the end
    for name, payload in (("a.jsonl", data), ("a.jsonl.gz", gzip.compress(data))):
        path = tmp_path / name
        path.write_bytes(payload)
        seen = [c.line(i) for c in iter_chunks(path, chunk_bytes=4096) for i in range(c.lines)]
        assert seen == lines
        assert sha256_file(path) == (hashlib.sha256(payload).hexdigest(), len(payload))
    path = tmp_path / "a.jsonl"
    middle = data.index(lines[700])
    part = [(c.first_line + i, c.line(i)) for c in iter_chunks(path, 999, start=middle, stop=data.index(lines[900]),
                                                               first_line=701) for i in range(c.lines)]
    assert part == [(701 + i, lines[700 + i]) for i in range(200)]


def test_prefixed_ids_read_only_what_matches() -> None:
    chunk = make_chunk(b'{"k":"0123","id":"B1","x":1}\n{"k":"012345","id":"B22"}\n{"k":"0123","id":"B\\"3"}\n'
                 b'{"q":"0123","id":"B4"}\n', 1, 0)
    values, ok = prefixed_ids(chunk, b'{"k":"', [(10, b'","id":"'), (12, b'","id":"')], width=8)
    assert ok.tolist() == [True, True, False, False]
    assert values[:2].tolist() == [b"B1", b"B22"]
