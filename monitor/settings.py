"""Runtime settings: one frozen object built at start from the command line and environment.

Every setting can come from an environment variable ``MONITOR_<NAME>`` (for
example ``MONITOR_BROKER=kafka://10.0.0.5:9092``) or from a command-line option
of the same name, which wins.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EventTimeSettings", "KafkaSettings", "Settings", "check_broker_urls"]


def check_broker_urls(value: str) -> str:
    """``value`` if it is comma-separated kafka://HOST:PORT URLs, else a ValueError naming the bad one."""
    for url in value.split(","):
        if not url.startswith("kafka://") or ":" not in url.removeprefix("kafka://"):
            raise ValueError(f"{url!r}: expected kafka://HOST:PORT")
    return value


class EventTimeSettings(BaseSettings):
    """How far ahead of the newest trustworthy time an event may be dated: read by the worker and by
    ``monitor replay`` alike (``MONITOR_FUTURE_SKEW``: seconds or an ISO 8601 duration such as ``P1D``,
    ``PT36H``). The worker trusts the wall clock and each partition's reached watermark, a replay the
    newest instant of its input; an event dated further ahead is refused with a reason (see
    :func:`monitor._time.ahead_reason`), since one such event would otherwise move a borrower's clock
    (and on the event clock the whole partition's) into the future."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", frozen=True, extra="ignore")

    future_skew: Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(days=366))] = timedelta(days=1)

    @field_validator("future_skew", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return value  # an ISO 8601 duration, or an error pydantic names
        return value

    @property
    def future_skew_us(self) -> int:
        return self.future_skew // timedelta(microseconds=1)


class KafkaSettings(BaseSettings):
    """The settings every part that talks to Kafka shares (the worker, ``monitor topics``, ``monitor
    produce``, the desk): where the brokers are, the topics' prefix, and how the topics are replicated."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", frozen=True, extra="forbid")

    broker: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap URL(s), comma-separated")
    topic_prefix: Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9._-]*$")] = "monitor."
    replication_factor: Annotated[int, Field(ge=1, le=16)] = Field(
        1, description="Replicas of every topic `topics create` makes: 3 on a production cluster")
    min_insync_replicas: Annotated[int, Field(ge=1, le=16)] = Field(
        1, description="Replicas that must have a write before it is acknowledged (acks=all): 2 with 3 replicas")

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        return check_broker_urls(value)

    @model_validator(mode="after")
    def _replicas(self) -> KafkaSettings:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas ({self.min_insync_replicas}) cannot exceed replication_factor "
                             f"({self.replication_factor}): no write could be acknowledged")
        return self

    @property
    def bootstrap_servers(self) -> list[str]:
        """The broker URLs as host:port for kafka-python and aiokafka."""
        return [u.removeprefix("kafka://") for u in self.broker.split(",")]


class Settings(KafkaSettings, EventTimeSettings):
    """Settings of the streaming worker and the tools that talk to Kafka."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", frozen=True, extra="forbid")

    partitions: Annotated[int, Field(ge=1, le=1024)] = 8
    app_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] = "monitor"
    store: Literal["rocksdb://", "memory://"] = "rocksdb://"
    data_dir: Path = Path("monitor-data")
    clock: Literal["wall", "event"] = "wall"
    policy: Path | None = Field(None, description="Policy file; default: the shipped policy")
    web_port: Annotated[int, Field(ge=0, le=65535)] = 6066
    web_host: str = Field("127.0.0.1", description="Address the web port listens on (0.0.0.0: every interface)")
    metrics_token_file: Path | None = Field(None, description="File holding the bearer token /metrics asks for")
    batch_size: Annotated[int, Field(ge=1, le=100_000, description="Most input messages per fetch (one batch)")] = 20_000
    day_ends: bool = Field(False, description="Publish each borrower's day-end record on the day-ends topic "
                           "(monitor.day_ends: what a report reads of the portfolio, without a replay)")
    tick_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    session_timeout: Annotated[float, Field(ge=6, le=300)] = 10.0
    max_message_bytes: Annotated[int, Field(ge=1024, le=10_000_000)] = 65_536
