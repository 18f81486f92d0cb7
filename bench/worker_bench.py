"""Streaming-worker benchmark against a real Kafka broker: throughput, its ceilings, and latency.

    python bench/worker_bench.py [--events N] [--port 39092] [--only r,a,b,c,d,e,f] [--profile-seconds 20]

About 15 minutes on 2 cores with the default time caps; ``--events 50000`` and
small caps give a quick check.

Simulates a portfolio of ~1M events (17,000 borrowers x 24 months, seed 5;
cached in /tmp/wb/) and measures in ONE run. Every setup gets fresh topics (its
own prefix, 8 partitions) filled with ``monitor.produce.produce`` BEFORE its
consumer starts, and its own consumer group:

(r)  the floor: ``monitor.replay`` in this process (validation + engine, no
     Kafka) on the first 100,000 events;
(a)  ``python -m monitor worker`` (event clock, rocksdb://, its default batch size);
(b)  a plain Faust agent that reads, updates and writes a RocksDB table entry
     once per event (``async for event in stream: table[k] = ...``);
(c)  an empty Faust agent, ``stream.take(1000, within=0.2)`` (the Faust
     ceiling); (c') the same with a plain ``async for``;
(d)  a bare aiokafka consumer draining the same topics with ``getmany``;
(e)  event-to-alert latency: a worker on the wall clock, caught up; events sent
     at a fixed rate (default 2,000/s; first a short run at ``--low-rate``);
     every borrower gets a profile, then (``--lead`` s later) an overdue event
     at 35 days past due, which raises an alert at once; latency = alert
     arrival at a consumer - send time of the overdue event;
(f)  two worker processes (same app id, own data dirs) on the same input.

(a), (b), (c), (f) are timed by polling (every 0.2 s) the group's committed
offsets (kafka-python's KafkaAdminClient.list_group_offsets) against the end
offsets of the six input topics. The window opens at the first poll where the
committed offsets have moved (so process start, group join and recovery are
left out; for (f) also until the group is Stable with both members) and closes
when every input partition is committed to its end, or at a time cap ("time-
capped"), or when the committed offsets have not moved for ``--stall`` seconds
("stalled": the rest is held, e.g. events waiting for a watermark). The BUSY
SPAN runs from the window's opening to the last poll at which the committed
offsets rose; the headline rate is the committed events over the busy span's
SECOND half: on the event clock the worker reads ahead and buffers validated
events before its first commit, so the start finishes work done before it and
overstates the rate, and a tail where nothing moves any more (events held at
the end of a finished feed) is not work and would understate it. A worker that
is merely slow keeps raising its offsets to the end of the window, so its busy
span is the whole window and nothing flatters it. The whole window's rate, and
the events held at its end, are printed too. (d) times itself from assignment
to its last record.

With ``--profile-seconds`` it records the (a) worker with py-spy (if
installed) and prints the main thread's time by category.

The machine may be shared: every figure comes with the CPU its processes used
in the window (as a share of one core), the CPU the rest of the machine used
("others", from /proc/stat), and the rate per CPU-second of the measured
process, which is much less sensitive to other load than events/s.

The bench starts its own broker with deploy/kafka/kafka.sh on ``--port``
(controller on port+1, data in ``--kafka-data``) unless one already answers
there, and stops it (wiping its data) at the end if it started it. Every wait
has a deadline; every process it starts is stopped in ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.settings import Settings
from monitor.topics import Topics, create_topics

KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1

# ----------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (all its threads, and its waited-for children), from /proc."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process, MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        parts = Path("/proc/stat").read_text().splitlines()[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
        return (user + nice + system + irq + softirq + steal) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU used by named processes, by this bench, and by everything else, between two snapshots."""

    def __init__(self, pids: dict[str, Callable[[], int | None]]) -> None:
        self.pids = pids
        self.base: dict[str, float] = {}

    def snap(self) -> dict[str, float]:
        snap = {name: cpu_seconds(get()) for name, get in self.pids.items()}
        snap["bench"] = time.process_time()
        snap["machine"] = machine_busy()
        snap["t"] = time.monotonic()
        return snap

    @staticmethod
    def shares(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        """Shares of one core from snapshot ``a`` to ``b``: per named process, 'bench', 'others'."""
        wall = max(1e-9, b["t"] - a["t"])
        used = {k: max(0.0, b[k] - a.get(k, 0.0)) for k in b if k != "t"}
        machine = used.pop("machine")
        out = {k: v / wall for k, v in used.items()}
        out["others"] = max(0.0, machine - sum(used.values())) / wall
        return out

    def start(self) -> None:
        self.base = self.snap()

    def stop(self) -> dict[str, float]:
        return self.shares(self.base, self.snap())


class Proc:
    """A subprocess in its own session (so that its whole group can be stopped)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logfile: Path, cwd: Path) -> None:
        self.name = name
        self.logfile = logfile
        with logfile.open("ab") as fh:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd,
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
        try:  # anything left in its group (there should be nothing)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "WB_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``xs``."""
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


# ----------------------------------------------------------------------------- Kafka side


class Kafka:
    """The broker and an admin client."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.bootstrap = f"{self.host}:{port}"
        self.env = {"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1),
                    "KAFKA_DATA_DIR": str(data_dir), "KAFKA_AUTO_CREATE_TOPICS": "false"}
        self.data_dir = data_dir
        self.started_here = False
        self.admin: Any = None

    def _sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(KAFKA_SH), *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        if reachable(self.host, self.port):
            log(f"using the broker already answering on {self.bootstrap}")
        else:
            log(f"starting a broker on {self.bootstrap} (data {self.data_dir})")
            self.started_here = True  # from here on, stop (and wipe) it at the end, even if start fails
            done = self._sh("start")
            if done.returncode != 0:
                raise RuntimeError(f"kafka.sh start failed:\n{done.stderr[-3000:]}")
        from kafka.admin import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=[self.bootstrap], client_id="worker-bench",
                                      request_timeout_ms=30_000)

    def stop(self) -> None:
        if self.admin is not None:
            try:
                self.admin.close()
            except Exception as exc:  # noqa: BLE001
                log(f"closing the admin client: {exc!r}")
            self.admin = None
        if self.started_here:
            log("stopping the broker (--wipe)")
            done = self._sh("stop", "--wipe", timeout=120)
            if done.returncode != 0:
                log(f"kafka.sh stop failed: {done.stderr[-2000:]}")

    def broker_pid(self) -> int | None:
        try:
            return int((self.data_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def create(self, specs: list[tuple[str, int, dict[str, str]]]) -> None:
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        existing = set(self.admin.list_topics())
        wanted = [NewTopic(n, num_partitions=p, replication_factor=1, topic_configs=c)
                  for n, p, c in specs if n not in existing]
        if wanted:
            try:
                self.admin.create_topics(wanted, timeout_ms=30_000)
            except TopicAlreadyExistsError:
                pass
        self.wait_leaders([n for n, _, _ in specs])

    def wait_leaders(self, topics: list[str], timeout: float = 60.0) -> None:
        """Wait until every partition of ``topics`` has a leader (a fresh topic has none for a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                described = self.admin.describe_topics(topics)
                if len(described) == len(topics) and all(
                        d.get("partitions") and all(p.get("leader_id", p.get("leader", -1)) not in (-1, None)
                                                    for p in d["partitions"]) for d in described):
                    return
            except Exception:  # noqa: BLE001, S110 - not yet: asked again below
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics without a leader after {timeout:.0f} s: {topics}")
            time.sleep(0.2)

    def end_offsets(self, topics: list[str], partitions: int) -> dict[Any, int]:
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec

        specs = {TopicPartition(t, p): OffsetSpec.LATEST for t in topics for p in range(partitions)}
        return {tp: int(v.offset) for tp, v in self.admin.list_partition_offsets(specs).items()}

    def committed(self, group: str, tps: list[Any]) -> dict[Any, int]:
        """The group's committed offsets of ``tps`` (0 where nothing is committed yet), with kafka-python
        3's ``KafkaAdminClient.list_group_offsets`` (2.x called it list_consumer_group_offsets)."""
        try:
            got = self.admin.list_group_offsets({group: list(tps)}).get(group, {})
        except Exception:  # noqa: BLE001 - coordinator not there yet, group loading, ...
            return {tp: 0 for tp in tps}
        out = {}
        for tp in tps:
            om = got.get(tp)
            off = getattr(om, "offset", -1) if om is not None else -1
            out[tp] = off if off is not None and off >= 0 else 0
        return out

    def members(self, group: str) -> tuple[str, int]:
        try:
            d = self.admin.describe_groups([group])[group]
            return str(d.get("group_state")), len(d.get("members") or [])
        except Exception:  # noqa: BLE001
            return "?", 0


# ----------------------------------------------------------------------------- events


def ensure_events(path: Path, borrowers: int, months: int, seed: int) -> Path:
    """The simulated events file, made once: written under another name and renamed when complete, so
    that an interrupted simulation is never taken for the cache."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"simulating {borrowers:,} borrowers x {months} months (seed {seed}) -> {path}")
        t = time.perf_counter()
        partial = path.with_name(f"{path.stem}.partial.jsonl")
        done = subprocess.run([sys.executable, "-m", "monitor", "simulate", "--borrowers", str(borrowers),
                               "--months", str(months), "--seed", str(seed), "--out", str(partial)],
                              cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"simulate failed: {done.stderr[-2000:]}")
        partial.rename(path)
        log(f"simulated in {time.perf_counter() - t:.1f} s")
    return path


def subset(path: Path, n: int | None) -> tuple[Path, int]:
    """The first ``n`` lines of the (time-sorted) events file, cached next to it."""
    if n is None:
        with path.open("rb") as fh:
            return path, sum(1 for _ in fh)
    out = path.with_name(f"{path.stem}.first{n}.jsonl")
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        count = 0
        with path.open("rb") as src, tmp.open("wb") as dst:
            for line in src:
                if count >= n:
                    break
                dst.write(line)
                count += 1
        tmp.rename(out)
    with out.open("rb") as fh:
        return out, sum(1 for _ in fh)


# ----------------------------------------------------------------------------- figures


@dataclass
class Figure:
    name: str
    events: int = 0  # events in the measured window
    seconds: float = 0.0
    rate: float = 0.0
    total: int = 0  # input events in the topics
    drained: bool = False
    consumers: tuple[str, ...] = ()  # the measured process(es), for the rate per CPU-second
    cpu: dict[str, float] = field(default_factory=dict)  # shares of one core over the window
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_rate(self) -> float:
        used = sum(self.cpu.get(c, 0.0) for c in self.consumers)
        return self.rate / used if used > 0 else 0.0

    def line(self) -> str:
        text = (f"{self.name:<47} {self.rate:>8,.0f} ev/s {self.cpu_rate:>9,.0f} ev/cpu-s   "
                f"{self.events:>9,} ev in {self.seconds:5.1f} s")
        if "window" in self.extra:
            n, secs = self.extra["window"]
            text += f"; whole window {n / max(1e-9, secs):,.0f} ev/s ({n:,} ev in {secs:.0f} s)"
        if "busy" in self.extra:
            text += f"; busy span {self.extra['busy']:.0f} s"
        return text + ("" if self.drained else ", stalled" if self.extra.get("held", (0, 0, False))[2]
                       else ", time-capped")

    def detail(self) -> str:
        more = ["cpu " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in self.cpu.items())]
        ex = self.extra
        if "startup_s" in ex:
            more.append(f"offsets first moved {ex['startup_s']:.1f} s after start")
        if ex.get("rss"):
            more.append("peak RSS " + ", ".join(f"{v:,.0f} MB" for v in ex["rss"].values()))
        if "held" in ex:
            n, secs, stalled = ex["held"]
            more.append(f"{n:,} events not committed at the end ({'stalled' if stalled else 'still'} "
                        f"{secs:.0f} s after the last rise)")
        if ex.get("from_start_rate"):
            more.append(f"incl. start-up {ex['from_start_rate']:,.0f} ev/s")
        if ex.get("from_first_alert_rate"):
            more.append(f"from first alert {ex['from_first_alert_rate']:,.0f} ev/s")
        if self.note:
            more.append(self.note)
        return "      " + "; ".join(more)


# ----------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, kafka: Kafka, events_path: Path, n_events: int,
                 work: Path) -> None:
        self.args = args
        self.kafka = kafka
        self.events_path = events_path
        self.n_events = n_events
        self.work = work
        self.tag = uuid.uuid4().hex[:6]
        self.procs: list[Proc] = []
        self.figures: dict[str, Figure] = {}
        self.latency: list[dict[str, Any]] = []
        self.profile: str = ""
        self.worker_argv = [sys.executable, "-m", "monitor", "worker", "--loglevel", "info"]

    # ---- plumbing

    def names(self, setup: str) -> tuple[str, str]:
        setup = setup.replace("'", "2")  # c' -> c2: names allow [A-Za-z0-9._-]
        return f"wb{self.tag}-{setup}.", f"wb{self.tag}-{setup}"

    def settings(self, prefix: str, app_id: str, **kw: Any) -> Settings:
        base: dict[str, Any] = {
            "broker": f"kafka://{self.kafka.bootstrap}", "topic_prefix": prefix, "app_id": app_id,
            "partitions": self.args.partitions, "replication_factor": 1, "store": "rocksdb://",
            "data_dir": self.work / app_id, "clock": "event", "web_port": 0, "batch_size": self.args.batch_size}
        base.update(kw)
        return Settings(**base)

    def create_all(self, settings: Settings) -> None:
        """The monitor's topics (and its Faust internals) for ``settings``, with leaders elected."""
        create_topics(settings)
        t = Topics(settings.topic_prefix)
        self.kafka.wait_leaders([x.name for x in t.specs()] + [n for n, _, _ in t.internal(settings.app_id)])

    def produce(self, settings: Settings) -> None:
        from monitor.produce import produce

        self.create_all(settings)
        t = time.perf_counter()
        result = produce([self.events_path], settings)
        if result.rejected:
            raise RuntimeError(f"{len(result.rejected)} lines rejected by produce")
        took = time.perf_counter() - t
        log(f"  produced {result.sent:,} events to {settings.topic_prefix}* in {took:.1f} s "
            f"({result.sent / max(1e-9, took):,.0f}/s)")

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Proc:
        p = Proc(name, argv, env, self.work / f"{name}.log", cwd)
        self.procs.append(p)
        return p

    def release(self, p: Proc) -> None:
        p.stop()
        if p in self.procs:
            self.procs.remove(p)

    def worker(self, settings: Settings, name: str) -> Proc:
        env = clean_env(MONITOR_BROKER=settings.broker, MONITOR_TOPIC_PREFIX=settings.topic_prefix,
                        MONITOR_APP_ID=settings.app_id, MONITOR_PARTITIONS=str(settings.partitions),
                        MONITOR_CLOCK=settings.clock, MONITOR_STORE=settings.store,
                        MONITOR_DATA_DIR=str(settings.data_dir), MONITOR_WEB_PORT="0",
                        MONITOR_BATCH_SIZE=str(settings.batch_size), MONITOR_SESSION_TIMEOUT="10")
        skew = self.future_skew()
        if settings.clock == "event" and skew is not None:
            env["MONITOR_FUTURE_SKEW"] = str(skew)
        for item in self.args.worker_env or ():
            key, _, value = item.partition("=")
            env[key] = value
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return self.spawn(name, list(self.worker_argv), env, ROOT)

    def future_skew(self) -> int | None:
        """Seconds of MONITOR_FUTURE_SKEW that let an event-clock worker take the whole file, or None.

        The simulated history may run past today (24 months from 2025-01-01 end on 2026-12-31). The
        worker dead-letters events dated more than a day ahead of the wall clock, refuses the closing
        watermark of ``monitor produce`` for the same reason, and so holds the last events of every
        partition until the wall clock catches up (documented behaviour; the lead's run of 2026-12-06
        held 23,121 events). The bench measures processing, so it lets the worker accept the file's
        dates: the newest one minus now, plus a day."""
        if not hasattr(self, "_skew"):
            newest = max((m.group(1) for m in re.finditer(rb'"occurred_at": ?"([^"]+)"',
                                                          self.events_path.read_bytes())), default=None)
            self._skew: int | None = None
            if newest is not None:
                ahead = datetime.fromisoformat(newest.decode()).timestamp() - time.time()
                if ahead > 0:
                    self._skew = int(ahead) + 86_400
                    log(f"  the events run to {newest.decode()}, after today: the event-clock workers get "
                        f"MONITOR_FUTURE_SKEW={self._skew} (else the closing watermark is refused as ahead "
                        f"of the wall clock and the last events stay held)")
        return self._skew

    def faust_app(self, mode: str, topics: list[str], app_id: str, name: str) -> Proc:
        (self.work / "wb_faust_app.py").write_text(FAUST_APP)
        env = clean_env(WB_MODE=mode, WB_BROKER=f"kafka://{self.kafka.bootstrap}", WB_APP_ID=app_id,
                        WB_TOPICS=",".join(topics), WB_PARTITIONS=str(self.args.partitions),
                        WB_DATADIR=str(self.work / app_id))
        env["PYTHONPATH"] = os.pathsep.join([str(self.work), env["PYTHONPATH"]])
        return self.spawn(name, [sys.executable, "-m", "faust", "-A", "wb_faust_app", "worker", "--without-web",
                                 "-l", "info"], env, self.work)

    def stop_all(self) -> None:
        for p in list(self.procs):
            try:
                self.release(p)
            except Exception:  # noqa: BLE001
                log(f"  could not stop {p.name}: {traceback.format_exc(limit=1)}")

    # ---- the measurement common to (a), (b), (c), (f)

    def measure_group(self, group: str, inputs: list[str], procs: list[Proc], *, cap: float | None,
                      alerts_topic: str | None = None, members: int = 1) -> Figure:
        """Poll the group's committed offsets until they reach the inputs' end offsets (see the docstring).

        The window starts at the first poll where the committed offsets have moved (with ``members`` > 1:
        and the group is Stable with that many members). The headline rate is over the window's second
        half: a worker on the event clock reads ahead and buffers (validated, unapplied) events before
        the first commit, so the first part of the window finishes work done before it and overstates
        the rate. The whole window's rate is reported too.
        """
        end = self.kafka.end_offsets(inputs, self.args.partitions)
        tps = list(end)
        total = sum(end.values())
        alert_specs = None
        if alerts_topic:
            from kafka import TopicPartition
            from kafka.admin import OffsetSpec

            alert_specs = {TopicPartition(alerts_topic, p): OffsetSpec.LATEST for p in range(self.args.partitions)}
        meter = CpuMeter({**{p.name: (lambda p=p: p.pid) for p in procs}, "broker": self.kafka.broker_pid})
        t_start = min(p.started for p in procs)
        series: list[tuple[float, int, dict[str, float]]] = []  # (time, committed, cpu snapshot) from t0 on
        t_first_alert: float | None = None
        alert_base = 0
        last_print = time.monotonic()
        hard = time.monotonic() + self.args.deadline
        committed = 0
        last_move: tuple[float, int, dict[str, float]] | None = None  # the last poll whose offsets rose
        stalled = False
        profiler = None
        profile_at = None
        peak_rss: dict[str, float] = {}
        while True:
            for p in procs:
                p.check()
            if time.monotonic() > hard:
                raise RuntimeError(f"deadline: {group} committed {committed:,} of {total:,} "
                                   f"after {self.args.deadline:.0f} s")
            got = self.kafka.committed(group, tps)
            now = time.monotonic()
            committed = sum(min(got[tp], end[tp]) for tp in tps)
            if alert_specs and t_first_alert is None:
                try:
                    if sum(v.offset for v in self.kafka.admin.list_partition_offsets(alert_specs).values()) > 0:
                        t_first_alert, alert_base = now, committed
                except Exception:  # noqa: BLE001, S110 - asked again at the next poll
                    pass
            begin = False
            if not series and committed > 0:
                begin = True
                if members > 1:
                    state, n = self.kafka.members(group)
                    begin = state == "Stable" and n >= members
                if begin:
                    log(f"  {group}: offsets moving {now - t_start:.1f} s after start ({committed:,} committed)")
                    if self.args.profile_seconds > 0 and group.endswith("-a"):
                        profile_at = now + (cap / 2 if cap else 30.0)  # in the steady part
            if series or begin:
                snap = meter.snap()
                if not series or committed > series[-1][1]:
                    last_move = (snap["t"], committed, snap)
                series.append((snap["t"], committed, snap))
            for p in procs:
                peak_rss[p.name] = max(peak_rss.get(p.name, 0.0), rss_mb(p.pid))
            if profile_at is not None and now >= profile_at and profiler is None:
                profiler = self.start_profile(procs[0])
            if committed >= total:
                break
            if series and cap is not None and now - series[0][0] >= cap:
                break
            if last_move is not None and self.args.stall > 0 and series[-1][0] - last_move[0] >= self.args.stall:
                stalled = True
                log(f"  {group}: committed offsets still for {self.args.stall:.0f} s; "
                    f"{total - committed:,} events held")
                break
            if now - last_print > 15:
                log(f"  {group}: {committed:,} / {total:,} committed")
                last_print = now
            time.sleep(self.args.poll)
        if not series:
            snap = meter.snap()
            series.append((snap["t"], committed, snap))
        t0, c0, _ = series[0]
        tw, cw, _ = series[-1]  # the window's end
        t1, c1, s1 = last_move or series[-1]  # the busy span's end: the last rise of the offsets
        mid = next(x for x in series if x[0] >= t0 + (t1 - t0) / 2)
        tm, cm, sm = mid
        fig = Figure(name="", events=c1 - cm, seconds=max(1e-9, t1 - tm), total=total,
                     drained=committed >= total, consumers=tuple(p.name for p in procs))
        fig.rate = fig.events / fig.seconds
        fig.cpu = CpuMeter.shares(sm, s1)
        fig.extra["window"] = (cw - c0, tw - t0)
        fig.extra["busy"] = t1 - t0
        if cw < total:
            fig.extra["held"] = (total - cw, tw - t1, stalled)
        fig.extra["startup_s"] = t0 - t_start
        fig.extra["rss"] = peak_rss
        if fig.drained:
            fig.extra["from_start_rate"] = total / max(1e-9, t1 - t_start)
            if t_first_alert is not None:
                fig.extra["from_first_alert_rate"] = (total - alert_base) / max(1e-9, t1 - t_first_alert)
        if profiler is not None:
            self.finish_profile(profiler)
        return fig

    # ---- optional CPU profile of the (a) worker with py-spy

    def start_profile(self, proc: Proc) -> tuple[subprocess.Popen[bytes], Path] | None:
        spy = shutil.which("py-spy")
        if spy is None:
            log("  --profile-seconds: py-spy is not on PATH (pip install py-spy); no profile")
            return None
        out = self.work / "a-worker.pyspy.txt"
        argv = [spy, "record", "--pid", str(proc.pid), "--duration", str(int(self.args.profile_seconds)),
                "--rate", "100", "--idle", "--threads", "--nonblocking", "--format", "raw", "--output", str(out)]
        log(f"  profiling the worker with py-spy for {self.args.profile_seconds:.0f} s")
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out

    def finish_profile(self, handle: tuple[subprocess.Popen[bytes], Path] | None) -> None:
        if handle is None:
            return
        popen, out = handle
        try:
            popen.wait(timeout=self.args.profile_seconds + 30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)
        if out.exists():
            self.profile = summarise_profile(out)

    # ---- the setups

    def setup_worker(self, key: str, label: str, workers: int) -> None:
        prefix, app_id = self.names(key)
        log(label)
        self.produce(self.settings(prefix, app_id))
        procs = []
        try:
            for i in range(workers):
                si = self.settings(prefix, app_id, data_dir=self.work / f"{app_id}-w{i}")
                procs.append(self.worker(si, f"{key}-worker{i}"))
            fig = self.measure_group(app_id, Topics(prefix).inputs, procs, cap=self.args.worker_cap,
                                     alerts_topic=Topics(prefix).alerts, members=workers)
            alerts = sum(self.kafka.end_offsets([Topics(prefix).alerts], self.args.partitions).values())
            fig.note = f"{alerts:,} alerts published"
        finally:
            for p in procs:
                self.release(p)
        fig.name = label
        self.figures[key] = fig
        log("  " + fig.line())
        log(fig.detail())

    def setup_faust(self, key: str, label: str, mode: str, cap: float | None) -> None:
        prefix, app_id = self.names(key)
        tag = key.replace("'", "2")
        log(label)
        self.produce(self.settings(prefix, app_id))
        specs = [(f"{app_id}-__assignor-__leader", 1, {"cleanup.policy": "delete"})]
        if mode == "table":
            specs.append((f"{app_id}-latest-changelog", self.args.partitions, {"cleanup.policy": "compact"}))
        self.kafka.create(specs)
        proc = self.faust_app(mode, Topics(prefix).inputs, app_id, f"{tag}-faust-{mode}")
        try:
            fig = self.measure_group(app_id, Topics(prefix).inputs, [proc], cap=cap)
        finally:
            self.release(proc)
        fig.name = label
        self.figures[key] = fig
        log("  " + fig.line())
        log(fig.detail())

    def setup_drain(self, key: str, label: str) -> None:
        prefix, app_id = self.names(key)
        log(label)
        self.produce(self.settings(prefix, app_id))
        script = self.work / "wb_drain.py"
        script.write_text(DRAIN)
        out = self.work / f"{key}-drain.json"
        proc = self.spawn(f"{key}-drain", [sys.executable, str(script), self.kafka.bootstrap,
                                           ",".join(Topics(prefix).inputs), str(out), str(self.args.deadline)],
                          clean_env(), self.work)
        meter = CpuMeter({proc.name: lambda: proc.pid, "broker": self.kafka.broker_pid})
        meter.start()
        try:
            deadline = time.monotonic() + self.args.deadline + 30
            while proc.alive():  # polled, so that the CPU meter still sees the process
                if time.monotonic() > deadline:
                    raise RuntimeError(f"drain did not finish in {self.args.deadline:.0f} s")
                time.sleep(0.05)
            shares = meter.stop()
        finally:
            self.release(proc)
        if proc.proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"drain failed:\n{proc.tail()}")
        doc = json.loads(out.read_text())
        fig = Figure(name=label, events=doc["events"], seconds=max(1e-9, doc["seconds"]), total=doc["total"],
                     drained=doc["events"] >= doc["total"], consumers=(proc.name,))
        fig.rate = fig.events / fig.seconds
        # the process's own CPU over the timed part; the rest of the machine over its whole life
        fig.cpu = {proc.name: doc["cpu"] / fig.seconds, "broker": shares.get("broker", 0.0),
                   "others": shares.get("others", 0.0)}
        self.figures[key] = fig
        log("  " + fig.line())
        log(fig.detail())

    def setup_replay(self) -> None:
        """The floor: ``monitor.replay`` in this process (validation + engine, no Kafka) on the first events."""
        from monitor.replay import replay
        from monitor.rules.loader import default_policy

        n = min(self.n_events, self.args.replay_events)
        path, n = subset(self.events_path, n) if n < self.n_events else (self.events_path, self.n_events)
        log(f"(r) monitor replay in-process on {n:,} events (no Kafka)")
        policy = default_policy()
        t, c = time.perf_counter(), time.process_time()
        replay([path], policy)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        fig = Figure(name="(r) replay in-process: validate + engine, no Kafka", events=n, seconds=wall,
                     rate=n / max(1e-9, wall), total=n, drained=True, consumers=("bench",), cpu={"bench": cpu / wall})
        self.figures["r"] = fig
        log("  " + fig.line())

    def setup_latency(self) -> None:
        prefix, app_id = self.names("e")
        s = self.settings(prefix, app_id, clock="wall")
        log("(e) event-to-alert latency, worker on the wall clock")
        self.create_all(s)
        proc = self.worker(s, "e-worker")
        try:
            asyncio.run(latency_run(self, s, proc))
        finally:
            self.release(proc)


# ----------------------------------------------------------------------------- (e) latency

TZ = timezone(timedelta(hours=8))


def _profile(bid: str, t: datetime) -> dict[str, Any]:
    return {"event_id": f"{bid}-p", "type": "loan_profile", "borrower_id": bid, "occurred_at": t.isoformat(),
            "source": "bench", "segment": "small", "industry": "manufacturing", "branch": "hefei",
            "team": "hefei-1", "exposure": 1_000_000.0, "product": "working_capital", "mitigation": "secured",
            "grade": "BBB", "disbursed_at": (t - timedelta(days=200)).isoformat()}


def _overdue(bid: str, t: datetime) -> dict[str, Any]:
    return {"event_id": f"{bid}-o", "type": "overdue", "borrower_id": bid, "occurred_at": t.isoformat(),
            "source": "bench", "account_id": f"{bid}-A1", "product": "working_capital", "days_past_due": 35,
            "overdue_amount": 12_000.0}


async def latency_run(bench: Bench, s: Settings, proc: Proc) -> None:
    """Warm up until the worker answers; then offer events at ``--low-rate`` (if set) and at ``--rate``.

    Per borrower: its profile, then ``lead`` s later its overdue event at 35 DPD (an alert at once;
    without the profile first the alert would wait for it). A borrower's latency = arrival of its
    alert at this process's consumer - send time of its overdue event (occurred_at = that instant)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    args = bench.args
    topics = Topics(s.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=[bench.kafka.bootstrap], linger_ms=0, acks="all",
                                enable_idempotence=True)
    consumer = AIOKafkaConsumer(bootstrap_servers=[bench.kafka.bootstrap], group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=20, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    arrivals: dict[str, tuple[float, int]] = {}  # borrower -> (arrival wall time, record timestamp ms)
    stop = asyncio.Event()

    async def consume() -> None:
        tps = [TopicPartition(topics.alerts, p) for p in range(s.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50, max_records=10_000)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    arrivals.setdefault(json.loads(r.value)["borrower_id"], (now, r.timestamp))

    async def send(bid: str, kind: str, now: float) -> Any:
        doc = (_profile if kind == "loan_profile" else _overdue)(bid, datetime.fromtimestamp(now, TZ))
        return await producer.send(topics.feed(kind), json.dumps(doc).encode(), key=bid.encode())

    async def offer(rate: float, seconds: float, tag: str) -> dict[str, Any]:
        pairs = max(1, int(rate * seconds / 2))
        lead = max(1, int(rate * args.lead / 2))  # in pairs
        bids = [f"L{bench.tag}{tag}{i:06d}" for i in range(pairs)]
        schedule: list[tuple[str, str]] = []  # (kind, borrower), in send order: 2 events per pair slot
        for i in range(pairs + lead):
            if i < pairs:
                schedule.append(("loan_profile", bids[i]))
            if i >= lead:
                schedule.append(("overdue", bids[i - lead]))
        sent_at: dict[str, float] = {}
        meter = CpuMeter({"e-worker": lambda: proc.pid, "broker": bench.kafka.broker_pid})
        meter.start()
        t0 = time.monotonic()
        i, n = 0, len(schedule)
        futures: list[Any] = []
        while i < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            while i < due:
                kind, bid = schedule[i]
                now = time.time()
                if kind == "overdue":
                    sent_at[bid] = now
                futures.append(await send(bid, kind, now))
                i += 1
            if len(futures) > 2000:
                await asyncio.gather(*futures[:1000])
                del futures[:1000]
            proc.check()
            await asyncio.sleep(0.002)
        send_seconds = time.monotonic() - t0
        await asyncio.gather(*futures)
        wait_deadline = time.monotonic() + args.latency_wait
        while sum(b in arrivals for b in bids) < pairs:
            proc.check()
            if time.monotonic() > wait_deadline:
                break
            await asyncio.sleep(0.1)
        shares = meter.stop()
        got = [b for b in bids if b in arrivals]
        lat = sorted((arrivals[b][0] - sent_at[b]) * 1000 for b in got)
        inner = sorted((arrivals[b][1] / 1000 - sent_at[b]) * 1000 for b in got)
        if len(lat) < 2:
            raise RuntimeError(f"latency: only {len(lat)} alerts arrived")
        # is it keeping up? median latency of the first and the last tenth of the borrowers (send order)
        tenth = max(1, len(got) // 10)
        first = statistics.median((arrivals[b][0] - sent_at[b]) * 1000 for b in got[:tenth])
        last = statistics.median((arrivals[b][0] - sent_at[b]) * 1000 for b in got[-tenth:])
        res = {"rate": rate, "alerts": len(lat), "missing": pairs - len(lat), "sent": n,
               "achieved_rate": n / send_seconds, "p50": pct(lat, 0.50), "p90": pct(lat, 0.90),
               "p99": pct(lat, 0.99), "max": lat[-1], "inner_p50": pct(inner, 0.50), "inner_p99": pct(inner, 0.99),
               "first_tenth_p50": first, "last_tenth_p50": last, "cpu": shares}
        log(f"  {rate:,.0f}/s offered ({res['achieved_rate']:,.0f}/s sent, {n:,} events): {len(lat):,} alerts "
            f"({res['missing']} missing): p50 {res['p50']:.0f} ms, p90 {res['p90']:.0f} ms, p99 {res['p99']:.0f} ms, "
            f"max {res['max']:.0f} ms; median first/last tenth {first:.0f}/{last:.0f} ms; "
            f"worker cpu {shares.get('e-worker', 0) * 100:.0f}%, others {shares.get('others', 0) * 100:.0f}%")
        return res

    task = asyncio.create_task(consume())
    try:
        deadline = time.monotonic() + args.deadline
        warm = [f"W{bench.tag}{i:04d}" for i in range(20)]
        for bid in warm:
            await send(bid, "loan_profile", time.time())
        await producer.flush()
        await asyncio.sleep(0.5)
        for bid in warm:
            await send(bid, "overdue", time.time())
        await producer.flush()
        while not all(b in arrivals for b in warm):
            proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"latency warm-up: {sum(b in arrivals for b in warm)} of {len(warm)} alerts")
            await asyncio.sleep(0.1)
        log(f"  worker answers ({time.monotonic() - proc.started:.1f} s after start); settling 3 s")
        await asyncio.sleep(3.0)
        if args.low_rate > 0:
            bench.latency.append(await offer(args.low_rate, args.low_rate_seconds, "s"))
            await asyncio.sleep(2.0)
        bench.latency.append(await offer(args.rate, args.latency_seconds, "r"))
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except Exception:  # noqa: BLE001
            task.cancel()
        await consumer.stop()
        await producer.stop()


# ----------------------------------------------------------------------------- profile summary

# (category, any of these frames in the main thread's stack); the first match wins
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("validate events (pydantic, in Intake.judge)", ("Intake.judge",)),
    ("engine: apply/advance", ("Runtime._apply", "Runtime._advance")),
    ("borrower details (Engine.detail)", ("Engine.detail",)),
    ("state dumps (dump_state)", ("dump_state",)),
    ("runtime: buffer/release/schedules", ("Runtime.accept", "Runtime.step")),
    ("serialise outputs (model_dump_json)", ("BaseModel.model_dump_json",)),
    ("changelog and store (checkpoint steps 4-5)", ("Checkpoint._changelog", "FaustPort.write")),
    ("publish outputs (checkpoint step 1)", ("Checkpoint.publish",)),
    ("commit offsets", ("WorkerShell._commit_offsets",)),
    ("aiokafka producer sender (encode requests, socket)", ("Sender._sender_routine", "Sender._send_produce_req",
                                                            "SendProduceReqHandler")),
    ("Faust's changelog ProducerBuffer task", ("ProducerBuffer",)),
    ("fetch (the port's fetch_batches)", ("fetch_batches", "Fetcher._fetcher")),
    ("timer tick (re-reads, end offsets)", ("WorkerShell.tick",)),
]


def summarise_profile(path: Path) -> str:
    """Shares of the worker's main thread (wall clock, py-spy --idle) by category."""
    counts: collections.Counter[str] = collections.Counter()
    other_threads = 0
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        stack, _, n_text = line.rpartition(" ")
        try:
            n = int(n_text)
        except ValueError:
            continue
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            other_threads += n
            continue
        total += n
        names = [f.split(" (")[0] for f in frames[1:]]
        if names and names[-1].endswith("select"):
            counts["idle: event loop waiting (I/O, broker round trips)"] += n
            continue
        for cat, keys in CATEGORIES:
            if any(any(k in name for k in keys) for name in names):
                counts[cat] += n
                break
        else:
            counts["other (asyncio, timers, GC, ...)"] += n
    if not total:
        return "no samples"
    lines = [f"py-spy, worker main thread, {total} samples (wall clock; includes time waiting for a CPU):"]
    for cat, n in counts.most_common():
        lines.append(f"    {100 * n / total:5.1f}%  {cat}")
    lines.append(f"    (other threads: {other_threads} samples, mostly the Faust consumer thread idle in select)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- subprocess code

FAUST_APP = textwrap.dedent('''
    """Bench apps: (b) a table update per event, (c) empty agents. Configured by WB_* env vars."""
    import os

    import faust

    MODE = os.environ["WB_MODE"]  # table | take | iter
    P = int(os.environ["WB_PARTITIONS"])
    app = faust.App(
        os.environ["WB_APP_ID"], broker=os.environ["WB_BROKER"],
        store="rocksdb://" if MODE == "table" else "memory://", datadir=os.environ["WB_DATADIR"],
        topic_partitions=P, topic_replication_factor=1, consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5, web_enabled=False, table_standby_replicas=0, stream_wait_empty=False,
        consumer_max_fetch_size=4 * 1_048_576, producer_acks=-1,
    )
    topics = os.environ["WB_TOPICS"].split(",")

    if MODE == "table":
        # the way most Faust code is written: decoded values, read-modify-write of a table entry per event
        source = app.topic(*topics, key_type=bytes, key_serializer="raw", value_serializer="json", partitions=P)
        # keys: bytes with the app's default "raw" key serializer; values: the default "json"
        table = app.Table("latest", partitions=P, key_type=bytes)

        @app.agent(source)
        async def per_event(stream):
            async for event in stream:
                key = event["borrower_id"].encode()
                seen = table.get(key) or {"n": 0}
                table[key] = {"n": seen["n"] + 1, "type": event["type"], "at": event["occurred_at"]}
    else:
        source = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw", partitions=P)
        if MODE == "take":
            @app.agent(source)
            async def empty_take(stream):
                async for batch in stream.take(1000, within=0.2):
                    pass
        else:
            @app.agent(source)
            async def empty_iter(stream):
                async for value in stream:
                    pass
''')

DRAIN = textwrap.dedent('''
    """(d) a bare aiokafka consumer: getmany until every partition is read to its end offset."""
    import asyncio, json, sys, time

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def main(bootstrap, topics, out, deadline):
        c = AIOKafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1_048_576,
                             fetch_max_bytes=64 * 1_048_576)
        await c.start()
        try:
            tps = []
            for t in topics:
                parts = c.partitions_for_topic(t)
                if not parts:
                    await c._client.force_metadata_update()
                    parts = c.partitions_for_topic(t) or set()
                tps += [TopicPartition(t, p) for p in sorted(parts)]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            end = await c.end_offsets(tps)
            total = sum(end.values())
            left = {tp for tp in tps if end[tp] > 0}
            read = 0
            # timed from here: connected, assigned, positions known (the start-up is not counted)
            t_first = t_last = time.perf_counter()
            cpu0 = time.process_time()
            hard = time.monotonic() + deadline
            while left and time.monotonic() < hard:
                batch = await c.getmany(timeout_ms=1000, max_records=100_000)
                n = 0
                for tp, recs in batch.items():
                    if recs:
                        n += len(recs)
                        if recs[-1].offset + 1 >= end[tp]:
                            left.discard(tp)
                if n:
                    read += n
                    t_last = time.perf_counter()
            with open(out, "w") as fh:
                json.dump({"events": read, "seconds": t_last - t_first, "total": total,
                           "cpu": time.process_time() - cpu0}, fh)
        finally:
            await c.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2].split(","), sys.argv[3], float(sys.argv[4])))
''')

# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=None, help="use only the first N events (default: all, ~1M)")
    ap.add_argument("--borrowers", type=int, default=17_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=None,
                    help="events file (default: /tmp/wb/events-BORROWERSxMONTHS-sSEED.jsonl, simulated if missing)")
    ap.add_argument("--port", type=int, default=39092, help="broker port (controller: port+1)")
    ap.add_argument("--kafka-data", type=Path, default=Path("/tmp/bench-kafka"))
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=Settings.model_fields["batch_size"].default,
                    help="the worker's MONITOR_BATCH_SIZE (default: the worker's own default)")
    ap.add_argument("--rate", type=float, default=2000, help="(e) offered events/s")
    ap.add_argument("--latency-seconds", type=float, default=10.0, help="(e) how long to offer --rate")
    ap.add_argument("--low-rate", type=float, default=500, help="(e) first a short run at this rate (0: skip)")
    ap.add_argument("--low-rate-seconds", type=float, default=8.0)
    ap.add_argument("--latency-wait", type=float, default=45.0,
                    help="(e) after the last send, wait at most this long for the alerts")
    ap.add_argument("--lead", type=float, default=1.0, help="(e) seconds between a profile and its overdue event")
    ap.add_argument("--worker-cap", type=float, default=150.0,
                    help="(a), (f): stop measuring after this many seconds (0: until drained)")
    ap.add_argument("--take-cap", type=float, default=90.0, help="(c): the same")
    ap.add_argument("--table-cap", type=float, default=60.0, help="(b): the same")
    ap.add_argument("--iter-cap", type=float, default=30.0, help="(c'): the same; negative: skip (c')")
    ap.add_argument("--replay-events", type=int, default=100_000, help="(r): events for the in-process replay")
    ap.add_argument("--deadline", type=float, default=420.0, help="longest wait of any one setup, seconds")
    ap.add_argument("--stall", type=float, default=30.0,
                    help="(a), (f): stop when the committed offsets have not moved for this long (0: never)")
    ap.add_argument("--poll", type=float, default=0.2, help="committed-offset poll interval, seconds")
    ap.add_argument("--only", default="r,a,b,c,d,e,f", help="setups to run, e.g. a,d (c includes c')")
    ap.add_argument("--profile-seconds", type=float, default=0.0,
                    help="record the (a) worker with py-spy for this long, in the second half of its window "
                         "(0: off)")
    ap.add_argument("--worker-env", action="append", metavar="NAME=VALUE",
                    help="extra environment for the monitor workers, e.g. MONITOR_TICK_SECONDS=0.5 (repeatable)")
    ap.add_argument("--worker-cmd", default=None,
                    help="command line run instead of `python -m monitor worker --loglevel info` (A/B tests)")
    ap.add_argument("--keep-work", action="store_true", help="keep the work dir (logs, data dirs, profile)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so that the finally blocks stop what was started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    def cap(x: float) -> float | None:
        return x if x > 0 else None

    started = time.monotonic()
    if args.cache is None:  # named by what it holds: other --borrowers/--months/--seed never reuse it
        args.cache = Path(f"/tmp/wb/events-{args.borrowers}x{args.months}-s{args.seed}.jsonl")
    cache = ensure_events(args.cache, args.borrowers, args.months, args.seed)
    events_path, n = subset(cache, args.events)
    log(f"events: {n:,} ({events_path}); cores: {CORES}; partitions: {args.partitions}")
    work = Path(tempfile.mkdtemp(prefix="wb-run-", dir="/tmp"))
    kafka = Kafka(args.port, args.kafka_data)
    bench = Bench(args, kafka, events_path, n, work)
    if args.worker_cmd:
        bench.worker_argv = shlex.split(args.worker_cmd)
    failures: list[str] = []

    def attempt(key: str, fn: Callable[..., None], *a: Any) -> None:
        if key.rstrip("'") not in only:
            return
        try:
            fn(*a)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the other setups
            failures.append(f"({key}) {exc}")
            log(f"({key}) FAILED: {traceback.format_exc()}")
            bench.stop_all()

    load0 = os.getloadavg()
    try:
        attempt("r", bench.setup_replay)
        kafka.start()
        attempt("a", bench.setup_worker, "a", "(a) monitor worker, event clock, 1 process", 1)
        attempt("b", bench.setup_faust, "b", "(b) Faust agent, table update per event", "table",
                cap(args.table_cap))
        attempt("c", bench.setup_faust, "c", "(c) empty Faust agent, take(1000, 0.2)", "take", cap(args.take_cap))
        if args.iter_cap >= 0:
            attempt("c'", bench.setup_faust, "c'", "(c') empty Faust agent, plain async for", "iter",
                    cap(args.iter_cap))
        attempt("d", bench.setup_drain, "d", "(d) bare aiokafka consumer, getmany")
        attempt("f", bench.setup_worker, "f", "(f) monitor worker, event clock, 2 processes", 2)
        attempt("e", bench.setup_latency)
    except (KeyboardInterrupt, SystemExit):
        failures.append("interrupted: the figures above are what was measured before")
        log("interrupted; stopping everything")
    finally:
        bench.stop_all()
        kafka.stop()
        if args.keep_work:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    report(bench, n, time.monotonic() - started, failures, load0)
    return 1 if failures else 0


def report(bench: Bench, n: int, elapsed: float, failures: list[str], load0: tuple[float, ...]) -> None:
    f = bench.figures
    rule = "-" * 118
    print()
    print(f"worker bench: {n:,} input events, {bench.args.partitions} partitions, os.cpu_count() = {CORES}, "
          f"whole run {elapsed / 60:.1f} min, load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    print(rule)
    print(f"{'setup':<47} {'events/s':>13} {'per cpu-s':>13}   (second half of the busy span; then the whole window)")
    for key in ("r", "a", "b", "c", "c'", "d", "f"):
        if key in f:
            print(f[key].line())
            if key != "r":
                print(f[key].detail())
    print(rule)

    def ratio(label: str, x: str, y: str, goal: str = "") -> None:
        if x in f and y in f and f[y].rate > 0:
            r = f[x].rate / f[y].rate
            rc = f[x].cpu_rate / f[y].cpu_rate if f[y].cpu_rate > 0 else 0.0
            print(f"{label:<47} {r:>13.2f} {rc:>13.2f}   {goal}")

    print(f"{'ratio':<47} {'events/s':>13} {'per cpu-s':>13}")
    ratio("(a)/(b) worker / Faust table-per-event", "a", "b", "goal >= 2")
    ratio("(a)/(c) worker / empty Faust take", "a", "c", "goal >= 0.6")
    ratio("(a)/(c') worker / empty Faust async for", "a", "c'")
    ratio("(a)/(d) worker / bare aiokafka", "a", "d")
    ratio("(c)/(d) empty Faust take / bare aiokafka", "c", "d")
    ratio("(a)/(r) worker / in-process replay", "a", "r")
    if "f" in f and "a" in f and f["a"].rate > 0:
        print(f"{'(f)/(a) two workers / one':<47} {f['f'].rate / f['a'].rate:>13.2f}")
    for lt in bench.latency:
        print(rule)
        print(f"(e) latency at {lt['rate']:,.0f} ev/s offered ({lt['achieved_rate']:,.0f}/s sent), "
              f"{lt['alerts']:,} alerts ({lt['missing']} missing):")
        print(f"    event sent -> alert received:      p50 {lt['p50']:8.1f} ms   p90 {lt['p90']:8.1f} ms   "
              f"p99 {lt['p99']:8.1f} ms   max {lt['max']:8.1f} ms   (goal p99 < 250 ms: "
              f"{'met' if lt['p99'] < 250 else 'NOT met'})")
        print(f"    event sent -> alert on the topic:  p50 {lt['inner_p50']:8.1f} ms   p99 {lt['inner_p99']:8.1f} ms "
              f"(record timestamp)")
        behind = lt["last_tenth_p50"] > 2 * lt["first_tenth_p50"] + 100
        print(f"    median latency, first / last tenth of the borrowers: {lt['first_tenth_p50']:.0f} / "
              f"{lt['last_tenth_p50']:.0f} ms ({'FALLING BEHIND' if behind else 'keeping up'}); cpu "
              + ", ".join(f"{k} {v * 100:.0f}%" for k, v in lt["cpu"].items()))
    if bench.profile:
        print(rule)
        print(bench.profile)
    print(rule)
    for line in goal_lines(bench):
        print(line)
    if failures:
        print(rule)
        for msg in failures:
            print("FAILED " + msg.splitlines()[0][:300])


def goal_lines(bench: Bench) -> list[str]:
    """One line per goal (issues 3 and 15): the goal, the figure measured, met or not, and the load."""
    f = bench.figures
    load = os.getloadavg()
    out = [f"goals (load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; others' CPU is in each setup's line):"]

    def line(goal: str, measured: str, met: bool | None) -> None:
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        out.append(f"  {goal:<58} | {measured:<44} | {verdict}")

    a = f.get("a")
    line("(a) one worker process >= 10,000 events/s",
         f"{a.rate:,.0f} ev/s ({a.cpu_rate:,.0f} per cpu-s)" if a else "-", a.rate >= 10_000 if a else None)
    offered = [lt for lt in bench.latency if abs(lt["rate"] - bench.args.rate) < 1e-6]
    lt = offered[-1] if offered else None
    line(f"(e) p99 event-to-alert < 250 ms at {bench.args.rate:,.0f} ev/s offered",
         f"p99 {lt['p99']:.1f} ms ({lt['achieved_rate']:,.0f}/s sent, {lt['missing']} missing)" if lt else "-",
         lt["p99"] < 250 and lt["missing"] == 0 if lt else None)
    for label, x, y, floor in (("(a)/(b) worker / Faust table-per-event >= 2", "a", "b", 2.0),
                               ("(a)/(c) worker / empty Faust take >= 0.6", "a", "c", 0.6),
                               ("(f)/(a) two workers / one > 1", "f", "a", 1.0)):
        if x in f and y in f and f[y].rate > 0:
            r = f[x].rate / f[y].rate
            line(label, f"{r:.2f}", r > floor if floor == 1.0 else r >= floor)
        else:
            line(label, "-", None)
    return out


if __name__ == "__main__":
    sys.exit(main())
