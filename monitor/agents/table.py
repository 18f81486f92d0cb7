"""The worker's table (``borrowers``, RocksDB or memory, backed by its changelog topic): what it holds.

Each borrower's state, in its compact JSON form (``monitor.state.dump_state``), under its id; and the
worker's own records, under keys that start with NUL (never a borrower id) and hash to the partition
they describe: each partition's reached watermark (the event clock's horizon, see the runtime) and its
applied input offsets (where to read on after a restart, see the checkpoint). A restart reads every
entry once: :func:`summarize` gives what it needs of a state without building it.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from monitor.topics import partition_for

__all__ = ["BOOKKEEPING", "OFFSETS_PREFIX", "WATERMARK_PREFIX", "bookkeeping_key", "offsets_key", "summarize",
           "watermark_key"]

BOOKKEEPING = "\x00"  # table keys of the worker's own records start with it (never a borrower id)
WATERMARK_PREFIX = "\x00watermark:"
OFFSETS_PREFIX = "\x00offsets:"


def bookkeeping_key(prefix: str, partition: int, partitions: int,
                    partition_of: Callable[[str], int] | None = None) -> str:
    """A table key of the worker's own (``prefix`` + partition + a counter) that hashes to ``partition``."""
    where = partition_of or (lambda key: partition_for(key, partitions))
    i = 0
    while True:
        key = f"{prefix}{partition}:{i}"
        if where(key) == partition:
            return key
        i += 1


def watermark_key(partition: int, partitions: int, partition_of: Callable[[str], int] | None = None) -> str:
    """The table key under which a partition's reached watermark is kept (it hashes to that partition)."""
    return bookkeeping_key(WATERMARK_PREFIX, partition, partitions, partition_of)


def offsets_key(partition: int, partitions: int, partition_of: Callable[[str], int] | None = None) -> str:
    """The table key under which a partition's applied input offsets are kept: ``{topic: next offset}``,
    written with the states they produced (everything before them is in the table)."""
    return bookkeeping_key(OFFSETS_PREFIX, partition, partitions, partition_of)


class _ProfileSummary(BaseModel):  # the keys of monitor.state's JSON form: short, or long in older states
    model_config = ConfigDict(extra="ignore")

    exposure: float = Field(0.0, validation_alias=AliasChoices("x", "exposure"))


class _StateSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    wake: int | None = Field(None, validation_alias=AliasChoices("w", "wake"))
    tier: int = Field(0, validation_alias=AliasChoices("t", "tier"))
    profile: _ProfileSummary | None = Field(None, validation_alias=AliasChoices("p", "profile"))


def summarize(blob: bytes) -> tuple[int | None, int, float | None]:
    """(next wake-up, effective tier, exposure or None before the profile) of a stored state, read
    without building the state (a restart reads every borrower of its partitions: a million of them
    take seconds this way, and several times longer through :func:`monitor.state.load_state`).
    The fields are the state's compact JSON form, defaults left out (see ``dump_state``)."""
    doc = _StateSummary.model_validate_json(blob)
    return doc.wake, doc.tier, (doc.profile.exposure if doc.profile is not None else None)
