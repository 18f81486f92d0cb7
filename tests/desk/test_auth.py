"""Who may call the desk: users file, tokens, 401/403 per role and team."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import timedelta

import httpx
import pytest

from monitor import cli
from monitor._errors import ConfigError
from monitor.desk import auth as auth_mod
from monitor.desk.api import create_app
from monitor.desk.auth import Authenticator, add_user, hash_token, load_users
from tests.desk.desk_fakes import T0, USERS, LoopbackDesk, authenticator, bearer, portfolio

NOW = T0 + timedelta(days=3)
UNTIL = (NOW + timedelta(days=20)).isoformat()


@pytest.mark.parametrize("name", ["users.toml", "users.json"])
def test_users_add_stores_only_the_hash_and_the_printed_token_authenticates(tmp_path, name):
    path = tmp_path / name
    t1 = add_user(path, "li.wei", "inspector", ("T01", "T02"))
    t2 = add_user(path, "zhang", "supervisor", ())
    text = path.read_text()
    assert t1 not in text and t2 not in text
    assert hash_token(t1) in text and hash_token(t2) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = Authenticator(load_users(path))
    p = users.principal(t1)
    assert (p.user, p.role, p.teams) == ("li.wei", "inspector", frozenset({"T01", "T02"}))
    assert users.principal(t2).role == "supervisor"
    assert users.principal(t1 + "x") is None and users.principal("") is None and users.principal(None) is None
    assert len(t1) >= 43  # 32 random bytes, URL-safe base64


def test_cli_users_add_prints_the_token_once_and_refuses_a_second_user_of_the_same_name(tmp_path, capsys):
    path = tmp_path / "u.toml"
    assert cli.main(["users", "add", "--file", str(path), "--user", "ops1", "--role", "ops"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert Authenticator(load_users(path)).principal(token).user == "ops1"
    assert token not in out.err
    assert cli.main(["users", "add", "--file", str(path), "--user", "OPS1", "--role", "admin"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["users", "add", "--file", str(path), "--user", "i1", "--role", "inspector"]) == 2
    assert "an inspector needs at least one team" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    ('[[users]]\nuser = "a"\nrole = "boss"\ntoken_sha256 = "' + "0" * 64 + '"\n', "users[0].role"),
    ('[[users]]\nuser = "a"\nrole = "ops"\ntoken_sha256 = "abc"\n', "users[0].token_sha256"),
    ('[[users]]\nuser = "a"\nrole = "ops"\ntoken_sha256 = "' + "0" * 64 + '"\npassword = "x"\n', "users[0].password"),
    ('[[users]]\nuser = "a"\nrole = "ops"\ntoken_sha256 = "' + "0" * 64 + '"\n'
     '[[users]]\nuser = "A"\nrole = "ops"\ntoken_sha256 = "' + "1" * 64 + '"\n', "listed twice"),
    ("users = [", "not valid TOML"),
])
def test_a_bad_users_file_is_refused_naming_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "u.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_users(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_tokens_are_compared_in_constant_time_against_every_user(monkeypatch):
    calls = []
    real = auth_mod.hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_mod.hmac, "compare_digest", counting)
    users = authenticator()
    assert users.principal("tok-risk-0123456789abcdef").user == "rita"  # the first user
    assert len(calls) == len(USERS)  # no early exit on a match
    calls.clear()
    assert users.principal("wrong") is None
    assert len(calls) == len(USERS)
    assert all(len(a) == len(b) == 64 for a, b in calls)  # hashes, never the token itself


# (method, path, body, roles allowed); inspectors of T1 may reach T1 (B0) but not T2 (B1): another team's borrower
# is answered 404, like one that does not exist
CASE = "{case}"
MATRIX = [
    ("GET", "/api/v1/alerts", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("GET", "/api/v1/cases", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("GET", f"/api/v1/cases/{CASE}", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("POST", f"/api/v1/cases/{CASE}/notes", {"text": "x", "reason": "r"}, {"risk", "risk2", "admin"}),
    ("POST", f"/api/v1/cases/{CASE}/release-approval", {"reason": "r"}, {"super", "super2", "admin"}),
    ("GET", "/api/v1/override-requests", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("POST", "/api/v1/borrowers/B0/overrides",
     {"action": "set", "direction": "floor", "tier": "warning", "until": UNTIL, "reason": "r"},
     {"risk", "risk2", "admin"}),
    ("GET", "/api/v1/borrowers/B0", None, {"risk", "risk2", "super", "super2", "admin", "insp1"}),
    ("GET", "/api/v1/borrowers/B1", None, {"risk", "risk2", "super", "super2", "admin", "insp2"}),
    ("GET", "/api/v1/borrowers/B0/audit", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("GET", "/api/v1/teams/T1/schedule", None, {"risk", "risk2", "super", "super2", "admin", "insp1"}),
    ("GET", "/api/v1/teams/T2/schedule.csv", None, {"risk", "risk2", "super", "super2", "admin", "insp2"}),
    ("GET", "/api/v1/teams/T1/schedule.ics", None, {"risk", "risk2", "super", "super2", "admin", "insp1"}),
    ("GET", "/api/v1/teams/T2/plan", None, {"risk", "risk2", "super", "super2", "admin", "insp2"}),
    ("GET", "/api/v1/teams/T1/forecast", None, {"risk", "risk2", "super", "super2", "admin", "insp1"}),
    ("GET", "/api/v1/forecast", None, {"risk", "risk2", "super", "super2", "admin"}),
    ("POST", "/api/v1/borrowers/B0/visits", {"outcome": "normal"}, {"admin", "insp1"}),
    ("POST", "/api/v1/borrowers/B1/visits", {"outcome": "normal"}, {"admin", "insp2"}),
    ("GET", "/metrics", None, {"ops", "admin"}),
    ("GET", "/api/v1/me", None, set(USERS)),
]


def _run(coro):
    return asyncio.run(coro)


async def _matrix() -> list[tuple[str, str, str, int, str]]:
    desk = LoopbackDesk()
    desk.ingest(portfolio())
    app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
    case_id = sorted(desk.view.cases)[0]
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
        for method, path, body, allowed in MATRIX:
            path = path.replace(CASE, case_id)
            for who in [*USERS, None, "forged"]:
                headers = bearer(who) if who in USERS else ({"Authorization": "Bearer forged"} if who else {})
                r = await c.request(method, path, json=body, headers=headers)
                out.append((method, path, str(who), r.status_code, r.headers.get("www-authenticate", "")))
    return out


def test_every_endpoint_answers_401_without_a_valid_token_and_403_outside_role_or_team():
    results = _run(_matrix())
    checked = 0
    for (method, path, who, status, challenge), (m, p, _, roles) in zip(
            results, [row for row in MATRIX for _ in range(len(USERS) + 2)], strict=True):
        assert method == m
        if who in ("None", "forged"):
            assert status == 401 and challenge == "Bearer", (method, path, who, status)
        elif who in roles:
            assert status not in (401, 403), (method, path, who, status)
        elif who.startswith("insp") and path.startswith("/api/v1/borrowers/") and \
                not path.endswith(("/overrides", "/audit")):
            assert status == 404, (method, path, who, status)  # as for a borrower that does not exist
        else:
            assert status == 403, (method, path, who, status)
        checked += 1
    assert checked == len(MATRIX) * (len(USERS) + 2)


def test_unauthenticated_health_and_readiness_but_nothing_else():
    async def go():
        desk = LoopbackDesk()
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return [(await c.get(p)).status_code for p in ("/healthz", "/readyz", "/metrics", "/api/v1/alerts")]

    assert _run(go()) == [200, 200, 401, 401]


def test_a_failed_login_never_reveals_the_token_in_the_answer():
    async def go():
        desk = LoopbackDesk()
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            r = await c.get("/api/v1/alerts", headers={"Authorization": "Bearer secret-guess-123"})
            return r.status_code, r.text

    status, text = _run(go())
    assert status == 401 and "secret-guess-123" not in text
    assert json.loads(text) == {"detail": "a valid bearer token is required", "code": "unauthorized", "params": {}}


def test_logs_never_carry_tokens(caplog):
    from tests.desk.desk_fakes import token

    async def go():
        desk = LoopbackDesk()
        desk.ingest(portfolio())
        app = create_app(desk, auth=authenticator(), clock=lambda: NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            case = sorted(desk.view.cases)[0]
            await c.post(f"/api/v1/cases/{case}/acknowledge", json={"reason": "x"}, headers=bearer("risk"))
            await c.get("/api/v1/alerts", headers={"Authorization": "Bearer guessed-token-42"})
            desk.fail = True
            await c.post(f"/api/v1/cases/{case}/notes", json={"text": "t", "reason": "r"}, headers=bearer("risk"))

    with caplog.at_level("DEBUG"):
        _run(go())
    text = caplog.text
    assert "change written: acknowledge by rita" in text and "could not write" in text
    assert token("risk") not in text and "guessed-token-42" not in text


def test_serve_refuses_to_start_without_a_usable_users_file(tmp_path, capsys):
    assert cli.main(["serve", "--users-file", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.toml"
    empty.write_text("users = []\n")
    assert cli.main(["serve", "--users-file", str(empty)]) == 2
    assert "no users (add one with monitor users add)" in capsys.readouterr().err
