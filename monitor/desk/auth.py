"""Who may call the desk: bearer tokens mapped to users, roles and teams.

The users file (TOML, or JSON when its name ends in ``.json``) holds only the
SHA-256 of each token, never the token::

    [[users]]
    user = "li.wei"
    role = "inspector"            # risk_officer, supervisor, inspector, ops, admin
    teams = ["T01", "T02"]        # inspectors: the teams whose schedules and visits they work on
    token_sha256 = "9f86d0..."
    feed_key_sha256 = "5e8848..."  # optional: the calendar feed key (monitor users feed-key)

``monitor users add`` draws a random 32-byte token, stores its hash and
prints the token once. A presented token is hashed and compared with every
stored hash by :func:`hmac.compare_digest` (no early exit on the first
match), so the time taken does not tell how much of a hash matched.

A **feed key** (``monitor users feed-key``) is a second, read-only secret a
calendar application puts in the address of a team's iCalendar feed (it cannot
send an ``Authorization`` header). It opens only the feeds of the user's teams
(every team for the roles that read every team's schedule), nothing else: the
bearer check never looks at feed key hashes and the feed check never looks at
token hashes. Issuing a new key replaces the old one; ``--revoke`` removes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from monitor._errors import ConfigError, describe
from monitor.config import load, parse
from monitor.desk.records import ROLES, Role

__all__ = ["FEED_KEY_PREFIX", "Principal", "UserEntry", "UsersFile", "add_user", "hash_token", "load_users",
           "new_feed_key", "new_token", "set_feed_key"]

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]
TeamName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]


class UserEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: UserName
    role: Role
    teams: tuple[TeamName, ...] = ()
    token_sha256: Hex64
    feed_key_sha256: Hex64 | None = None

    @model_validator(mode="after")
    def _teams(self) -> UserEntry:
        if self.role == "inspector" and not self.teams:
            raise ValueError("an inspector needs at least one team")
        return self


class UsersFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: list[UserEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> UsersFile:
        seen: set[str] = set()
        hashes: set[str] = set()
        for u in self.users:
            if u.user.casefold() in seen:
                raise ValueError(f"user {u.user!r} is listed twice")
            if u.token_sha256 in hashes:
                raise ValueError(f"user {u.user!r}: the same token hash as another user")
            seen.add(u.user.casefold())
            hashes.add(u.token_sha256)
        for u in self.users:  # a feed key is never also a token, nor another user's feed key
            if u.feed_key_sha256 is None:
                continue
            if u.feed_key_sha256 in hashes:
                raise ValueError(f"user {u.user!r}: the same feed key hash as a token or another feed key")
            hashes.add(u.feed_key_sha256)
        return self


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user with a role (and teams, for inspectors)."""

    user: str
    role: str
    teams: frozenset[str]
    feed_key: bool = False  # whether the user has a calendar feed key (never the key)

    def in_team(self, team: str | None) -> bool:
        """Whether the caller works on ``team`` (every role but the inspector works on every team)."""
        if self.role != "inspector":
            return True
        return team is not None and team in self.teams


def new_token() -> str:
    """A random 32-byte token, URL-safe text."""
    return secrets.token_urlsafe(32)


FEED_KEY_PREFIX = "feed_"


def new_feed_key() -> str:
    """A random 32-byte calendar feed key, URL-safe text with a recognisable prefix (for secret scanners)."""
    return FEED_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Authenticator:
    """Maps a bearer token to its :class:`Principal`."""

    def __init__(self, users: UsersFile) -> None:
        people = [(u, Principal(u.user, u.role, frozenset(u.teams), u.feed_key_sha256 is not None))
                  for u in users.users]
        self._entries = [(u.token_sha256.encode(), p) for u, p in people]
        self._feeds = [(u.feed_key_sha256.encode(), p) for u, p in people if u.feed_key_sha256 is not None]

    def __len__(self) -> int:
        return len(self._entries)

    def principal(self, token: str | None) -> Principal | None:
        if not token or len(token) > 512:
            return None
        digest = hash_token(token).encode()
        found: Principal | None = None
        for stored, principal in self._entries:  # every entry is compared: no early exit
            if hmac.compare_digest(stored, digest):
                found = principal
        return found

    def feed_principal(self, key: str | None) -> Principal | None:
        """The user whose calendar feed key is ``key`` (feed keys only: a bearer token is never one)."""
        if not key or len(key) > 512:
            return None
        digest = hash_token(key).encode()
        found: Principal | None = None
        for stored, principal in self._feeds:  # every feed key is compared: no early exit
            if hmac.compare_digest(stored, digest):
                found = principal
        return found


def load_users(path: str | Path) -> UsersFile:
    """Read and validate a users file (TOML, or JSON by its suffix); :class:`ConfigError` names the file and
    the entry (through the one loader of configuration files, monitor.config)."""
    return load(path, UsersFile.model_validate)


def _toml(users: UsersFile) -> str:
    out = ["# Alert desk users: token hashes only (monitor users add). Roles: " + ", ".join(ROLES), ""]
    for u in users.users:
        out.append("[[users]]")
        out.append(f"user = {json.dumps(u.user)}")
        out.append(f"role = {json.dumps(u.role)}")
        out.append(f"teams = [{', '.join(json.dumps(t) for t in u.teams)}]")
        out.append(f"token_sha256 = {json.dumps(u.token_sha256)}")
        if u.feed_key_sha256 is not None:
            out.append(f"feed_key_sha256 = {json.dumps(u.feed_key_sha256)}")
        out.append("")
    return "\n".join(out)


def add_user(path: str | Path, user: str, role: str, teams: tuple[str, ...]) -> str:
    """Add ``user`` to the users file (created if missing); return the new token (shown once)."""
    p = Path(path)
    current = load_users(p) if p.exists() else UsersFile()
    if any(u.user.casefold() == user.casefold() for u in current.users):
        raise ConfigError(f"{p}: user {user!r} exists already")
    token = new_token()
    try:
        entry = UserEntry(user=user, role=role, teams=tuple(teams), token_sha256=hash_token(token))  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None
    _write(p, UsersFile(users=[*current.users, entry]))
    return token


def set_feed_key(path: str | Path, user: str, *, revoke: bool = False) -> str | None:
    """Give ``user`` a new calendar feed key (replacing any old one) and return it (shown once);
    ``revoke``: remove the user's feed key and return None."""
    p = Path(path)
    current = load_users(p)
    match = [u for u in current.users if u.user.casefold() == user.casefold()]
    if not match:
        raise ConfigError(f"{p}: no user {user!r} (add one with monitor users add)")
    if match[0].role == "ops" and not revoke:
        raise ConfigError(f"{p}: user {match[0].user!r} is ops and reads no schedules: a feed key would open nothing")
    key = None if revoke else new_feed_key()
    entry = match[0].model_copy(update={"feed_key_sha256": None if key is None else hash_token(key)})
    _write(p, UsersFile(users=[entry if u is match[0] else u for u in current.users]))
    return key


def _write(p: Path, updated: UsersFile) -> None:
    """Write the users file atomically (mode 0600), checking first that it reads back the same."""
    if p.suffix == ".json":
        text = json.dumps(updated.model_dump(mode="json", exclude_none=True), indent=2) + "\n"
    else:
        text = _toml(updated)
    data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    if parse(data, UsersFile.model_validate, str(p)) != updated:
        raise ConfigError(f"{p}: the users file would not read back the same (not written)")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(p)
