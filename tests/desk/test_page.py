"""The desk's web page as the service serves it (httpx.ASGITransport over create_app with the loopback desk),
and checks on the static files themselves: one dictionary with the same keys in both languages, no asset
or link to another host, nothing from the service put into the DOM as HTML, the token never in a URL."""

from __future__ import annotations

import asyncio
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.desk.api import create_app
from monitor.desk.page import CSP
from tests.desk.desk_fakes import LoopbackDesk, authenticator, bearer, portfolio

STATIC = Path(str(resources.files("monitor.desk") / "static"))
ROOT = Path(__file__).resolve().parents[2]


def _get(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> httpx.Response:
    async def go() -> httpx.Response:
        desk = LoopbackDesk()
        desk.ingest(portfolio())
        app = create_app(desk, auth=authenticator())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            return await c.request(method, path, headers=headers)

    return asyncio.run(go())


def _strict(r: httpx.Response) -> None:
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp


def test_the_page_is_served_at_the_root_with_strict_headers():
    r = _get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    _strict(r)
    assert r.content == (STATIC / "index.html").read_bytes()
    assert '<script type="module" src="/static/app.js"></script>' in r.text


@pytest.mark.parametrize(("name", "media_type"), [
    ("app.js", "text/javascript; charset=utf-8"), ("strings.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"),
    ("favicon.png", "image/png"),
])
def test_static_files_are_served_with_their_content_type(name, media_type):
    r = _get(f"/static/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    _strict(r)
    assert r.content == (STATIC / name).read_bytes()


def test_every_file_the_page_references_is_served():
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    refs = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    scripts = "\n".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.js"))
    refs |= {"/static/" + m for m in re.findall(r'from "\./([\w.-]+)"', scripts)}
    assert {"/static/app.js", "/static/app.css", "/static/strings.js", "/static/dom.js"} <= refs
    for ref in sorted(refs):
        assert _get(ref).status_code == 200, ref


def test_an_unchanged_file_is_revalidated_with_its_etag():
    first = _get("/static/app.js")
    etag = first.headers["etag"]
    again = _get("/static/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert _get("/static/app.js", headers={"If-None-Match": '"other"'}).status_code == 200
    head = _get("/", method="HEAD")
    assert head.status_code == 200 and head.headers["etag"] == _get("/").headers["etag"]


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/..%2Fpage.py", "/static/%2E%2E%2Fapi.py",
                                  "/static/../page.py", "/static/"])
def test_unknown_or_escaping_paths_are_not_found(path):
    r = _get(path)
    assert r.status_code == 404
    assert b"def " not in r.content and b"import" not in r.content


def test_the_page_is_not_in_the_openapi_document_and_needs_no_token():
    doc = _get("/openapi.json").json()
    assert "/" not in doc["paths"] and not any(p.startswith("/static") for p in doc["paths"])
    assert _get("/").status_code == 200  # the page itself; the API behind it still asks for a token
    assert _get("/api/v1/me").status_code == 401
    assert _get("/api/v1/me", headers=bearer("insp1")).json() == {"user": "ivan", "role": "inspector",
                                                                  "teams": ["T1"], "feed_key": False,
                                                                  "timezone": "Asia/Shanghai"}


def _strings() -> dict[str, dict[str, str]]:
    text = (STATIC / "strings.js").read_text(encoding="utf-8")
    body = text.split("export const STRINGS =", 1)[1].strip()
    assert body.endswith(";")
    data: dict[str, dict[str, str]] = json.loads(body[:-1])
    return data


def test_chinese_and_english_have_the_same_keys_and_no_empty_text():
    strings = _strings()
    assert sorted(strings) == ["en", "zh"]
    zh, en = strings["zh"], strings["en"]
    assert set(zh) == set(en), f"only zh: {sorted(set(zh) - set(en))}; only en: {sorted(set(en) - set(zh))}"
    for lang, table in strings.items():
        for key, text in table.items():
            assert isinstance(text, str) and text.strip(), f"{lang}.{key} is empty"
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", en[key])), key
    assert re.search(r"[\u4e00-\u9fff]", zh["app.title"]) and not re.search(r"[\u4e00-\u9fff]", en["app.title"])


def _used_keys() -> set[str]:
    keys: set[str] = set()
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'data-i18n(?:-placeholder|-title|-label)?="([^"]+)"', html))
    groups = "|".join(sorted({k.split(".")[0] for k in _strings()["zh"]}))
    for p in STATIC.glob("*.js"):
        if p.name == "strings.js":
            continue
        keys |= set(re.findall(rf'"((?:{groups})\.[a-z_0-9]+)"', p.read_text(encoding="utf-8")))
    return keys


