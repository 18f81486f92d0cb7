"""Calendar feeds opened by a feed key: the route, the users file's feed key hashes, ``monitor users feed-key``,
and the key kept out of the logs (a real uvicorn server with its access log on)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from icalendar import Calendar

from monitor import cli
from monitor._errors import ConfigError
from monitor.desk.api import create_app
from monitor.desk.auth import FEED_KEY_PREFIX, Authenticator, UserEntry, UsersFile, add_user, hash_token, load_users, \
    set_feed_key
from monitor.desk.routes_feeds import mask_feed_keys
from monitor.desk.view import SCHEDULE
from tests.desk.desk_fakes import T0, USERS, LoopbackDesk, bearer, portfolio, schedule, token

NOW = T0 + timedelta(days=3)
TODAY = date(2026, 3, 4)  # NOW in Asia/Shanghai
FEEDS = ("insp1", "risk", "ops")  # the users given a feed key here (an ops key opens nothing)


def feed(name: str) -> str:
    return f"feed_{name}-key-0123456789abcdef"


def authenticator() -> Authenticator:
    entries = [UserEntry(user=u, role=r, teams=t, token_sha256=hash_token(token(k)),  # type: ignore[arg-type]
                         feed_key_sha256=hash_token(feed(k)) if k in FEEDS else None)
               for k, (u, r, t) in USERS.items()]
    return Authenticator(UsersFile(users=entries))


Client = httpx.AsyncClient


def run(test: Callable[[Client], Awaitable[Any]], auth: Authenticator | None = None,
        extra: list[tuple[str, bytes | None, bytes | None]] = ()) -> Any:  # type: ignore[assignment]
    async def go() -> Any:
        desk = LoopbackDesk()
        desk.ingest([*portfolio(), *extra])
        app = create_app(desk, auth=auth or authenticator(), clock=lambda: NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await test(c)

    return asyncio.run(go())


def _events(body: bytes) -> dict[str, date]:
    cal = Calendar.from_ical(body)
    return {str(e["uid"]).split("-")[0]: e.decoded("dtstart") for e in cal.walk("VEVENT")}


# ---------------------------------------------------------------------------------------------------- the route

def test_the_feed_is_the_teams_calendar_for_the_next_90_days_opened_by_the_feed_key_alone():
    async def t(c: Client) -> None:
        r = await c.get("/api/v1/feeds/T1.ics", params={"key": feed("insp1")})
        assert r.status_code == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
        assert r.headers["cache-control"] == "private, no-cache"
        cal = Calendar.from_ical(r.content)
        assert str(cal["x-wr-calname"]) == "Visits T1"
        events = _events(r.content)
        assert set(events) == {"B0", "B2", "B4", "L60"}  # not L120, due after 90 days
        assert all(TODAY <= d <= TODAY + timedelta(days=90) for d in events.values())
        # the same bytes as the bearer-token download for today + 90 days
        same = await c.get("/api/v1/teams/T1/schedule.ics", params={"end": (TODAY + timedelta(days=90)).isoformat()},
                           headers=bearer("insp1"))
        assert same.status_code == 200 and r.content == same.content
        # the default download (today + 30 days) leaves L60 out
        thirty = await c.get("/api/v1/teams/T1/schedule.ics", headers=bearer("insp1"))
        assert set(_events(thirty.content)) == {"B0", "B2", "B4"}
        # a risk officer's key opens every team; a range may still be given
        r2 = await c.get("/api/v1/feeds/T2.ics", params={"key": feed("risk")})
        assert r2.status_code == 200 and set(_events(r2.content)) == {"B1", "B3", "B5"}
        end = (TODAY + timedelta(days=20)).isoformat()
        r3 = await c.get("/api/v1/feeds/T1.ics", params={"key": feed("insp1"), "end": end})
        assert set(_events(r3.content)) == {"B0"}

    later = [(SCHEDULE, f"L{d}".encode(), schedule(f"L{d}", TODAY + timedelta(days=d), tier="watch")) for d in (60, 120)]
    run(t, extra=later)


@pytest.mark.parametrize(("team", "key"), [
    ("T1", "feed_wrong-key-0123456789abcdef"),  # unknown key
    ("T2", feed("insp1")),  # an inspector's key, another team
    ("T1", feed("ops")),  # an ops user's key reads no schedule
    ("T1", token("insp1")),  # a bearer token is not a feed key
    ("T1", token("admin")),
    ("T1", "x" * 512),
])
def test_a_wrong_key_or_team_gets_the_same_404(team, key):
    async def t(c: Client) -> tuple[int, bytes, bytes]:
        r = await c.get(f"/api/v1/feeds/{team}.ics", params={"key": key})
        unknown = await c.get("/api/v1/feeds/T1.ics", params={"key": "feed_nobody"})
        return r.status_code, r.content, unknown.content

    status, body, unknown = run(t)
    assert status == 404 and body == unknown  # the answer does not tell a wrong key from a wrong team
    assert b"BEGIN:VCALENDAR" not in body and key.encode() not in body


def test_the_feed_takes_no_bearer_token_in_the_query_nor_in_a_header():
    async def t(c: Client) -> None:
        for name in ("token", "access_token"):
            r = await c.get("/api/v1/feeds/T1.ics", params={name: token("insp1")})
            assert r.status_code == 422 and b"BEGIN:VCALENDAR" not in r.content
            assert token("insp1") not in r.text
        r = await c.get("/api/v1/feeds/T1.ics", headers=bearer("insp1"))
        assert r.status_code == 422 and "key" in r.text  # the header does not stand in for the key
        r = await c.get("/api/v1/feeds/T1.ics", params={"key": token("insp1")}, headers=bearer("insp1"))
        assert r.status_code == 404

    run(t)


def test_the_api_refuses_a_feed_key_as_a_bearer_token():
    async def t(c: Client) -> None:
        key = {"Authorization": f"Bearer {feed('risk')}"}
        for path in ("/api/v1/me", "/api/v1/teams/T1/schedule.ics", "/api/v1/alerts"):
            r = await c.get(path, headers=key)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        me = await c.get("/api/v1/me", headers=bearer("insp1"))
        assert me.json() == {"user": "ivan", "role": "inspector", "teams": ["T1"], "feed_key": True,
                             "timezone": "Asia/Shanghai"}
        assert (await c.get("/api/v1/me", headers=bearer("insp2"))).json()["feed_key"] is False

    run(t)


def _status(key: str, auth: Authenticator) -> int:
    async def t(c: Client) -> int:
        return (await c.get("/api/v1/feeds/T1.ics", params={"key": key})).status_code

    return int(run(t, auth))


def test_a_replaced_or_revoked_key_no_longer_opens_the_feed(tmp_path):
    path = tmp_path / "users.toml"
    add_user(path, "li.wei", "inspector", ("T1",))
    first = set_feed_key(path, "li.wei")
    second = set_feed_key(path, "LI.WEI")  # user ids match regardless of case, as in users add
    assert first and second and first != second
    auth = Authenticator(load_users(path))
    assert (_status(first, auth), _status(second, auth)) == (404, 200)
    assert set_feed_key(path, "li.wei", revoke=True) is None
    auth = Authenticator(load_users(path))
    assert (_status(first, auth), _status(second, auth)) == (404, 404)
    assert "feed_key_sha256" not in path.read_text()


# ------------------------------------------------------------------------------------------------ the users file

@pytest.mark.parametrize("name", ["users.toml", "users.json"])
def test_the_users_file_round_trips_with_and_without_feed_keys(tmp_path, name):
    path = tmp_path / name
    t1 = add_user(path, "li.wei", "inspector", ("T01", "T02"))
    t2 = add_user(path, "zhang", "supervisor", ())
    before = path.read_text()
    assert "feed_key" not in before  # a file without feed keys stays as it was written before them
    old = load_users(path)
    assert [u.feed_key_sha256 for u in old.users] == [None, None]
    key = set_feed_key(path, "li.wei")
    assert key is not None and key.startswith(FEED_KEY_PREFIX) and len(key) >= len(FEED_KEY_PREFIX) + 43
    text = path.read_text()
    assert key not in text and hash_token(key) in text and text.count("feed_key_sha256") == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = load_users(path)
    assert users.users[0].model_copy(update={"feed_key_sha256": None}) == old.users[0] and users.users[1] == old.users[1]
    auth = Authenticator(users)
    who = auth.feed_principal(key)
    assert (who.user, who.role, who.teams, who.feed_key) == ("li.wei", "inspector", frozenset({"T01", "T02"}), True)
    assert auth.principal(key) is None and auth.feed_principal(t1) is None and auth.feed_principal(t2) is None
    assert auth.principal(t1).feed_key is True and auth.principal(t2).feed_key is False
    assert auth.feed_principal(key + "x") is None and auth.feed_principal("") is None and auth.feed_principal(None) is None
    add_user(path, "wang", "inspector", ("T03",))  # adding a user keeps the others' feed keys
    assert Authenticator(load_users(path)).feed_principal(key).user == "li.wei"
    set_feed_key(path, "li.wei", revoke=True)
    assert "feed_key" not in path.read_text()
    assert Authenticator(load_users(path)).feed_principal(key) is None


@pytest.mark.parametrize(("entry", "message"), [
    ('feed_key_sha256 = "abc"\n', "users[0].feed_key_sha256"),
    (f'feed_key_sha256 = "{"0" * 64}"\n', "the same feed key hash as a token"),
])
def test_a_bad_feed_key_hash_is_refused_naming_the_entry(tmp_path, entry, message):
    path = tmp_path / "u.toml"
    path.write_text('[[users]]\nuser = "a"\nrole = "risk_officer"\ntoken_sha256 = "' + "0" * 64 + '"\n' + entry)
    with pytest.raises(ConfigError) as err:
        load_users(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_two_users_may_not_share_a_feed_key_hash(tmp_path):
    path = tmp_path / "u.json"
    same = "2" * 64
    path.write_text(json.dumps({"users": [
        {"user": "a", "role": "admin", "token_sha256": "0" * 64, "feed_key_sha256": same},
        {"user": "b", "role": "admin", "token_sha256": "1" * 64, "feed_key_sha256": same}]}))
    with pytest.raises(ConfigError, match="the same feed key hash"):
        load_users(path)


# --------------------------------------------------------------------------------------------------------- the CLI

def test_cli_feed_key_prints_the_key_once_replaces_it_and_revokes_it(tmp_path):
    path = tmp_path / "users.toml"
    add_user(path, "li.wei", "inspector", ("T1",))
    add_user(path, "otto", "ops", ())
    runner = CliRunner()
    args = ["users", "feed-key", "--file", str(path), "--user", "li.wei"]
    first = runner.invoke(cli.cli, args)
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    assert key.startswith(FEED_KEY_PREFIX) and "\n" not in key and key not in first.stderr
    assert "/api/v1/feeds/TEAM.ics?key=KEY" in first.stderr and "restart monitor serve" in first.stderr
    assert Authenticator(load_users(path)).feed_principal(key).user == "li.wei"
    again = runner.invoke(cli.cli, args)
    new = again.stdout.strip()
    assert again.exit_code == 0 and new != key
    auth = Authenticator(load_users(path))
    assert auth.feed_principal(key) is None and auth.feed_principal(new).user == "li.wei"
    revoked = runner.invoke(cli.cli, [*args, "--revoke"])
    assert revoked.exit_code == 0 and revoked.stdout == "" and "revoked" in revoked.stderr
    assert Authenticator(load_users(path)).feed_principal(new) is None
    nobody = runner.invoke(cli.cli, ["users", "feed-key", "--file", str(path), "--user", "nobody"])
    assert nobody.exit_code == 1 and "no user 'nobody'" in nobody.stderr and nobody.stdout == ""
    ops = runner.invoke(cli.cli, ["users", "feed-key", "--file", str(path), "--user", "otto"])
    assert ops.exit_code == 1 and "would open nothing" in ops.stderr
    missing = runner.invoke(cli.cli, ["users", "feed-key", "--file", str(tmp_path / "none.toml"), "--user", "x"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert "feed_key_sha256" not in path.read_text()


# -------------------------------------------------------------------------------------------------------- the logs

def test_mask_feed_keys_masks_every_key_parameter():
    assert mask_feed_keys("GET /api/v1/feeds/T1.ics?key=feed_abc-_x HTTP/1.1") == \
        "GET /api/v1/feeds/T1.ics?key=*** HTTP/1.1"
    assert mask_feed_keys("/f.ics?end=2026-05-01&key=s3cret&x=1") == "/f.ics?end=2026-05-01&key=***&x=1"
    assert mask_feed_keys("/api/v1/alerts?team=T1") == "/api/v1/alerts?team=T1"


def test_the_key_never_appears_in_the_log_of_a_request(caplog):
    """A real uvicorn server with its access log on (as ``monitor serve --loglevel debug``): the request line
    is logged with the key masked."""
    desk = LoopbackDesk()
    desk.ingest(portfolio())
    app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
    levels = {n: logging.getLogger(n).level for n in ("uvicorn.access", "uvicorn.error")}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=True,
                                           log_level="debug", lifespan="off"))
    for client_side in ("httpx", "httpcore"):  # the test's own client logs the URL it asks for
        caplog.set_level(logging.WARNING, logger=client_side)
    caplog.set_level(logging.DEBUG)  # last: it also sets the capturing handler's level
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}/api/v1/feeds/T1.ics"
        with httpx.Client(timeout=10) as c:
            ok = c.get(base, params={"key": feed("insp1")})
            wrong = c.get(base, params={"key": "feed_typo-of-a-real-key"})
        assert ok.status_code == 200 and b"BEGIN:VCALENDAR" in ok.content and wrong.status_code == 404

        def access_lines() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]

        while len(access_lines()) < 2:
            assert time.monotonic() < deadline, f"no access log lines: {caplog.text}"
            time.sleep(0.02)
    finally:
        server.should_exit = True
        thread.join(10)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    lines = access_lines()
    assert any("/api/v1/feeds/T1.ics?key=*** " in line and " 200" in line for line in lines), lines
    assert any("/api/v1/feeds/T1.ics?key=*** " in line and " 404" in line for line in lines), lines
    everything = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (feed("insp1"), "feed_typo-of-a-real-key", hash_token(feed("insp1"))):
        assert secret not in everything


def test_the_feed_route_is_documented_without_a_security_scheme():
    async def t(c: Client) -> dict[str, Any]:
        return (await c.get("/openapi.json")).json()

    op = run(t)["paths"]["/api/v1/feeds/{team}.ics"]["get"]
    assert "security" not in op and {"200", "404", "422"} <= set(op["responses"])
    assert [p["name"] for p in op["parameters"] if p["in"] == "query"] == ["key", "start", "end"]
    assert "text/calendar" in op["responses"]["200"]["content"]

