"""The workers' part of the desk report bench (``desk_report_bench.py --save-rows DIR --jobs N``): what the workers
publish on the day-ends and alerts topics up to six hours after the period's end, made by the worker's own
:class:`monitor.agents.runtime.Runtime` (event clock, day-end rows on), partitions split across processes.

The workers own partitions; a partition's rows depend only on its own messages and on the steps that carry them
(:meth:`Runtime.step` releases, settles and publishes partition by partition). So each process runs one runtime over
its partitions (``p % jobs``) with the same steps as one runtime over all (the feed messages in time order, 5,000 a
step, then a watermark per partition), and the rows are merged by step: what a single runtime publishes, but for
the order of different partitions' rows within a step (the desk reads the day-ends topic's partitions in any
interleaving anyway).

``fast``: the outputs the rows never read (the borrower's stored form, detail and schedule entry of every touched
borrower, :func:`monitor.agents.runtime._outputs`) are not made, and the runtime's state cache is unbounded (the
stored forms are never read back). Checked against the runtime as it is: the desk's input directory and report
written from the rows of both are ``diff -r`` equal (bench/RESULTS.md, 2026-12-07).

Memory: per process, its borrowers' states (the runtime's cache); the lines are read back by their file offsets a
step at a time.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from monitor._time import iso, parse_instant
from monitor.topics import Topics, partition_for

STEP = 5000  # feed messages a step (as the serial bench)


def scan(events: Path, horizon: int, topics: Topics, partitions: int) -> dict[str, Any]:
    """The feed messages up to ``horizon`` in the order the topics hold them (time, then line): each line's file
    offset and length, topic rank and partition, and its offset in its (topic, partition)."""
    ranks = {t: i for i, t in enumerate(topics.inputs)}
    part_of: dict[str, int] = {}
    at_, pos_, len_, rank_, part_ = array("q"), array("q"), array("l"), array("b"), array("h")
    pos = 0
    with events.open("rb") as fh:
        for raw in fh:
            doc = json.loads(raw)
            at = parse_instant(doc["occurred_at"])
            if at <= horizon:
                bid = doc["borrower_id"]
                p = part_of.get(bid)
                if p is None:
                    p = part_of[bid] = partition_for(bid, partitions)
                at_.append(at)
                pos_.append(pos)
                len_.append(len(raw.rstrip(b"\n")))
                rank_.append(ranks[topics.feed(doc["type"])])
                part_.append(p)
            pos += len(raw)
    order = np.argsort(np.frombuffer(at_, dtype=np.int64), kind="stable")
    rank = np.frombuffer(rank_, dtype=np.int8)[order]
    part = np.frombuffer(part_, dtype=np.int16)[order]
    # each message's offset in its (topic, partition): its rank among those before it in the order
    key = rank.astype(np.int64) * partitions + part
    off = np.zeros(order.size, dtype=np.int64)
    ends: dict[tuple[str, int], int] = {}
    for k in np.unique(key).tolist():
        where = np.flatnonzero(key == k)
        off[where] = np.arange(where.size)
        ends[(topics.inputs[k // partitions], k % partitions)] = int(where.size)
    return {"pos": np.frombuffer(pos_, dtype=np.int64)[order], "len": np.frombuffer(len_, dtype=np.int64)[order],
            "rank": rank, "part": part, "off": off, "ends": ends, "horizon": horizon}


def _child(job: int, jobs: int, events: Path, plan: dict[str, Any], partitions: int, prefix: str, out: Path,
           fast: bool) -> None:
    """One process's runtime over the partitions ``p % jobs == job``; writes ``out``: records (step, partition,
    kind 0 day-end message / 1 alert, length, value)."""
    from monitor.agents import runtime as rtm
    from monitor.agents.runtime import Message, Runtime, StepResult
    from monitor.engine import Engine
    from monitor.rules.loader import default_policy

    if fast:
        rtm._CACHE_LIMIT = 1 << 62
        rtm._outputs = lambda engine, state, key: (b"", None, None)  # type: ignore[assignment]
    policy = default_policy()
    topics = Topics(prefix)
    inputs = topics.inputs
    store: dict[str, bytes] = {}
    rt = Runtime(Engine(policy), topics, clock="event", partitions=partitions, get_state=store.get)
    mine = [p for p in range(partitions) if p % jobs == job]
    rt.assign(mine, [])
    sel = np.flatnonzero(np.isin(plan["part"], mine))
    steps = sel // STEP
    n_steps = (plan["pos"].size + STEP - 1) // STEP
    bounds = np.searchsorted(steps, np.arange(n_steps + 1))
    fd = os.open(events, os.O_RDONLY)
    pos, ln, rank, part, off = plan["pos"], plan["len"], plan["rank"], plan["part"], plan["off"]
    with out.open("wb") as sink:
        def run(k: int, chunk: list[Any]) -> None:
            res = StepResult()
            rt.accept(chunk, res)
            rt.step(res)
            if not fast:
                store.update(res.states)
            for bid, value in res.day_ends:
                sink.write(np.array([k, partition_for(bid, partitions), 0, len(value)], dtype="<i4").tobytes() + value)
            for a in res.alerts:
                value = a.model_dump_json().encode()
                sink.write(np.array([k, 0, 1, len(value)], dtype="<i4").tobytes() + value)

        for k in range(n_steps):
            chunk = []
            for i in sel[bounds[k]:bounds[k + 1]].tolist():
                value = os.pread(fd, int(ln[i]), int(pos[i]))
                doc_key = json.loads(value)["borrower_id"].encode()
                chunk.append(Message(inputs[rank[i]], int(part[i]), int(off[i]), doc_key, value, i, handle=None))
            run(k, chunk)
        marks = [Message(topics.clock, p, 0, None, json.dumps({"at": iso(plan["horizon"]), "offsets": {
            t: plan["ends"].get((t, p), 0) for t in inputs}}).encode()) for p in mine]
        run(n_steps, marks)
    os.close(fd)


def _records(path: Path, job: int) -> Any:
    """A process's records: ((step, job, n), partition or -1 for an alert, value), in its order."""
    with path.open("rb") as fh:
        n = 0
        while head := fh.read(16):
            k, p, kind, size = np.frombuffer(head, dtype="<i4").tolist()
            yield (k, job, n), (p if kind == 0 else -1), fh.read(size)
            n += 1


