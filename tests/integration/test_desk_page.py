"""The desk's web page in a real headless Chromium against a real ``monitor serve`` and a real worker on the
real broker (marked ``integration``), each workflow at 1400 x 900 and at 390 x 844 (a phone).

Officers work the case queue (search, sort, open a case from the keyboard, acknowledge, bulk assign, saved
filters, exports read back), see live alerts arrive; an inspector records a visit from the day's list on a
phone. After every step the page is checked as a user would see it: nothing wider than the window (no
horizontal scrolling), no code left untranslated in the Chinese page (every visible text, option, label and
placeholder against the one vocabulary: no code it labels, no code-like token, no English sentence), and
axe-core (from the npm registry, run in the browser) finds no serious or critical accessibility violation.
Every wait is a condition with a deadline. Chromium and chromedriver are Debian's; axe-core is installed by
``make test`` (or here, with npm, when missing). Without them the test is skipped, or fails when ``CI`` or
``MONITOR_REQUIRE_BROKER`` is set. With ``MONITOR_UPDATE_SCREENSHOTS=1`` the screenshots the README shows
(docs/img/) are written again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.desk.auth import add_user
from monitor.settings import Settings
from monitor.topics import create_topics
from monitor.vocabulary import SECTIONS
from tests import factories as f
from tests.integration.kafka_harness import ROOT, Names, Worker, wait_for
from tests.integration.test_desk import Env, _produce

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRED = bool(os.environ.get("CI") or os.environ.get("MONITOR_REQUIRE_BROKER"))
AXE_VERSION = "4.14.1"  # as the Makefile
AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"1400x900": (1400, 900), "390x844": (390, 844)}
SHOTS = ROOT / "docs" / "img"


def _missing() -> list[str]:
    out = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        out.append("the selenium package")
    if not AXE.exists() and shutil.which("npm") is None:
        out.append("axe-core (make test installs it with npm)")
    return out


if _missing() and not REQUIRED:  # skip before the broker and the worker are started for nothing
    pytest.skip(f"no browser: {', '.join(_missing())} missing (apt install chromium chromium-driver npm)",
                allow_module_level=True)

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=20)
ACK_REASON = "已电话联系借款人，逾期原因为回款延迟"
VISIT_NOTES = "厂房停产，库存积压"
# borrower: (name, team, branch, industry, product, exposure, what happens)
PORTFOLIO = {
    "B101": ("上海华东机械制造有限公司", "shanghai-1", "shanghai", "manufacturing", "working_capital", 8_500_000.0, 45),
    "B102": ("上海申城贸易有限公司", "shanghai-1", "shanghai", "wholesale_retail", "trade_finance", 12_000_000.0, 95),
    "B103": ("杭州西湖科技有限公司", "hangzhou-1", "hangzhou", "information_technology", "term_loan", 3_200_000.0, 35),
    "B104": ("杭州钱塘建设有限公司", "hangzhou-1", "hangzhou", "construction", "term_loan", 25_000_000.0, 60),
    "B105": ("南京紫金物流有限公司", "shanghai-1", "shanghai", "transport_logistics", "business_credit_line",
             4_700_000.0, 31),
    "B106": ("苏州园林农业有限公司", "shanghai-1", "shanghai", "agriculture", "working_capital", 900_000.0, 0),
    "B107": ("无锡太湖纺织有限公司", "hangzhou-1", "hangzhou", "manufacturing", "working_capital", 2_000_000.0, 0),
    "B108": ("宁波港城物流有限公司", "hangzhou-1", "hangzhou", "transport_logistics", "term_loan", 6_000_000.0, 0),
}


# ------------------------------------------------------------------ the world and the browser


@pytest.fixture(scope="module")
def desk(broker, tmp_path_factory) -> Iterator[Env]:
    """A worker and one ``monitor serve`` over the portfolio above (overdue days make the cases)."""
    e = Env(broker, Names(), tmp_path_factory.mktemp("page"))
    users = e.tmp / "users.toml"
    e.tokens.update(ralf=add_user(users, "ralf", "risk_officer", ()),
                    zhang=add_user(users, "zhang", "inspector", ("shanghai-1",)))
    keys = {"MONITOR_" + k.upper(): k for k in Settings.model_fields}
    create_topics(Settings(**{keys[k]: v for k, v in e.env.items() if k in keys}))
    events = []
    for bid, (name, team, branch, industry, product, exposure, dpd) in PORTFOLIO.items():
        events.append(f.profile(T0, bid=bid, team=team, branch=branch, industry=industry, product=product,
                                exposure=exposure, name=name, segment="small", eid=f"{bid}-profile"))
        if dpd:
            events.append(f.overdue(T0 + timedelta(days=1), dpd, bid=bid, eid=f"{bid}-od",
                                    amount=exposure * 0.0055))
    _produce(e.env, e.tmp / "events.jsonl", events)
    e.worker = Worker(e.env, e.tmp / "worker.log").start()
    serve = e.serve("serve")
    try:
        serve.ready()
        wait_for(lambda: httpx.get(serve.url + "/api/v1/queue", headers=e.h("risk"), timeout=5).json()["total"] >= 5,
                 120, "the worker's cases for the five overdue borrowers in the queue")
        yield e
    finally:
        for s in e.serves:
            s.stop()
        e.worker.terminate()


def _axe_source() -> str:
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("axe-core is missing and npm is not there to install it (make test does)", pytrace=False)
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--no-save", "--prefix",
                        str(AXE.parents[2]), f"axe-core@{AXE_VERSION}"], check=True, timeout=300)
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def axe() -> str:
    return _axe_source()


@pytest.fixture(scope="module", params=sorted(SIZES), ids=sorted(SIZES))
def browser(request, tmp_path_factory) -> Iterator[tuple[WebDriver, str, Path]]:
    missing = [m for m in _missing() if not m.startswith("axe-core")]
    if missing:
        pytest.fail(f"a browser is required (CI / MONITOR_REQUIRE_BROKER) but {', '.join(missing)} missing",
                    pytrace=False)
    width, height = SIZES[request.param]
    downloads = tmp_path_factory.mktemp("downloads-" + request.param)
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=zh-CN",
                "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False,
                                              "intl.accept_languages": "zh-CN,zh"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                   "deviceScaleFactor": 1, "mobile": width < 500})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver, request.param, downloads
    finally:
        driver.quit()


def _wait(driver: WebDriver, timeout: float, what: str, condition: Any, poll: float = 0.2) -> Any:
    """Poll ``condition`` until truthy; an element re-rendered under it (stale) counts as not yet."""
    wait = WebDriverWait(driver, timeout, poll_frequency=poll, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, f"timed out waiting for {what}")


def _css(driver: WebDriver, selector: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def _message(driver: WebDriver) -> str:
    text: str = driver.execute_script(
        "const m = document.querySelector('#message:not([hidden]) .message-text'); return m ? m.textContent : '';")
    return text


def _sign_in(driver: WebDriver, url: str, token: str) -> None:
    driver.get(url + "/")
    driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear()")
    driver.get(url + "/")
    field = _wait(driver, 15, "the token field", lambda d: (x := _css(d, "#token")) and x[0].is_displayed() and x[0])
    field.send_keys(token)
    driver.find_element(By.ID, "signin-go").click()
    _wait(driver, 15, "signed in", lambda d: d.find_element(By.ID, "whoami").text)


# ------------------------------------------------------------------ what every view is checked for

_OVERFLOW = """
const w = document.documentElement.clientWidth;
const out = [];
if (document.documentElement.scrollWidth > w) out.push('the page scrolls sideways: ' +
  document.documentElement.scrollWidth + ' > ' + w);
