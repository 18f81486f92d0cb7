"""Post-loan early-warning monitor.

The public surface::

    from monitor import Engine, default_policy, load_policy, parse_event

The decision core (``events``, ``outputs``, ``state``, ``engine``,
``rules.policy``, ``rules.evaluate``) does no I/O and reads no clock; the
shells (``replay``, ``cli``, ``agents``, ``reports``) wrap it. Names below are
imported lazily so that importing the core never loads a shell.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Alert",
    "BorrowerState",
    "BorrowerView",
    "Engine",
    "MonitorError",
    "Policy",
    "PolicyError",
    "ScheduleEntry",
    "default_policy",
    "load_policy",
    "parse_event",
]

_WHERE = {
    "Alert": "monitor.outputs",
    "BorrowerView": "monitor.outputs",
    "ScheduleEntry": "monitor.outputs",
    "BorrowerState": "monitor.state",
    "Engine": "monitor.engine",
    "MonitorError": "monitor._errors",
    "PolicyError": "monitor._errors",
    "Policy": "monitor.rules.policy",
    "default_policy": "monitor.rules.loader",
    "load_policy": "monitor.rules.loader",
    "parse_event": "monitor.events",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'monitor' has no attribute {name!r}")
    return getattr(import_module(module), name)
