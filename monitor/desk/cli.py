"""``monitor serve`` (the alert desk service), ``monitor users add`` and ``monitor users feed-key``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click

from monitor._cli_options import Option, add_options, settings_from_options
from monitor._errors import ConfigError

__all__ = ["serve", "users"]

_OPTIONS: list[Option] = [
    ("--broker", {"help": "Kafka URL(s), kafka://HOST:PORT[,...] [env MONITOR_BROKER]"}),
    ("--topic-prefix", {"help": "Prefix of every topic name [env MONITOR_TOPIC_PREFIX]"}),
    ("--app-id", {"help": "The workers' consumer group, whose lag the desk reports [env MONITOR_APP_ID; "
                  "default monitor]"}),
    ("--host", {"help": "Listen address [env MONITOR_HOST; default 127.0.0.1]"}),
    ("--port", {"type": int, "help": "Listen port [env MONITOR_PORT; default 8080]"}),
    ("--users-file", {"type": click.Path(dir_okay=False, path_type=Path),
                      "help": "Users file (monitor users add) [env MONITOR_USERS_FILE; default users.toml]"}),
    ("--teams-file", {"type": click.Path(dir_okay=False, path_type=Path),
                      "help": "Team capacities for the planner [env MONITOR_TEAMS_FILE]"}),
    ("--policy", {"type": click.Path(dir_okay=False, path_type=Path),
                  "help": "Policy file: time zone and override limits [env MONITOR_POLICY]"}),
    ("--write-timeout", {"type": float, "help": "Seconds to wait for a change to be read back [env "
                         "MONITOR_WRITE_TIMEOUT; default 5]"}),
    ("--max-body-bytes", {"type": int, "help": "Largest request body [env MONITOR_MAX_BODY_BYTES; default 65536]"}),
    ("--reports-dir", {"type": click.Path(file_okay=False, path_type=Path),
                       "help": "Where the periodic reports are stored (built when MONITOR_REPORTS_ENABLED=true) "
                       "[env MONITOR_REPORTS_DIR; default reports]"}),
]


def _settings(kwargs: dict[str, Any]) -> Any:
    from monitor.desk.settings import DeskSettings

    return settings_from_options(DeskSettings, _OPTIONS, kwargs)


def build_app(settings: Any) -> Any:
    """The app for ``settings``, on a Kafka-backed desk started and stopped with the app."""
    from monitor.desk.api import create_app
    from monitor.desk.auth import Authenticator, load_users
    from monitor.desk.bridge import KafkaDesk
    from monitor.desk.teams import load_teams
    from monitor.desk.view import DeskView
    from monitor.rules.loader import default_policy, load_policy

    users = load_users(settings.users_file)
    if not users.users:
        raise ConfigError(f"{settings.users_file}: no users (add one with monitor users add)")
    teams = load_teams(settings.teams_file) if settings.teams_file is not None else None
    policy = load_policy(settings.policy) if settings.policy is not None else default_policy()
    desk = KafkaDesk(settings, DeskView(response_deadlines(policy)))
    scheduler = _report_scheduler(settings, desk, policy, teams) if settings.reports_enabled else None
    # the worker group's lag and the view's, asked of the broker by the desk (ops' monitor.group_lag)
    from monitor.group_lag import LagProbe

    worker_topics = [*desk.topics.inputs, desk.topics.clock]
    probe = LagProbe(settings.bootstrap_servers, settings.app_id, worker_topics, sorted(desk.kinds), desk.positions)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await desk.start()
        probe.start()
        if scheduler is not None:
            if scheduler.reporter.fold is not None:
                await scheduler.reporter.fold.start()
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
                if scheduler.reporter.fold is not None:
                    await scheduler.reporter.fold.stop()
            probe.stop()
            await desk.stop()

    app = create_app(desk, auth=Authenticator(users), teams=teams, settings=settings, tz=policy.zone,
                     floor_max_days=policy.overrides.floor_max_days, cap_max_days=policy.overrides.cap_max_days,
                     lifespan=lifespan, policy_version=policy.version)
    app.state.ctx.metrics.registry.register(probe)
    from monitor.desk.reporting import ReportStore

    app.state.reports = scheduler.reporter.store if scheduler is not None else ReportStore(settings.reports_dir)
    return app


def response_deadlines(policy: Any) -> Any:
    """The cases' response deadlines from the policy's ``visits.response_days`` (per tier) and time zone."""
    from monitor.desk.table import ResponseDeadlines

    days = getattr(policy.visits, "response_days", None)
    if days is None:
        return None
    return ResponseDeadlines({t: getattr(days, t) for t in ("watch", "warning", "severe")}, policy.zone)


def _report_scheduler(settings: Any, desk: Any, policy: Any, teams: Any) -> Any:
    """The periodic reports' scheduler (see monitor.desk.reporting), on the wall clock."""
    from datetime import UTC, datetime

    from monitor.desk.report_fold import ReportFold
    from monitor.desk.report_kafka import KafkaFold, KafkaReportSource
    from monitor.desk.reporting import Reporter, ReportStore, Scheduler
    from monitor.topics import Topics

    capacity = None
    if teams is not None and teams.team_ids():
        capacity = {t: float(teams.capacity(t).visits_per_day) for t in teams.team_ids()}
    topics = Topics(settings.topic_prefix)
    # the reports from the workers' day-end rows: the fold keeps the states of the days a catch-up may build
    fold = KafkaFold(settings, ReportFold(policy, topics, keep_days=settings.report_catch_up_days + 2,
                                          spool=settings.reports_dir / ".fold")) if settings.day_ends else None
    reporter = Reporter(ReportStore(settings.reports_dir), KafkaReportSource(settings), policy,
                        topics=topics, lang=settings.report_lang, policy_path=settings.policy,
                        capacity=capacity, view=lambda: desk.view, settle_seconds=settings.report_settle_seconds,
                        fold=fold)

    async def caught_up() -> bool:
        return bool((await desk.health()).caught_up)

    return Scheduler(reporter, zone=policy.zone, settle_seconds=settings.report_settle_seconds,
                     catch_up_days=settings.report_catch_up_days, clock=lambda: datetime.now(UTC), ready=caught_up)