def publish(events: Path, horizon: int, partitions: int, prefix: str, save: Path, jobs: int,
            fast: bool) -> dict[str, Any]:
    """Write what the workers publish into ``save`` (``day-ends.bin``: the day-end messages, each as partition,
    length (4 bytes each, little-endian) and value; ``alerts.jsonl``), merged by step, then by process; returns
    the figures (messages, rows, bytes, alerts, the topics' end offsets, times)."""
    import heapq

    t0 = time.perf_counter()
    plan = scan(events, horizon, Topics(prefix), partitions)
    t1 = time.perf_counter()
    save.mkdir(parents=True, exist_ok=True)
    outs = [save / f"worker-{j}.tmp" for j in range(jobs)]
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_child, args=(j, jobs, events, plan, partitions, prefix, outs[j], fast))
             for j in range(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise SystemExit(f"a worker process failed (exits {[p.exitcode for p in procs]})")
    t2 = time.perf_counter()
    n_msgs = n_rows = n_bytes = n_alerts = 0
    with (save / "day-ends.bin").open("wb") as rows, (save / "alerts.jsonl").open("wb") as alerts:
        for _key, p, value in heapq.merge(*(_records(path, j) for j, path in enumerate(outs)), key=lambda r: r[0]):
            if p < 0:
                alerts.write(value + b"\n")
                n_alerts += 1
            else:
                rows.write(p.to_bytes(4, "little") + len(value).to_bytes(4, "little") + value)
                n_msgs += 1
                n_rows += value.count(b"\n") + 1
                n_bytes += len(value)
    for path in outs:
        path.unlink()
    return {"messages": int(plan["pos"].size), "day_end_messages": n_msgs, "rows": n_rows, "bytes": n_bytes,
            "alerts": n_alerts, "offsets": [[t, p, o] for (t, p), o in sorted(plan["ends"].items())],
            "scan_s": t1 - t0, "workers_s": t2 - t1, "merge_s": time.perf_counter() - t2}
