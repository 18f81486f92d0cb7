"""Who may call the desk: bearer tokens mapped to users, roles and teams.

The users file (TOML, or JSON when its name ends in ``.json``) holds only the
SHA-256 of each token, never the token::

    [[users]]
    user = "li.wei"
    role = "inspector"            # risk_officer, supervisor, inspector, ops, admin
    teams = ["T01", "T02"]        # inspectors: the teams whose schedules and visits they work on
    token_sha256 = "9f86d0..."

``monitor users add`` draws a random 32-byte token, stores its hash and
prints the token once. A presented token is hashed and compared with every
stored hash by :func:`hmac.compare_digest` (no early exit on the first
match), so the time taken does not tell how much of a hash matched.
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

from monitor._errors import ConfigError
from monitor.desk.records import ROLES, Role

__all__ = ["Principal", "UserEntry", "UsersFile", "add_user", "hash_token", "load_users", "new_token"]

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]
TeamName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]


class UserEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: UserName
    role: Role
    teams: tuple[TeamName, ...] = ()
    token_sha256: Hex64

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
        return self


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user with a role (and teams, for inspectors)."""

    user: str
    role: str
    teams: frozenset[str]

    def in_team(self, team: str | None) -> bool:
        """Whether the caller works on ``team`` (every role but the inspector works on every team)."""
        if self.role != "inspector":
            return True
        return team is not None and team in self.teams


def new_token() -> str:
    """A random 32-byte token, URL-safe text."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Authenticator:
    """Maps a bearer token to its :class:`Principal`."""

    def __init__(self, users: UsersFile) -> None:
        self._entries = [(u.token_sha256.encode(), Principal(u.user, u.role, frozenset(u.teams)))
                         for u in users.users]

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


def _parse(path: Path, raw: bytes) -> UsersFile:
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from None
    try:
        return UsersFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{path}: {where + ': ' if where else ''}{msg}") from None


def load_users(path: str | Path) -> UsersFile:
    """Read and validate a users file; :class:`ConfigError` names the file and the entry."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return _parse(p, raw)


def _toml(users: UsersFile) -> str:
    out = ["# Alert desk users: token hashes only (monitor users add). Roles: " + ", ".join(ROLES), ""]
    for u in users.users:
        out.append("[[users]]")
        out.append(f"user = {json.dumps(u.user)}")
        out.append(f"role = {json.dumps(u.role)}")
        out.append(f"teams = [{', '.join(json.dumps(t) for t in u.teams)}]")
        out.append(f"token_sha256 = {json.dumps(u.token_sha256)}")
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
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{where + ': ' if where else ''}{str(err['msg']).removeprefix('Value error, ')}") from None
    updated = UsersFile(users=[*current.users, entry])
    text = json.dumps(updated.model_dump(mode="json"), indent=2) + "\n" if p.suffix == ".json" else _toml(updated)
    _parse(p, text.encode())  # what is written reads back the same
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(p)
    return token
