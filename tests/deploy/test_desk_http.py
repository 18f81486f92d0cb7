"""The desk's answers over real HTTP (uvicorn on a loopback port): no-store on every API answer, the API
reference at /docs served from the package under the page's CSP, FastAPI's CDN pages gone; and /docs in a
real headless Chromium making no request to any other host and breaking no CSP rule."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from monitor.desk.api import create_app
from monitor.desk.page import CSP
from monitor.desk.settings import DeskSettings
from tests.deploy.test_prometheus_server import _free_port
from tests.desk.desk_fakes import LoopbackDesk, authenticator, bearer, portfolio

REQUIRED = bool(os.environ.get("CI") or os.environ.get("MONITOR_REQUIRE_BROKER"))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# a bound on one answer, not an expected time: httpx's 5 s default timed out under CI load (16+ on 2 cores)
TIMEOUT = 60


class _Server:
    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", log_config=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("uvicorn did not start in 20 s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def _desk(**settings) -> object:
    desk = LoopbackDesk()
    desk.ingest(portfolio())
    return create_app(desk, auth=authenticator(), settings=DeskSettings(**settings))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with _Server(_desk()) as base:
        yield base


def test_api_answers_are_never_cached(url):
    with httpx.Client(base_url=url, timeout=TIMEOUT) as c:
        answers = [c.get("/api/v1/cases", headers=bearer("risk")), c.get("/api/v1/me", headers=bearer("ops")),
                   c.get("/metrics", headers=bearer("ops")), c.get("/healthz"), c.get("/api/v1/cases"),
                   c.get("/api/v1/cases", headers=bearer("insp1")), c.get("/api/v1/nowhere"),
                   c.get("/api/v1/cases?bogus=1", headers=bearer("risk")), c.get("/openapi.json"),
                   c.post("/api/v1/cases/x/acknowledge", content=b"{", headers=bearer("risk")),
                   c.post("/api/v1/cases/x/acknowledge", content=b"x" * 70_000, headers=bearer("risk"))]
    statuses = [r.status_code for r in answers]
    assert statuses[:6] == [200, 200, 200, 200, 401, 403] and statuses[6] == 404 and 413 in statuses
    for r in answers:
        assert r.headers["cache-control"] == "no-store", (r.request.url, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in r.headers["content-security-policy"]
    # the page's files keep their own revalidation and CSP
    page = httpx.get(url + "/", timeout=TIMEOUT)
    assert page.headers["cache-control"] == "no-cache" and page.headers["content-security-policy"] == CSP


def test_docs_are_served_from_the_package_under_the_pages_csp(url):
    r = httpx.get(url + "/docs", timeout=TIMEOUT)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CSP
    text = r.text
    assert "cdn" not in text.lower() and "<script" not in text.lower() and "http://" not in text
    assert "https://" not in text and "/api/v1/cases/{case_id}/acknowledge" in text
    css = httpx.get(url + "/docs/docs.css", timeout=TIMEOUT)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for gone in ("/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(url + gone, timeout=TIMEOUT).status_code == 404


def test_docs_can_be_turned_off():
    with _Server(_desk(api_docs=False)) as base:
        assert httpx.get(base + "/docs", timeout=TIMEOUT).status_code == 404
        assert httpx.get(base + "/healthz", timeout=TIMEOUT).status_code == 200


def test_docs_text_is_escaped():
    from monitor.desk.apidocs import render

    spec = {"info": {"title": "<script>alert(1)</script>", "description": "a & b"},
            "paths": {"/x/{id}": {"get": {"summary": "<img src=x onerror=alert(1)>", "tags": ["<b>"],
                                          "parameters": [{"name": '"><svg onload=1>', "in": "query"}]}}}}
    page = render(spec)
    assert "<script>alert" not in page and "<img" not in page and "<svg" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "a &amp; b" in page


def _browser_missing() -> list[str]:
    out = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        out.append("the selenium package")
    return out


def test_docs_in_a_real_browser_load_nothing_from_another_host(url):
    missing = _browser_missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"a browser is required but {', '.join(missing)} missing", pytrace=False)
        pytest.skip(f"no browser: {', '.join(missing)} missing")
    import json

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.get(url + "/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".op"), "the operations")
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete", "the page loaded")
        # the stylesheet applied (a CSP refusal would leave the default margin)
        assert driver.execute_script("return getComputedStyle(document.body).maxWidth") != "none"
        requested = set()
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                requested.add(msg["params"]["request"]["url"])
        assert requested and all(u.startswith(url + "/") for u in requested), requested
        problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not problems, problems
    finally:
        driver.quit()


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_nothing_but_probes_page_and_docs_answers_without_a_login():
    """Every operation of the OpenAPI document, and every route outside it, asked without a token and
    with a forged one: 401 everywhere but the probes; what answers without a login (the probes, the
    page's files, the API reference) holds no borrower's data."""
    desk = LoopbackDesk()
    desk.ingest(portfolio())
    app = create_app(desk, auth=authenticator(), settings=DeskSettings())
    case_id = sorted(desk.view.cases)[0]
    secrets = {*desk.view.cases, *(f'"{b}"' for b in desk.view.books)}  # case ids, borrower ids as JSON strings
    values = {"borrower_id": "B0", "case_id": case_id, "team": "T1", "record_id": "r1", "report_id": "x",
              "form": "csv", "name": "app.js"}
    open_ok = {"/healthz", "/readyz"}
    asked = 0
    with _Server(app) as base, httpx.Client(base_url=base, timeout=TIMEOUT) as c:
        spec = c.get("/openapi.json").json()
        for path, ops in spec["paths"].items():
            for method in ops:
                url = _fill(path, values)
                # the calendar feed takes a feed key in the query instead of a token
                key = "?key=feed_forged0123456789" if path.endswith(".ics") and "/feeds/" in path else ""
                for headers, query in (({}, ""), ({"Authorization": "Bearer forged-token-0123456789"}, key)):
                    r = c.request(method.upper(), url + query, headers=headers,
                                  json={} if method == "post" else None)
                    asked += 1
                    if path in open_ok:
                        assert r.status_code == 200, (method, path)
                    elif key and not query:
                        assert r.status_code == 422 and "key" in r.text, (method, path, r.status_code)
                    elif key:  # a key that opens nothing: as for a team that does not exist
                        assert r.status_code == 404 and r.json()["code"] == "feed_not_found", r.text
                    else:
                        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
                    assert not any(s in r.text for s in secrets), (method, path)
        assert asked > 60
        # the routes outside the API document: the page, its files, the reference, the document itself
        outside = [route.path for route in app.routes
                   if getattr(route, "path", None) and not getattr(route, "include_in_schema", True)]
        assert set(outside) >= {"/", "/static/{name}", "/docs", "/openapi.json"}, outside
        for path in outside:
            r = c.get(_fill(path, values))
            assert r.status_code == 200, path
            assert not any(s in r.text for s in secrets), path
