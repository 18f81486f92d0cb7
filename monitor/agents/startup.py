"""Before the worker joins its group: wait for the broker, and refuse topics that are not co-partitioned.

A worker started while the broker is away waits: it asks again with a growing pause (1 s, 2 s, 4 s,
... at most 30 s), logs one line per attempt, and meanwhile answers ``/healthz`` (alive) and
``/readyz`` (503, naming the broker) on its web port, so that an orchestrator sees a live worker
that is not ready rather than one that exits and is restarted in a loop. (``/metrics`` comes with
the worker proper, once the broker answers.)

Once the broker answers, every topic the worker reads or writes must exist with the configured
partition count: a feed with another count would put a borrower's events in another partition
than its state and decisions (``monitor topics create`` reports such a topic as NOT
co-partitioned). The worker refuses to start then, with a message naming the topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from monitor._errors import ConfigError
from monitor.settings import Settings
from monitor.topics import Topics

__all__ = ["check_partitions", "describe_topics", "prepare", "wait_for_broker"]

log = logging.getLogger("monitor.worker")

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0


async def describe_topics(settings: Settings, names: list[str], timeout: float = 10.0) -> dict[str, int]:
    """``{topic: partition count}`` of those of ``names`` that exist (raises when the broker does not answer)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="monitor-startup",
                                request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        described = await asyncio.wait_for(admin.describe_topics(names), timeout)
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described
            if d.get("error_code", 0) == 0 and d.get("topic") in names}


def expected_topics(settings: Settings) -> list[str]:
    """Every topic a worker reads or writes (its changelog is created by Faust when missing)."""
    t = Topics(settings.topic_prefix)
    return [*t.inputs, t.clock, t.alerts, t.schedule, t.dead_letter, t.borrowers,
            *([t.day_ends] if settings.day_ends else [])]


def check_partitions(settings: Settings, counts: dict[str, int]) -> None:
    """Raise :class:`ConfigError` naming every missing topic and every one with another partition count."""
    wanted = expected_topics(settings)
    missing = [t for t in wanted if t not in counts]
    changelog = f"{settings.app_id}-borrowers-changelog"
    differ = [f"{t} has {counts[t]}" for t in [*wanted, changelog] if t in counts and counts[t] != settings.partitions]
    problems = []
    if missing:
        problems.append(f"missing topics {', '.join(missing)} (run 'monitor topics create')")
    if differ:
        problems.append(f"topics not co-partitioned: {'; '.join(differ)} partitions, not {settings.partitions} "
                        f"(a borrower's events would land in another partition than its state); recreate them "
                        f"or set --partitions to match")
    if problems:
        raise ConfigError("refusing to start: " + "; ".join(problems))


def _short(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    out = text if text.startswith(name) else f"{name}: {text}" if text else name
    return out[:300]


async def wait_for_broker(settings: Settings, *, on_error: Callable[[str], None] = lambda _m: None,
                          describe: Callable[[Settings, list[str]], Awaitable[dict[str, int]]] = describe_topics,
                          sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                          first: float = FIRST_PAUSE, longest: float = LONGEST_PAUSE) -> dict[str, int]:
    """Ask the broker for the worker's topics until it answers; one log line per attempt, pauses doubling."""
    pause = first
    attempt = 0
    started = time.monotonic()
    while True:
        attempt += 1
        try:
            counts = await describe(settings, [*expected_topics(settings), f"{settings.app_id}-borrowers-changelog"])
        except Exception as exc:  # noqa: BLE001 - any failure to get an answer: wait and ask again
            why = _short(exc)
            on_error(why)
            log.warning("the broker at %s does not answer (%s); asking again in %.0f s (attempt %d, waiting "
                        "%.0f s so far)", settings.broker, why, pause, attempt, time.monotonic() - started)
            await sleep(pause)
            pause = min(longest, pause * 2)
            continue
        if attempt > 1:
            log.warning("the broker at %s answers after %.0f s; starting", settings.broker,
                        time.monotonic() - started)
        return counts


class _WaitingServer:
    """``/healthz`` and ``/readyz`` while the worker waits for the broker (any other path: 404)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.error = "not asked yet"
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        async def health(_request: Any) -> Any:
            return web.json_response({"status": "alive"}, headers={"Cache-Control": "no-store"})

        async def ready(_request: Any) -> Any:
            body = {"ready": False, "partitions": [], "rebalancing": False, "rebalances_done": 0,
                    "broker": "unknown",
                    "missing": [f"the broker at {self.settings.broker} has not answered yet: {self.error}"]}
            return web.Response(status=503, text=json.dumps(body), content_type="application/json",
                                headers={"Cache-Control": "no-store"})

        app = web.Application()
        app.router.add_get("/healthz", health)
        app.router.add_get("/readyz", ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def prepare(settings: Settings) -> dict[str, int]:
    """Wait for the broker (serving health and readiness meanwhile) and check the topics; in its own
    event loop, closed before Faust starts its own."""

    async def run() -> dict[str, int]:
        server = _WaitingServer(settings) if settings.web_port else None
        def note(why: str) -> None:
            if server is not None:
                server.error = why

        if server is not None:
            try:
                await server.start()
            except OSError as exc:
                raise ConfigError(f"web port {settings.web_host}:{settings.web_port}: {exc.strerror or exc}") from None
        try:
            return await wait_for_broker(settings, on_error=note)
        finally:
            if server is not None:
                await server.stop()

    loop = asyncio.new_event_loop()
    try:
        counts = loop.run_until_complete(run())
    finally:
        loop.close()
    check_partitions(settings, counts)
    return counts