const clipped = (el) => {  // visually hidden (the screen-reader-only text, a card list's column names)
  for (let a = el; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.position === 'absolute' && (s.clip !== 'auto' || s.clipPath !== 'none')) return true;
  }
  return false;
};
for (const el of document.querySelectorAll('.pane, .scroll, .case-pane, .list-pane')) {  // nothing cut off in a pane
  if (el.getClientRects().length && el.scrollWidth > el.clientWidth + 1) out.push(el.className + ' holds ' +
    el.scrollWidth + ' px in ' + el.clientWidth);
}
for (const el of document.querySelectorAll('body *')) {
  if (!el.getClientRects().length || el.closest('[hidden]') || clipped(el)) continue;
  const r = el.getBoundingClientRect();
  if (r.width > 1 && r.right > w + 0.5) out.push(el.tagName + '#' + el.id + '.' + el.className + ' ends at ' +
    Math.round(r.right));
}
return out.slice(0, 10);
"""

# every visible text: text nodes, and the labels a user sees or hears (placeholders, aria-labels, options)
_TEXTS = """
const out = [];
const shown = (el) => el && el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let n;
while ((n = walker.nextNode())) {
  const el = n.parentElement;
  const text = n.textContent.trim();
  if (!text || !el || el.closest('script, style, code, [lang="en"]')) continue;
  if (el.tagName === 'OPTION' ? !shown(el.closest('select')) : !shown(el)) continue;
  out.push(text);
}
for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
  if (!shown(el) || el.closest('[lang="en"]')) continue;
  for (const a of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
}
for (const el of document.querySelectorAll('select')) if (shown(el) && el.selectedOptions[0])
  out.push(el.selectedOptions[0].textContent.trim());