def test_every_key_the_page_uses_is_in_the_dictionary():
    zh = _strings()["zh"]
    used = _used_keys()
    assert len(used) > 100
    assert sorted(used - set(zh)) == []
    dynamic = {f"live.{s}" for s in ("off", "connecting", "live", "retrying", "stopped")} | {
        f"action.{a}" for a in ("acknowledge", "assign", "note", "request_release", "approve_release",
                                "reject_release", "set_floor", "clear_floor")} | {
        f"chip.{c}" for c in ("active", "mine", "unassigned", "past_deadline", "visit_overdue", "open")}
    assert sorted(dynamic - set(zh)) == []


def test_codes_are_labelled_from_the_one_vocabulary():
    """Every code the page shows goes through the vocabulary (monitor.vocabulary), never strings.js: each
    section the scripts name exists there, and each code the page names in its markup has a label."""
    from monitor.vocabulary import SECTIONS, known

    sections: set[str] = set()
    for p in STATIC.glob("*.js"):
        sections |= set(re.findall(r'\b(?:label|badge|labels)\("([a-z_]+)"', p.read_text(encoding="utf-8")))
    assert {"tier", "case_status", "alert_kind", "rule", "user_role", "inspection_outcome", "plan_status"} <= sections
    assert sections - set(SECTIONS) <= {"team"}, sections - set(SECTIONS)
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    offered = re.findall(r'data-codes="([a-z_]+)"', html)
    assert sorted(set(offered)) == ["alert_kind", "case_status", "tier"] and len(offered) == 5
    dom = (STATIC / "dom.js").read_text(encoding="utf-8")
    order = re.search(r"const CODE_ORDER = \{(.+?)\};", dom, re.S).group(1)
    for section, codes in re.findall(r'([a-z_]+): \[([^\]]+)\]', order):
        listed = re.findall(r'"([a-z_]+)"', codes)
        assert listed and all(known(section, c) for c in listed) and set(listed) == set(SECTIONS[section]), section
    zh = _strings()["zh"]
    assert not any(k.split(".")[0] in ("tier", "status", "kind", "role", "outcome", "plan", "family") for k in zh)


def _static_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(STATIC.iterdir()) if p.suffix != ".png"}


def test_no_file_refers_to_another_host():
    files = _static_texts()
    assert set(files) >= {"index.html", "app.js", "api.js", "dom.js", "strings.js", "app.css"}
    for name, text in files.items():
        assert not re.search(r"https?://", text, re.IGNORECASE), f"{name} names a URL with a host"
        assert not re.search(r"""(?:src|href|url\()\s*=?\s*["']?//""", text), f"{name}: protocol-relative URL"
        assert "@import" not in text and "@font-face" not in text, name
    html = files["index.html"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert "style=" not in html and "<style" not in html, "inline style"


def test_the_scripts_never_parse_data_as_html_nor_put_the_token_anywhere_but_a_header():
    scripts = {n: t for n, t in _static_texts().items() if n.endswith(".js")}
    for name, text in scripts.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{name} uses {sink}"
        assert "localStorage.setItem(TOKEN" not in text and "console." not in text, name
        assert not re.search(r"[?&](access_)?token=", text), f"{name} puts a token in a URL"
    api = scripts["api.js"]
    assert "sessionStorage.setItem(TOKEN_KEY" in api and 'out.Authorization = "Bearer " + token' in api
    assert "new EventSource" not in "".join(scripts.values()), "EventSource cannot send the Authorization header"


def test_the_static_files_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"desk/static/*"' in pyproject
    names: Any = {p.name for p in STATIC.iterdir()}
    assert {"index.html", "app.js", "app.css", "strings.js"} <= names


def test_the_page_gets_the_one_vocabulary_with_the_messages_patterns():
    from monitor.vocabulary import as_json

    r = _get("/static/vocabulary.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert {k: doc[k] for k in ("zh", "en")} == as_json()
    assert doc["zh"]["tier"]["watch"] == "观察" and doc["zh"]["classification"]["special_mention"] == "关注类"
    patterns = dict(doc["error_patterns"])
    assert re.fullmatch(patterns["case_not_open"].replace("(?<", "(?P<"), "the case is released, not open")
