"""Reading policy files (TOML or JSON) into a validated :class:`Policy`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from monitor._errors import PolicyError
from monitor.config import read_document
from monitor.rules.policy import Policy, parse_policy

__all__ = ["DEFAULT_POLICY_PATH", "default_policy", "load_policy"]

DEFAULT_POLICY_PATH = Path(str(resources.files("monitor.rules").joinpath("default_policy.toml")))


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (``.toml`` or ``.json``); raises :class:`PolicyError`."""
    p = Path(path)
    data = read_document(p, error=PolicyError)  # the one loader of configuration files (monitor.config)
    if not isinstance(data, dict):
        raise PolicyError(f"{p}: the policy must be a table/object")
    return parse_policy(data, str(p))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy shipped with the package (immutable, so shared)."""
    return load_policy(DEFAULT_POLICY_PATH)