return out;
"""


def _codes() -> set[str]:
    """Every code the vocabulary labels with a word of its own (grades read the same in both languages)."""
    out = set()
    for name, pairs in SECTIONS.items():
        if name in ("grade", "value", "error", "validation", "field"):
            continue
        for code, (zh, _) in pairs.items():
            if zh != code and len(code) >= 3:
                out.add(code)
    return out


CODES = _codes()
CODE_LIKE = re.compile(r"\b[a-z]+(?:[._-][a-z0-9]+)+\b")
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,:;-]+[A-Za-z]{2,}){2,}\b")
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def untranslated(texts: list[str], allowed: set[str]) -> list[str]:
    """The visible texts that show a code or English in the Chinese page."""
    bad = []
    for text in texts:
        tokens = set(TOKEN.findall(text)) - allowed
        if any(tok in CODES or tok.lower() in CODES for tok in tokens) or CODE_LIKE.search(
                " ".join(tokens)) or ENGLISH.search(text):
            bad.append(text)
    return bad


def check(driver: WebDriver, axe: str, where: str, allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """No sideways scrolling, nothing untranslated, no serious or critical axe-core violation."""
    time.sleep(0.3)  # the last render settles (every step before waited on its condition)
    wide = driver.execute_script(_OVERFLOW)
    assert wide == [], f"{where}: wider than the window: {wide}"
    ids = {"ralf", "rita", "sam", "zhang", "ada", "ivan", "CSV", "Excel", "English", *PORTFOLIO}
    bad = untranslated(driver.execute_script(_TEXTS), ids | set(allowed))
    assert bad == [], f"{where}: untranslated text in the Chinese page: {bad[:8]}"
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(axe)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations.map((v) => "
        "({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))), "
        "(e) => done([{id: 'axe failed', impact: 'critical', nodes: [String(e)]}]));")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{where}: accessibility violations: {serious}"


def _shot(driver: WebDriver, tmp: Path, name: str, keep: str | None = None) -> Path:
    path = tmp / f"{name}.png"
    driver.save_screenshot(str(path))
    if keep and os.environ.get("MONITOR_UPDATE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SHOTS / keep)
    return path


def _wide(size: str) -> bool:
    return SIZES[size][0] > 1100


def _rows(driver: WebDriver) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#queue-rows tr')).map((tr) => ({case: tr.dataset.caseId, "
        "bid: tr.dataset.borrower, text: tr.innerText, exposure: (tr.querySelector('td.num') || {}).innerText}));")
    return rows


def _open_filters(driver: WebDriver) -> None:
    driver.execute_script("document.getElementById('more-filters').open = true")


# ------------------------------------------------------------------ the workflows


def test_an_officer_works_the_queue(browser, desk, axe, tmp_path):
    d, size, downloads = browser
    e, serve = desk, desk.serves[0]
    _sign_in(d, serve.url, e.tokens["risk"])
    assert d.execute_script("return document.documentElement.lang") == "zh-CN"
    _wait(d, 30, "the queue", lambda d: len(_css(d, "#queue-rows tr")) >= 5)
    api = httpx.get(serve.url + "/api/v1/queue", headers=e.h("risk"), timeout=10).json()
    count = d.find_element(By.ID, "queue-count").text
    assert count.startswith(f"共 {api['total']} 件"), count  # the total from the server
    past = d.find_element(By.ID, "chip-past_deadline").text
    assert past.endswith(str(api["counts"]["past_deadline"])) and api["counts"]["past_deadline"] > 0
    check(d, axe, f"queue {size}")

    # search by part of a name
    box = d.find_element(By.CSS_SELECTOR, '#queue-filters input[name="q"]')
    box.send_keys("西湖")
    box.send_keys(Keys.ENTER)
    _wait(d, 10, "one row for 西湖", lambda d: [r["bid"] for r in _rows(d)] == ["B103"])
    assert "杭州西湖科技有限公司" in _rows(d)[0]["text"] and "杭州分行 1 组" in _rows(d)[0]["text"]
    assert d.find_element(By.ID, "queue-count").text.startswith("共 1 件")
    box.clear()
    box.send_keys(Keys.ENTER)
    _wait(d, 10, "every case again", lambda d: len(_rows(d)) >= 5)

    # sort by exposure, largest first: the header's button on a wide screen, the sort select on a phone
    if _wide(size):
        d.find_element(By.CSS_SELECTOR, 'button.sort[data-sort="exposure"]').click()
        _wait(d, 10, "sorted up", lambda d: d.find_element(By.CSS_SELECTOR, 'th:has(button[data-sort="exposure"])')
              .get_attribute("aria-sort") == "ascending")
        d.find_element(By.CSS_SELECTOR, 'button.sort[data-sort="exposure"]').click()
    else:
        _open_filters(d)
        Select(d.find_element(By.CSS_SELECTOR, '#queue-filters select[name="sort"]')).select_by_value("exposure")
        Select(d.find_element(By.CSS_SELECTOR, '#queue-filters select[name="order"]')).select_by_value("desc")
        d.find_element(By.CSS_SELECTOR, "#queue-filters button[type=submit]").click()

    def by_exposure(d: WebDriver) -> list[float] | None:
        values = [float(r["exposure"].replace(",", "")) for r in _rows(d)]
        return values if values and values == sorted(values, reverse=True) and len(values) >= 5 else None

    values = _wait(d, 10, "rows by exposure, largest first", by_exposure)
    assert values[0] == 2500.0  # 万元: B104's 25,000,000
    assert "#queue?" in d.current_url and "sort=exposure" in d.current_url

    # open a case not yet acknowledged, from the keyboard
    row = _wait(d, 10, "an open case", lambda d: next((r for r in _css(d, "#queue-rows tr") if "待确认" in r.text),
                                                         None))
    case_id, bid = row.get_attribute("data-case-id"), row.get_attribute("data-borrower")
    d.execute_script("arguments[0].focus()", row)
    row.send_keys(Keys.ENTER)
    head = _wait(d, 15, "the case", lambda d: (x := _css(d, f'#case-head[data-case-id="{case_id}"]'))
                 and x[0].is_displayed() and x[0])
    assert head.get_attribute("data-status") == "open" and PORTFOLIO[bid][0] in head.text
    signal = _wait(d, 15, "the evidence", lambda d: (x := _css(d, '#case li.signal[data-rule="overdue.dpd"]')) and x[0])
    sentence = signal.find_element(By.CSS_SELECTOR, ".sentence").text
    assert re.fullmatch(r"本行逾期 \d+ 天，逾期金额 [\d,.]+ 万元，阈值 ≥ \d+ 天", sentence), sentence
    assert "本行逾期" in signal.text and "北京时间" in signal.text
    facts = d.find_element(By.CSS_SELECTOR, "#case dl.facts").text
    assert "响应截止日" in facts and "逾期" in facts and "北京时间" in facts
    as_of = _wait(d, 10, "the detail's as-of", lambda d: (x := _css(d, "#case .as-of")) and x[0].text)
    assert as_of.endswith("北京时间")
    check(d, axe, f"case {size}")

    # a change the service refuses: its message in Chinese, from the code
    d.find_element(By.ID, "action-set_floor").click()
    d.execute_script("arguments[0].value = '2020-01-31'", d.find_element(By.ID, "act-until"))
    d.find_element(By.ID, "act-reason").send_keys("停产整顿")
    d.find_element(By.ID, "action-submit").click()
    _wait(d, 10, "the 422 in Chinese", lambda d: "有效期必须在将来" in _message(d))
    assert "输入不符合要求（422）" in _message(d) and "until" not in _message(d)
    check(d, axe, f"refusal {size}")
    d.find_element(By.CSS_SELECTOR, "#action-form button.quiet").click()

    # acknowledge with a reason
    d.find_element(By.ID, "action-acknowledge").click()
    d.find_element(By.ID, "action-submit").click()
    _wait(d, 5, "the reason asked for", lambda d: "请填写原因" in _message(d))
    d.find_element(By.ID, "act-reason").send_keys(ACK_REASON)
    d.find_element(By.ID, "action-submit").click()
    _wait(d, 30, "the case acknowledged", lambda d: _css(d, f'#case-head[data-case-id="{case_id}"][data-status='
                                                            '"acknowledged"]'))
    assert _message(d) == "已完成：确认接手。"  # no technical record id in the banner
    trail = httpx.get(f"{serve.url}/api/v1/borrowers/{bid}/audit", headers=e.h("super"), timeout=10).json()
    assert [(a["user"], a["action"], a["reason"]) for a in trail if a["action"] == "acknowledge"] == \
        [("rita", "acknowledge", ACK_REASON)]
    audit_row = _wait(d, 10, "the audit trail", lambda d: (x := _css(d, '#case table.audit tr[data-action='
                                                                      '"acknowledge"]')) and x[0])
    assert ACK_REASON in audit_row.text and "确认接手" in audit_row.text and "风险经理" in audit_row.text
    shot = _shot(d, tmp_path, f"officer-{size}", keep="desk-queue.png" if _wide(size) else None)
    if not _wide(size):  # the way back from the case on a phone
        d.find_element(By.CSS_SELECTOR, "#case button.back").click()
        _wait(d, 5, "the list again", lambda d: d.find_element(By.ID, "queue-rows").is_displayed())

    # bulk assign the unassigned open cases to ralf: one audit record each
    d.find_element(By.ID, "chip-unassigned").click()
    _wait(d, 10, "the unassigned cases", lambda d: d.find_element(By.ID, "chip-unassigned")
          .get_attribute("aria-pressed") == "true" and len(_css(d, "#queue-rows tr")) >= 2)
    picked = [r.get_attribute("data-case-id") for r in _css(d, "#queue-rows tr")[:2]]
    for cid in picked:
        d.find_element(By.CSS_SELECTOR, f'#queue-rows tr[data-case-id="{cid}"] input[type=checkbox]').click()
    _wait(d, 5, "the bulk bar", lambda d: d.find_element(By.ID, "bulk-bar").is_displayed())
    assert d.find_element(By.ID, "bulk-count").text == "已选 2 件"
    check(d, axe, f"bulk {size}")
    d.find_element(By.ID, "bulk-reason").send_keys("片区调整")
    d.find_element(By.ID, "bulk-assignee").send_keys("ralf")
    d.find_element(By.ID, "bulk-assign").click()
    _wait(d, 30, "bulk assign done", lambda d: "指派：2 件已完成，0 件未处理。" in _message(d))
    mine = httpx.get(serve.url + "/api/v1/queue", headers=e.h("ralf"), params={"mine": "true", "limit": 500},
                     timeout=10).json()
    assert set(picked) <= {i["case_id"] for i in mine["items"]}

    # a saved filter: severe cases only, kept under a name and applied again
    d.find_element(By.ID, "chip-active").click()
    _wait(d, 10, "every case again", lambda d: len(_rows(d)) >= 5)
    _open_filters(d)
    Select(d.find_element(By.CSS_SELECTOR, '#queue-filters select[name="tier"]')).select_by_value("severe")
    d.find_element(By.CSS_SELECTOR, "#queue-filters button[type=submit]").click()
    _wait(d, 10, "severe cases only", lambda d: _rows(d) and all("严重预警" in r["text"] for r in _rows(d)))
    d.find_element(By.ID, "saved-name").send_keys("严重预警案件")
    d.find_element(By.ID, "save-filter").click()
    _wait(d, 5, "saved", lambda d: "已保存筛选" in _message(d))
    d.find_element(By.CSS_SELECTOR, "#queue-filters button[type=reset]").click()
    _wait(d, 10, "every case again", lambda d: len(_rows(d)) >= 5)
    _open_filters(d)
    Select(d.find_element(By.ID, "saved-filters")).select_by_visible_text("严重预警案件")
    _wait(d, 10, "the saved filter applied", lambda d: _rows(d) and all("严重预警" in r["text"] for r in _rows(d)))

    # exports of what the queue shows
    d.find_element(By.ID, "queue-csv").click()
    d.find_element(By.ID, "queue-xlsx").click()
    csv_file = _wait(d, 20, "the CSV", lambda d: next((p for p in downloads.glob("cases-*.csv") if p.stat().st_size),
                                                       None))
    xlsx = _wait(d, 20, "the workbook", lambda d: next((p for p in downloads.glob("cases-*.xlsx") if p.stat().st_size),
                                                        None))
    body = csv_file.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf") and "案件编号" in body.decode("utf-8-sig") and "严重预警" in body.decode(
        "utf-8-sig")
    import openpyxl

    ws = openpyxl.load_workbook(xlsx).active
    assert ws.freeze_panes == "A2" and ws.cell(1, 1).value == "案件编号"
    assert {ws.cell(r, 5).value for r in range(2, ws.max_row + 1)} == {"严重预警"}
    assert not [m for m in d.get_log("browser") if "Content Security Policy" in m["message"]]
    print(f"\nofficer {size}: screenshot {shot}")


def test_the_alert_list_pushes_a_new_alert_with_its_total(browser, desk, axe, tmp_path):
    d, size, _ = browser
    e, serve = desk, desk.serves[0]
    bid = "B107" if _wide(size) else "B108"
    _sign_in(d, serve.url, e.tokens["risk"])
    d.find_element(By.ID, "tab-alerts").click()
    _wait(d, 15, "the stream", lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "live")
    _wait(d, 15, "the alerts", lambda d: len(_css(d, "#alert-rows tr")) >= 5)
    before = httpx.get(serve.url + "/api/v1/alerts", headers=e.h("risk"), timeout=10).json()["total"]
    assert d.find_element(By.ID, "alert-count").text.startswith(f"共 {before} 条")
    check(d, axe, f"alerts {size}")
    _produce(e.env, e.tmp / f"{bid}.jsonl", [f.overdue(NOW - timedelta(hours=1), 45, bid=bid, eid=f"{bid}-od")])
    row = _wait(d, 60, "the new alert pushed into the list", lambda d: (r := _css(
        d, f'#alert-rows tr.pushed[data-borrower="{bid}"]')) and r[0])
    assert "预警" in row.text and "新增预警" in row.text and "杭州分行 1 组" in row.text and "待确认" in row.text
    assert d.find_element(By.ID, "alert-count").text.startswith(f"共 {before + 1} 条")
    check(d, axe, f"alerts pushed {size}")
    row.click()
    _wait(d, 15, "its case", lambda d: (x := _css(d, "#alert-case #case-head")) and x[0].is_displayed())
    check(d, axe, f"alert's case {size}")


def test_an_inspector_records_the_days_visits(browser, desk, axe, tmp_path):
    d, size, downloads = browser
    e, serve = desk, desk.serves[0]
    _sign_in(d, serve.url, e.tokens["zhang"])
    assert not d.find_element(By.ID, "tab-queue").is_displayed()  # inspectors have no case queue
    team = Select(d.find_element(By.ID, "sched-team"))
    assert team.first_selected_option.text == "上海分行 1 组"
    cards = _wait(d, 30, "today's and overdue visits", lambda d: (x := _css(d, "#today-list li.visit-card"))
                  and len(x) >= 2 and x)
    texts = [c.text for c in cards]
    assert any("逾期" in t for t in texts) and all("上海" in t or "南京" in t or "苏州" in t for t in texts)
    check(d, axe, f"inspector's day {size}")
    d.execute_script("window.scrollTo(0, 0)")
    _shot(d, tmp_path, f"inspector-day-{size}", keep=None if _wide(size) else "desk-inspector-phone.png")
    bid = "B101" if _wide(size) else "B105"
    card = d.find_element(By.CSS_SELECTOR, f'#today-list li[data-borrower="{bid}"]')
    assert re.search(r"预警等级上升为预警：\d+ 天内检查", card.text), card.text  # the reason as a sentence
    card.find_element(By.CSS_SELECTOR, "button[data-visit]").click()
    form = _wait(d, 10, "the visit form", lambda d: (x := _css(d, "#visit-form")) and x[0].is_displayed() and x[0])
    check(d, axe, f"visit form {size}")
    Select(form.find_element(By.ID, "visit-outcome")).select_by_value("concern")
    form.find_element(By.ID, "visit-notes").send_keys(VISIT_NOTES)
    form.find_element(By.ID, "visit-submit").click()
    _wait(d, 30, "the visit recorded", lambda d: "走访已记录" in _message(d))
    visit = _wait(d, 10, "the visit in the borrower's visits",
                  lambda d: (v := _css(d, "#visit-pane table.visits tr.visit")) and v[0])
    assert VISIT_NOTES in visit.text and "需关注" in visit.text and "zhang" in visit.text
    if _wide(size):  # the worker applies the inspection: the due date follows from it
        _wait(d, 60, "the next visit moved by the recorded one",
              lambda d: (d.find_element(By.ID, "sched-show").click() or True) and any(
                  "已检查" in r.text for r in _css(d, f'#schedule-rows tr[data-borrower="{bid}"] td.reason')), poll=1.0)
    check(d, axe, f"visit recorded {size}")
    _shot(d, tmp_path, f"inspector-{size}")
    if not _wide(size):
        d.find_element(By.CSS_SELECTOR, "#visit-pane button.back").click()
        _wait(d, 5, "the day's list again", lambda d: d.find_element(By.ID, "today-list").is_displayed())
    d.find_element(By.ID, "sched-csv").click()
    csv_file = _wait(d, 15, "the CSV", lambda d: next((p for p in downloads.glob("schedule-shanghai-1-*.csv")
                                                       if p.stat().st_size), None))
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf") and bid.encode() in csv_file.read_bytes()
    trail = httpx.get(f"{serve.url}/api/v1/borrowers/{bid}/audit", headers=e.h("super"), timeout=10).json()
    assert [(a["user"], a["details"]["notes"]) for a in trail if a["action"] == "record_visit"] == \
        [("zhang", VISIT_NOTES)]


def test_the_untranslated_check_can_fail():
    """The check finds a code, a code-like token and an English sentence (it is not vacuous)."""
    assert untranslated(["严重预警", "B101 上海华东", "2026-03-01 09:30"], set(PORTFOLIO)) == []
    assert untranslated(["等级：watch"], set()) == ["等级：watch"]
    assert untranslated(["special_mention"], set()) == ["special_mention"]
    assert untranslated(["规则 overdue.dpd"], set()) == ["规则 overdue.dpd"]
    assert untranslated(["first post-loan check: 30 days"], set()) == ["first post-loan check: 30 days"]
    assert untranslated(["shanghai-1"], set()) == ["shanghai-1"]
    assert json.dumps(sorted(CODES))  # (the codes come from the vocabulary)
