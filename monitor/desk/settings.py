"""Settings of ``monitor serve``: one frozen object from the command line and the environment.

Like :class:`monitor.settings.Settings`, every setting can come from
``MONITOR_<NAME>`` (``MONITOR_PORT=8080``); a command-line option wins. The
broker and topic prefix are the worker's (same names, same variables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from monitor.settings import KafkaSettings, Settings

__all__ = ["DeskSettings"]


class DeskSettings(KafkaSettings):
    """Settings of the alert desk service (the broker, topic prefix and replication come from the
    settings base every part that talks to Kafka shares)."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", frozen=True, extra="forbid")

    app_id: str = Field(
        "monitor", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$", description="The workers' consumer group, whose lag the desk reports (the worker's --app-id)")
    host: str = Field("127.0.0.1", description="Address the HTTP service listens on")
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    users_file: Path = Field(Path("users.toml"), description="Users: token hashes, roles, teams")
    teams_file: Path | None = Field(None, description="Team capacities for the planner; default: one team default")
    policy: Path | None = Field(None, description="Policy file (its time zone dates the schedule)")
    write_timeout: Annotated[float, Field(gt=0, le=60)] = Field(
        5.0, description="Seconds a change waits to be read back from Kafka before answering 202")
    api_docs: bool = Field(True, description="Serve the API reference at /docs (no script, nothing from another host)")
    max_body_bytes: Annotated[int, Field(ge=256, le=10_485_760)] = 65_536
    stream_seconds: Annotated[float, Field(gt=0, le=86_400)] = Field(
        3600.0, description="A push stream closes after this long (clients reconnect with Last-Event-ID)")
    reports_enabled: bool = Field(False, description="Build the day, week and month reports on schedule")
    reports_dir: Path = Field(Path("reports"), description="Where reports are stored: <period>/<first day>/<id>/")
    report_lang: Literal["zh", "en"] = Field("zh", description="Language of the reports' HTML and CSV")
    report_settle_seconds: Annotated[float, Field(ge=0, le=86_400)] = Field(
        600.0, description="A period's report is built this long after the period ends (late events arrive)")
    report_catch_up_days: Annotated[int, Field(ge=0, le=366)] = Field(
        7, description="At start, build the reports missed in this many days (a replica that was down)")
    day_ends: bool = Field(
        False, description="Build the scheduled reports from the workers' day-end rows, alerts and dead letters, "
        "folded as they are read (the workers run with MONITOR_DAY_ENDS=true), instead of a replay of the feeds")

    def kafka(self) -> Settings:
        """The worker's settings for the same broker and prefix."""
        return Settings(broker=self.broker, topic_prefix=self.topic_prefix)

