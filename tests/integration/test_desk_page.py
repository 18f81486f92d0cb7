"""The desk's web page in a real headless Chromium against a real ``monitor serve`` and a real worker on the
real broker (marked ``integration``).

An officer signs in with a token, sees an alert the worker raises arrive in the list over the push stream,
opens its case, sees the evidence and acknowledges it with a reason (read back through Kafka, then in the
audit trail); an inspector sees the team's schedule, is refused another team's, records a visit, sees it in
the visits, the worker moving the due date, and downloads the CSV and the iCalendar file. Every wait is a condition with a deadline
(WebDriverWait). Chromium and chromedriver are Debian's (``/usr/bin``): selenium never downloads a driver.
Without them the test is skipped, or fails when ``CI`` or ``MONITOR_REQUIRE_BROKER`` is set.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.settings import Settings
from monitor.topics import create_topics
from tests import factories as f
from tests.integration.kafka_harness import Names, Worker
from tests.integration.test_desk import Env, _produce

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRED = bool(os.environ.get("CI") or os.environ.get("MONITOR_REQUIRE_BROKER"))


def _missing() -> list[str]:
    out = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        out.append("the selenium package")
    return out


if _missing() and not REQUIRED:  # skip before the broker and the worker are started for nothing
    pytest.skip(f"no browser: {', '.join(_missing())} missing (apt install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=20)
ACK_REASON = "已电话联系借款人，逾期原因为回款延迟"
VISIT_NOTES = "厂房停产，库存积压"


@pytest.fixture(scope="module")
def desk(broker, tmp_path_factory) -> Iterator[Env]:
    """A worker and one ``monitor serve``: B1 (T1) 45 days overdue from the start; B2 (T2), B3 (T1) profiles."""
    e = Env(broker, Names(), tmp_path_factory.mktemp("page"))
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    create_topics(Settings(**{keys[k]: v for k, v in e.env.items() if k in keys}))
    events = [f.profile(T0, bid=b, team=t, branch="SH01", eid=f"{b}-profile", exposure=x)
              for b, t, x in (("B1", "T1", 8_500_000.0), ("B2", "T2", 2_000_000.0), ("B3", "T1", 12_000_000.0))]
    events.append(f.overdue(T0 + timedelta(days=1), 45, bid="B1", eid="B1-od"))
    _produce(e.env, e.tmp / "events.jsonl", events)
    e.worker = Worker(e.env, e.tmp / "worker.log").start()
    serve = e.serve("serve")
    try:
        serve.ready()
        yield e
    finally:
        for s in e.serves:
            s.stop()
        e.worker.terminate()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads) -> Iterator[WebDriver]:
    missing = _missing()
    if missing:
        pytest.fail(f"a browser is required (CI / MONITOR_REQUIRE_BROKER) but {', '.join(missing)} missing",
                    pytrace=False)
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver, timeout: float, what: str, condition: Any, poll: float = 0.2) -> Any:
    """Poll ``condition`` until truthy; an element re-rendered under it (stale) counts as not yet."""
    wait = WebDriverWait(driver, timeout, poll_frequency=poll, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, f"timed out waiting for {what}")


def _css(driver: WebDriver, selector: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def _message(driver: WebDriver) -> str:
    """The message the page shows (read in one script: the box is re-rendered for every message)."""
    text: str = driver.execute_script(
        "const m = document.querySelector('#message:not([hidden]) .message-text'); return m ? m.textContent : '';")
    return text


def _sign_in(driver: WebDriver, token: str) -> None:
    field = _wait(driver, 10, "the token field", lambda d: (x := _css(d, "#token")) and x[0].is_displayed() and x[0])
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "signin-go").click()


def _network_urls(driver: WebDriver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _csp_violations(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_an_officer_sees_a_live_alert_arrive_opens_the_case_and_acknowledges_it(browser, desk, tmp_path):
    e, serve, d = desk, desk.serves[0], browser
    started = time.monotonic()
    d.get(serve.url + "/")
    assert d.execute_script("return document.documentElement.lang") == "zh-CN"
    assert d.find_element(By.ID, "signin").find_element(By.TAG_NAME, "h2").text == "登录"

    _sign_in(d, "not-a-token")  # the service's own message for a 401
    _wait(d, 10, "the 401 message", lambda d: "a valid bearer token is required" in _message(d))
    assert "未登录或令牌无效（401）" in _message(d) and d.find_element(By.ID, "signin").is_displayed()

    _sign_in(d, e.tokens["risk"])
    _wait(d, 10, "signed in", lambda d: "rita" in d.find_element(By.ID, "whoami").text)
    assert "风险经理" in d.find_element(By.ID, "whoami").text
    _wait(d, 15, "the push stream connected", lambda d: d.find_element(By.ID, "live").get_attribute("data-state")
          == "live")
    _wait(d, 90, "the worker's alert for B1 in the list", lambda d: _css(d, '#alert-rows tr[data-borrower="B1"]'))
    assert not _css(d, '#alert-rows tr[data-borrower="B3"]')

    produced = time.monotonic()
    _produce(e.env, e.tmp / "b3.jsonl", [f.overdue(NOW - timedelta(hours=1), 45, bid="B3", eid="B3-od")])
    row = _wait(d, 60, "B3's alert pushed into the list (no reload)",
                lambda d: (r := _css(d, '#alert-rows tr.pushed[data-borrower="B3"]')) and r[0])
    pushed_after = time.monotonic() - produced
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:] == ["B3", "预警 ← 正常", "新发", "T1", "SH01", "待处理"], cells
    assert _css(d, '#alert-rows tr[data-borrower="B1"]'), "the earlier alert stays in the list"
    case_id = row.get_attribute("data-case-id")
    assert case_id

    row.click()
    head = _wait(d, 15, "B3's case", lambda d: (h := _css(d, f'#case-head[data-case-id="{case_id}"]')) and h[0])
    assert head.get_attribute("data-status") == "open"
    signal = _wait(d, 15, "the overdue signal with its evidence",
                   lambda d: (s := _css(d, '#case table.signals tr[data-rule="overdue.dpd"]')) and s[0])
    evidence = signal.text
    as_of = _wait(d, 10, "the detail's as-of instant", lambda d: (x := _css(d, "#case .as-of")) and x[0].text)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d.*", as_of), as_of  # the instant the detail describes
    assert "B3-od" in evidence and "days_past_due = 45" in evidence and "预警" in evidence, evidence

    d.find_element(By.ID, "action-acknowledge").click()
    d.find_element(By.ID, "action-submit").click()  # no reason: the page asks for one, nothing is sent
    _wait(d, 5, "the reason asked for", lambda d: "请填写原因" in _message(d))
    d.find_element(By.ID, "act-reason").send_keys(ACK_REASON)
    d.find_element(By.ID, "action-submit").click()
    _wait(d, 30, "the case acknowledged", lambda d: _css(d, f'#case-head[data-case-id="{case_id}"]'
                                                            '[data-status="acknowledged"]'))
    assert "已完成：确认接手" in _message(d)
    assert "已确认" in d.find_element(By.CSS_SELECTOR, "#case-head .case-status").text
    _wait(d, 10, "the list row's status", lambda d: _css(d, '#alert-rows tr[data-borrower="B3"] .status-acknowledged'))
    page_audit = _wait(d, 10, "the audit trail on the page",
                       lambda d: (a := _css(d, '#case table.audit tr[data-action="acknowledge"]')) and a[0])
    assert ACK_REASON in page_audit.text and "rita" in page_audit.text

    trail = httpx.get(f"{serve.url}/api/v1/borrowers/B3/audit", headers=e.h("super"), timeout=10).json()
    assert [(a["user"], a["role"], a["action"], a["reason"], a["alert_id"]) for a in trail] == \
        [("rita", "risk_officer", "acknowledge", ACK_REASON, case_id)]
    assert trail[0]["request_id"] in page_audit.text  # the page's X-Request-ID, the one in the audit record

    d.find_element(By.ID, "action-set_floor").click()  # a floor ending in the past: the service's 422, shown
    until = d.find_element(By.ID, "act-until")
    d.execute_script("arguments[0].value = '2020-01-31'", until)
    d.find_element(By.ID, "act-reason").send_keys("停产整顿")
    d.find_element(By.ID, "action-submit").click()
    _wait(d, 10, "the 422 message", lambda d: "until: must be in the future" in _message(d))
    assert "输入不符合要求（422）" in _message(d) and _css(d, "#action-form")
    d.find_element(By.CSS_SELECTOR, "#action-form button.quiet").click()

    d.find_element(By.CSS_SELECTOR, '[data-lang="en"]').click()
    assert d.find_element(By.ID, "tab-alerts").text == "Alerts & cases"
    assert d.find_element(By.CSS_SELECTOR, "#case-head .case-status").text == "Acknowledged"
    d.find_element(By.CSS_SELECTOR, '[data-lang="zh"]').click()
    assert d.find_element(By.ID, "tab-alerts").text == "预警与案件"

    d.save_screenshot(str(tmp_path / "officer.png"))
    token = e.tokens["risk"]
    urls = _network_urls(d)
    assert any(u.endswith("/api/v1/alerts/stream") for u in urls) and not any(token in u for u in urls)
    assert token not in d.execute_script("return JSON.stringify(window.localStorage)")
    assert _csp_violations(d) == []

    Select(d.find_element(By.CSS_SELECTOR, '#filters select[name="tier"]')).select_by_value("severe")
    d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    _wait(d, 10, "no severe alerts", lambda d: d.find_element(By.ID, "alert-empty").is_displayed())
    d.find_element(By.CSS_SELECTOR, "#filters button[type=reset]").click()
    _wait(d, 10, "every alert again", lambda d: len(_css(d, "#alert-rows tr")) == 2)
    _wait(d, 10, "the stream back", lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "live")
    print(f"\nofficer: B3's alert on the page {pushed_after:.1f} s after it was produced; "
          f"{time.monotonic() - started:.1f} s in all; screenshot {tmp_path / 'officer.png'}")


def test_an_inspector_sees_the_schedule_records_a_visit_and_downloads_the_csv(browser, desk, downloads, tmp_path):
    e, serve, d = desk, desk.serves[0], browser
    started = time.monotonic()
    d.get(serve.url + "/")
    d.execute_script("window.sessionStorage.clear()")  # a fresh session: the officer's token is gone
    d.get(serve.url + "/")
    _sign_in(d, e.tokens["insp1"])
    _wait(d, 10, "signed in", lambda d: "ivan" in d.find_element(By.ID, "whoami").text)
    assert not d.find_element(By.ID, "tab-alerts").is_displayed()  # inspectors have no alert feed
    row = _wait(d, 30, "B1 in team T1's schedule",
                lambda d: (r := _css(d, '#schedule-rows tr[data-borrower="B1"]')) and r[0])
    assert "预警" in row.text and "8,500,000" in row.text
    assert _wait(d, 5, "the forecast", lambda d: "未来 30 天" in d.find_element(By.ID, "forecast").text)

    team = d.find_element(By.ID, "sched-team")  # another team's schedule: the service's 403, shown
    team.clear()
    team.send_keys("T2")
    d.find_element(By.ID, "sched-show").click()
    _wait(d, 10, "the 403 message", lambda d: "an inspector sees only the schedules of their own teams"
          in _message(d))
    assert "没有权限（403）" in _message(d) and not _css(d, "#schedule-rows tr")
    team.clear()
    team.send_keys("T1")
    d.find_element(By.ID, "sched-show").click()
    _wait(d, 10, "T1's schedule again", lambda d: _css(d, '#schedule-rows tr[data-borrower="B1"]'))

    d.find_element(By.CSS_SELECTOR, 'button[data-visit="B1"]').click()
    form = _wait(d, 10, "the visit form", lambda d: (x := _css(d, "#visit-form")) and x[0])
    assert form.find_element(By.ID, "visit-inspector").get_attribute("value") == "ivan"
    Select(form.find_element(By.ID, "visit-outcome")).select_by_value("concern")
    form.find_element(By.ID, "visit-notes").send_keys(VISIT_NOTES)
    form.find_element(By.ID, "visit-submit").click()
    _wait(d, 30, "the visit recorded", lambda d: "走访已记录" in _message(d))
    visit = _wait(d, 10, "the visit in the borrower's visits",
                  lambda d: (v := _css(d, "#visit-pane table.visits tr.visit")) and v[0])
    assert VISIT_NOTES in visit.text and "需关注" in visit.text and "ivan" in visit.text

    def moved(d: WebDriver) -> bool:  # the worker applies the inspection: B1's due date follows from it
        cells = _css(d, '#schedule-rows tr[data-borrower="B1"] td.reason')
        if cells and cells[0].text.startswith("inspected"):
            return True
        d.find_element(By.ID, "sched-show").click()  # what a user does: show the schedule again
        return False

    _wait(d, 60, "B1's schedule moved by the visit", moved, poll=1.0)

    d.find_element(By.ID, "sched-csv").click()

    def downloaded(d: WebDriver) -> Path | None:
        done = [p for p in downloads.glob("schedule-T1-*.csv") if p.stat().st_size > 0]
        return done[0] if done else None

    csv_file = _wait(d, 15, "the CSV downloaded", downloaded)
    body = csv_file.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and b"B1" in body and b"B3" in body and b"B2" not in body
    _wait(d, 5, "the download noted", lambda d: csv_file.name in _message(d))
    d.find_element(By.ID, "sched-ics").click()
    ics = _wait(d, 15, "the iCalendar file downloaded",
                lambda d: (p := downloads / "schedule-T1.ics").exists() and p.stat().st_size > 0 and p)
    assert ics.read_bytes().startswith(b"BEGIN:VCALENDAR") and b"B1" in ics.read_bytes()
    d.find_element(By.CSS_SELECTOR, '#schedule-rows tr[data-borrower="B1"]').click()
    _wait(d, 10, "B1's visits shown", lambda d: _css(d, "#visit-pane table.visits tr.visit"))
    d.save_screenshot(str(tmp_path / "inspector.png"))

    trail = httpx.get(f"{serve.url}/api/v1/borrowers/B1/audit", headers=e.h("super"), timeout=10).json()
    visits = [a for a in trail if a["action"] == "record_visit"]
    assert [(a["user"], a["details"]["outcome"], a["details"]["notes"]) for a in visits] == \
        [("ivan", "concern", VISIT_NOTES)]
    assert _csp_violations(d) == []
    print(f"\ninspector: {time.monotonic() - started:.1f} s; screenshot {tmp_path / 'inspector.png'}")
