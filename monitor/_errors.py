"""The exception tree of the monitor.

    MonitorError                 root: catch this to catch everything we raise
    ├── PolicyError              a policy file is unreadable or invalid (names the key)
    ├── InputError               an input file or argument cannot be used
    └── ConfigError              a setting of the runtime is invalid

Malformed events are not exceptions: they become rejects with a reason.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error this package raises on purpose."""


class PolicyError(MonitorError):
    """A policy file is unreadable or invalid."""


class InputError(MonitorError):
    """An input file or argument cannot be used."""


class ConfigError(MonitorError):
    """A runtime setting is invalid."""
