"""The web page in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium) against a real ``paperrec serve``: sign in with a link, like and dislike
with one click and see the list re-rank in place, search and open a paper, import a BibTeX
file, sign out; the same without JavaScript; ``/docs`` and ``/redoc`` with every host but the
server unreachable. Screenshots of the suggestions page (desktop and phone widths) are saved
under ``out/screenshots/``.

Skipped, saying why, when no Chromium or chromedriver is installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_conftest import ADMIN_HEADERS, ApiProcess
from web_helpers import bibtex, catalog

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "out" / "screenshots"

BROWSER = next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason="browser tests need Chromium and its driver: apt-get install chromium "
    "chromium-driver (.ci/run installs them)",
)

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_S = 20  # a bound on waiting for the page, never a measured time


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    api = ApiProcess(tmp_path_factory.mktemp("web") / "data").start()
    try:
        r = httpx.post(
            f"{api.url}/papers", json={"papers": catalog()}, headers=ADMIN_HEADERS, timeout=60
        )
        assert r.status_code == 200, r.text
        # Trained on this catalog (its words are not the sample papers' vocabulary).
        r = httpx.post(f"{api.url}/admin/retrain", headers=ADMIN_HEADERS, timeout=30)
        assert r.status_code in (200, 202), r.text
        deadline = time.monotonic() + 120
        while httpx.get(f"{api.url}/admin/retrain", headers=ADMIN_HEADERS).json()["status"] == (
            "running"
        ):
            assert time.monotonic() < deadline, "the retrain did not end"
            time.sleep(0.1)
        yield api
    finally:
        api.stop()


def chrome(*, javascript: bool = True, offline_except: str | None = None) -> WebDriver:
    options = webdriver.ChromeOptions()
    assert BROWSER is not None and DRIVER is not None
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    if offline_except is not None:
        # The network unplugged: every host name fails to resolve but the server's address.
        options.add_argument(f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {offline_except}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=DRIVER)
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition: Any, what: str) -> Any:
    try:
        return WebDriverWait(driver, WAIT_S).until(condition)
    except TimeoutException:
        status = driver.find_elements(By.ID, "status")
        said = status[0].text if status else ""
        raise AssertionError(
            f"{what}; page {driver.current_url} says {said!r}:\n{driver.page_source[:1500]}"
        ) from None


def login_link(server: ApiProcess, user: str) -> str:
    r = httpx.post(f"{server.url}/users/{user}/login-link", headers=ADMIN_HEADERS, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


def sign_in(driver: WebDriver, server: ApiProcess, user: str) -> str:
    link = login_link(server, user)
    driver.get(link)
    driver.find_element(By.ID, "continue").click()
    wait(driver, lambda d: f"Suggestions for {user}" in d.page_source, "no suggestions page")
    return link


def suggested(driver: WebDriver) -> list[str]:
    # Read in one script: the list may be replaced while it is read.
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#suggestions article.card'), "
            "a => a.dataset.paper);"
        )
    )


def click_feedback(driver: WebDriver, paper_id: str, action: str) -> None:
    card = driver.find_element(By.CSS_SELECTOR, f'#suggestions article[data-paper="{paper_id}"]')
    card.find_element(By.CSS_SELECTOR, f"button.{action}").click()


def likes_of(server: ApiProcess, user: str, kind: str = "likes") -> list[str]:
    r = httpx.get(f"{server.url}/users/{user}/{kind}", headers=ADMIN_HEADERS, timeout=30)
    return list(r.json()["paper_ids"])


def screenshot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert driver.save_screenshot(str(path)), path
    return path


def test_a_researcher_signs_in_likes_searches_imports_and_signs_out(
    server: ApiProcess, browser: WebDriver
) -> None:
    link = sign_in(browser, server, "alice")
    before = suggested(browser)
    assert len(before) == 20
    # One click likes a suggestion: it leaves the list and the list changes, with no reload
    # (the marker set on this page survives).
    browser.execute_script("window.notReloaded = true;")
    liked = before[0]
    click_feedback(browser, liked, "like")
    wait(browser, lambda d: liked not in suggested(d), "the liked paper stayed in the list")
    after = suggested(browser)
    topic = liked.split("-")[0]
    assert [p.split("-")[0] for p in after[:3]] == [topic] * 3, after
    assert browser.execute_script("return window.notReloaded === true;")
    assert likes_of(server, "alice") == [liked]
    first = browser.find_element(By.CSS_SELECTOR, "#suggestions article.card")
    assert "Because you liked" in first.text
    # A dislike: gone as well, stored as a dislike.
    disliked = after[0]
    click_feedback(browser, disliked, "dislike")
    wait(browser, lambda d: disliked not in suggested(d), "the disliked paper stayed")
    assert likes_of(server, "alice", "dislikes") == [disliked]
    assert browser.execute_script("return window.notReloaded === true;")
    status = browser.find_element(By.ID, "status").text
    assert "re-ranked" in status

    # Screenshots of the suggestions, at desktop and phone widths; the phone's page does not
    # scroll sideways.
    browser.get(f"{server.url}/")
    screenshot(browser, "suggestions-desktop.png")
    browser.set_window_size(390, 844)
    browser.get(f"{server.url}/")
    width = browser.execute_script("return [document.documentElement.scrollWidth, innerWidth];")
    assert width[0] <= width[1], width
    screenshot(browser, "suggestions-phone.png")
    browser.set_window_size(1280, 900)

    # Search and open a paper; like it there.
    browser.get(f"{server.url}/search")
    box = browser.find_element(By.ID, "q")
    box.send_keys("bipartite matching clique")
    box.submit()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "article.card"), "no results")
    result = browser.find_element(By.CSS_SELECTOR, "article.card .title a")
    title = result.text
    result.click()
    wait(browser, lambda d: "Similar papers" in d.page_source, "no paper page")
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    paper_id = browser.current_url.split("/paper/", 1)[1]
    assert paper_id.startswith("t:graph-")
    browser.find_element(By.CSS_SELECTOR, ".paper button.like").click()
    wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, ".paper button.like").get_attribute("aria-pressed")
            == "true"
        ),
        "the like button did not turn on",
    )
    assert paper_id in likes_of(server, "alice")

    # Import a small BibTeX file: the report, then the new suggestions.
    matched = catalog()[10]
    refs = SCREENSHOTS.parent / "refs.bib"
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(bibtex(str(matched["title"])))
    browser.get(f"{server.url}/library")
    browser.find_element(By.ID, "file").send_keys(str(refs))
    browser.find_element(By.CSS_SELECTOR, "form.import button[type=submit]").click()
    wait(browser, lambda d: "entries read" in d.page_source, "no import report")
    assert browser.find_element(By.ID, "n-matched").text == "1"
    assert browser.find_element(By.ID, "n-added").text == "1"
    assert browser.find_element(By.ID, "n-skipped").text == "1"
    assert "broken" in browser.find_element(By.CSS_SELECTOR, "ul.skipped").text
    assert suggested(browser), "no suggestions under the report"
    assert matched["paper_id"] in likes_of(server, "alice")
    screenshot(browser, "library-import-report.png")

    # Sign out: the pages are refused, and the used link does not sign in again.
    browser.find_element(By.CSS_SELECTOR, "form[action='/signout'] button").click()
    wait(browser, lambda d: "You are signed out" in d.page_source, "not signed out")
    browser.get(f"{server.url}/library")
    assert "/signin" in browser.current_url
    browser.get(link)
    assert "cannot be used" in browser.page_source
    # The link's secret never reached the server's log (query strings are cut from it).
    assert link.split("link=", 1)[1] not in server.log()
    assert "/login?<redacted>" in server.log()


def test_the_core_actions_work_without_javascript(server: ApiProcess) -> None:
    driver = chrome(javascript=False)
    try:
        sign_in(driver, server, "nojs")
        before = suggested(driver)
        liked = before[1]
        click_feedback(driver, liked, "like")  # a plain form post and a new page
        wait(driver, lambda d: liked not in suggested(d), "the liked paper stayed (no JS)")
        assert likes_of(server, "nojs") == [liked]
        driver.get(f"{server.url}/library")
        card = driver.find_element(By.CSS_SELECTOR, f'article[data-paper="{liked}"]')
        card.find_element(By.CSS_SELECTOR, "button.like").click()  # undo
        wait(driver, lambda d: "Liked (0)" in d.page_source, "the undo did not happen")
        assert likes_of(server, "nojs") == []
    finally:
        driver.quit()


def _requests(driver: WebDriver) -> tuple[list[str], set[str]]:
    """The URLs the page asked for, and those of them the browser blocked by the page's
    Content-Security-Policy before sending them."""
    urls: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason") == "csp":
            blocked.add(urls.get(params["requestId"], "?"))
    return list(urls.values()), blocked


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock"),  # one block per operation, drawn by Swagger UI
        ("/redoc", "redoc [data-section-id]"),  # ReDoc's sections, drawn by its script
    ],
)
def test_the_api_docs_render_with_the_network_unplugged(
    server: ApiProcess, path: str, rendered: str
) -> None:
    driver = chrome(offline_except="127.0.0.1")
    try:
        driver.get(f"{server.url}{path}")
        blocks = wait(
            driver, lambda d: d.find_elements(By.CSS_SELECTOR, rendered), f"{path} did not render"
        )
        assert len(blocks) > 5
        urls, blocked = _requests(driver)
        outside = [u for u in urls if not u.startswith((server.url, "data:", "blob:"))]
        sent = [u for u in outside if u not in blocked]
        assert urls and not sent, f"requests that left the machine: {sent}"
    finally:
        driver.quit()


UNLABELLED = """
return Array.from(
  document.querySelectorAll("input:not([type=hidden]), select, textarea, button"),
).filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
              && !e.textContent.trim()).map(e => e.outerHTML);
"""


def test_controls_are_labelled_and_the_keyboard_likes_with_visible_focus(
    server: ApiProcess, browser: WebDriver
) -> None:
    sign_in(browser, server, "keys")
    for path in ("/", "/search", "/library", "/settings", "/paper/t:optics-1"):
        browser.get(f"{server.url}{path}")
        assert browser.execute_script(UNLABELLED) == [], path
    browser.get(f"{server.url}/")
    # Tab from the top of the page to the first Like button; its focus ring shows.
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        if active.tag_name == "button" and "like" in (active.get_attribute("class") or "").split():
            break
    else:
        raise AssertionError("no Like button within 40 Tab presses")
    ring = browser.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];"
    )
    assert ring[0] != "none" and ring[1] != "0px", ring
    paper = browser.execute_script(
        "return document.activeElement.closest('article').dataset.paper;"
    )
    active.send_keys(Keys.ENTER)
    wait(browser, lambda d: paper not in suggested(d), "Enter on Like did not re-rank")
    assert likes_of(server, "keys") == [paper]
    # Focus stays in the list, at the place of the card that left it.
    assert browser.execute_script(
        "return document.activeElement.closest('#suggestions article') !== null;"
    )