@click.command()
@add_options(_OPTIONS)
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="json", show_default=True, type=click.Choice(["json", "text"]),
              help="One JSON object per line, or plain text (personal data masked either way)")
def serve(loglevel: str, log_format: str, **kwargs: Any) -> None:
    """Run the alert desk: the HTTP API over the alerts, schedule, borrowers and audit topics.

    Logs never hold tokens or borrower names; request lines (with paths) only at debug level."""
    import uvicorn

    from monitor.logs import configure_logging, logging_config

    settings = _settings(kwargs)
    app = build_app(settings)  # configuration errors first, before logging is set up
    configure_logging(loglevel, log_format)
    click.echo(f"alert desk on http://{settings.host}:{settings.port} (topics {settings.topic_prefix}*, "
               f"broker {settings.broker})")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=loglevel, access_log=loglevel == "debug",
                lifespan="on", timeout_graceful_shutdown=5, log_config=logging_config(loglevel, log_format))


@click.group()
def users() -> None:
    """Manage the alert desk's users (token hashes only)."""


@users.command("add")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Users file (TOML, or JSON when it ends in .json); created if missing")
@click.option("--user", required=True, help="User id")
@click.option("--role", required=True,
              type=click.Choice(["risk_officer", "supervisor", "inspector", "ops", "admin"]))
@click.option("--team", "teams", multiple=True, help="A team the user works for (inspectors; repeat)")
def users_add(path: Path, user: str, role: str, teams: tuple[str, ...]) -> None:
    """Add a user and print its token once (only the token's SHA-256 is stored)."""
    from monitor.desk.auth import add_user

    token = add_user(path, user, role, teams)
    click.echo(f"user {user} ({role}) added to {path}. Token (shown only now):", err=True)
    click.echo(token)


@users.command("feed-key")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Users file (TOML, or JSON when it ends in .json)")
@click.option("--user", required=True, help="User id")
@click.option("--revoke", is_flag=True, help="Remove the user's feed key instead of issuing one")
def users_feed_key(path: Path, user: str, revoke: bool) -> None:
    """Issue a user's calendar feed key and print it once (only its SHA-256 is stored).

    The key opens nothing but the iCalendar feeds of the user's teams, at
    /api/v1/feeds/{team}.ics?key=KEY (a calendar application cannot send a bearer
    token). Issuing again replaces the old key; --revoke removes it. A running
    monitor serve reads the users file at start: restart it to apply the change."""
    from monitor.desk.auth import set_feed_key

    try:
        key = set_feed_key(path, user, revoke=revoke)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if key is None:
        click.echo(f"feed key of {user} revoked in {path} (restart monitor serve to apply)", err=True)
        return
    click.echo(f"feed key of {user} issued in {path}, replacing any earlier one (restart monitor serve to "
               "apply). Subscribe to /api/v1/feeds/TEAM.ics?key=KEY. Key (shown only now):", err=True)
    click.echo(key)
