"""What every process of the monitor exports about itself: process figures and a build-info series.

:func:`register_process_metrics` puts on a registry (the worker's or the desk's own; never the global one):

* ``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ``process_virtual_memory_bytes``,
  ``process_open_fds``, ``process_max_fds``, ``process_start_time_seconds`` (prometheus_client's
  process collector, read from ``/proc`` at scrape time);
* ``python_info`` (the interpreter);
* ``monitor_build_info{component, version, policy_version}`` = 1: the package version installed and the
  policy version loaded (a rolling upgrade half done shows two of either).
"""

from __future__ import annotations

from importlib import metadata

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector

__all__ = ["register_process_metrics", "version"]


def version() -> str:
    """The installed package's version ("unknown" when run from a tree that was never installed)."""
    try:
        return metadata.version("monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


def register_process_metrics(registry: CollectorRegistry, component: str, policy_version: str) -> None:
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    info = Gauge("monitor_build_info", "The monitor's version and the policy version this process runs (always 1)",
                 ["component", "version", "policy_version"], registry=registry)
    info.labels(component, version(), policy_version).set(1)
