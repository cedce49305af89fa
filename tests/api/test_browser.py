"""The pages in a real headless browser: Debian's chromium driven by Selenium, keyboard only.

Given the served ledger behind ``uvicorn`` on a free local port, when an auditor pastes a
token into the login form, finds a member, moves both date inputs and opens the trial
balance and the pooling funds — pressing keys, never clicking — then each page shows the
API's figures. No browser is downloaded: the test uses ``/usr/bin/chromium`` and
``chromedriver`` from Debian (``apt-get install chromium chromium-driver``); without them
it skips, and fails when ``FLEXLEDGER_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ledger.store.tables import entries
from tests.api.conftest import require_chromium

AS_OF, KNOWN_AT = "2018-12-31", "2018-03-31"
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
    # Offline: every host but this machine's loopback fails to resolve, so a page that
    # needed a CDN (Swagger UI's script, a font) would show it by staying blank.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def site(served) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import uvicorn

    from ledger.api.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(served.engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 20 s"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    binary, chromedriver = require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.TemporaryDirectory(prefix="flexledger-chromium-")
    for flag in [*HEADLESS, f"--user-data-dir={profile.name}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        profile.cleanup()


@pytest.fixture
def logged_in(site, driver, served):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.delete_all_cookies()
    driver.get(f"{site}/login")
    token = driver.switch_to.active_element  # the token field has autofocus
    assert token.get_attribute("id") == "token"
    token.send_keys(served.auditor, Keys.ENTER)
    _wait(lambda: "signed in as" in driver.find_element(By.TAG_NAME, "header").text)
    return driver


def _wait(condition, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the page is still loading
            pass
        time.sleep(0.05)
    raise AssertionError("the page did not show what was expected in time")


def _member(served) -> str:  # type: ignore[no-untyped-def]
    with served.engine.connect() as conn:
        return conn.execute(
            select(entries.c.member_id)
            .where(entries.c.member_id.is_not(None))
            .order_by(entries.c.id)
            .limit(1)
        ).scalar_one()


def test_a_page_without_login_shows_the_login_form(site, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{site}/trial-balance")
    assert driver.find_element(By.CSS_SELECTOR, "label[for=token]").text.startswith("Token")


def test_an_auditor_finds_a_member_and_moves_both_dates_with_the_keyboard(logged_in, site, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = logged_in
    member = _member(served)
    field = driver.switch_to.active_element  # the member field has autofocus
    assert field.get_attribute("id") == "member"
    field.send_keys(member, Keys.ENTER)
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text == f"Member {member}")
    for name, value in (("as_of", AS_OF), ("known_at", KNOWN_AT)):
        box = driver.find_element(By.ID, name)
        driver.execute_script("arguments[0].value = arguments[1]", box, value)
    driver.find_element(By.ID, "known_at").send_keys(Keys.ENTER)  # implicit submission
    _wait(lambda: f"known_at={KNOWN_AT}" in driver.current_url)
    caption = driver.find_element(By.CSS_SELECTOR, "#accounts caption").text
    assert caption.startswith(f"Balances as of {AS_OF}, as known at {KNOWN_AT}")
    api = served.get(
        f"/api/members/{member}/statement",
        served.auditor,
        params={"as_of": AS_OF, "known_at": KNOWN_AT, "limit": 100},
    ).json()
    rows = driver.find_elements(By.CSS_SELECTOR, "#statement tbody tr")
    assert len(rows) == len(api["lines"]) > 0
    first = rows[0].find_elements(By.TAG_NAME, "td")
    assert [first[0].text, first[6].text] == [
        str(api["lines"][0]["entry_id"]),
        api["lines"][0]["amount"],
    ]


def test_the_navigation_is_reached_with_tab_and_followed_with_enter(logged_in, site, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = logged_in
    driver.get(f"{site}/exports")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    seen = []
    for _ in range(6):
        active = driver.switch_to.active_element
        seen.append(active.text)
        if active.text == "Trial balance":
            active.send_keys(Keys.ENTER)
            break
        active.send_keys(Keys.TAB)
    assert seen[0] == "Skip to content" and "Trial balance" in seen
    _wait(lambda: driver.find_element(By.ID, "total").text == "0.00")
    api = served.get(
        "/api/trial-balance",
        served.auditor,
        params={"as_of": driver.find_element(By.ID, "as_of").get_attribute("value")},
    )
    shown = driver.find_elements(By.CSS_SELECTOR, "#trial-balance tbody tr")
    assert len(shown) == len(api.json()["accounts"])


def test_the_pooling_page_draws_its_plot(logged_in, site, tmp_path):
    from selenium.webdriver.common.by import By

    driver = logged_in
    driver.get(f"{site}/pooling?as_of={AS_OF}")
    plot = driver.find_element(By.CSS_SELECTOR, "#plot svg")
    assert plot.size["width"] > 300 and plot.size["height"] > 150
    assert len(driver.find_elements(By.CSS_SELECTOR, "#pooling tbody tr")) > 0
    assert driver.save_screenshot(str(tmp_path / "pooling.png"))


def test_logging_out_with_the_keyboard_ends_the_session(logged_in, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = logged_in
    driver.find_element(By.XPATH, "//button[text()='Log out']").send_keys(Keys.ENTER)
    _wait(lambda: driver.current_url.endswith("/login"))
    driver.get(f"{site}/verify")
    assert driver.find_elements(By.ID, "token")


def test_the_api_docs_render_every_operation_offline(logged_in, site, served):
    """Swagger UI's script and style come from the installed package, behind the login:
    with every other host unresolvable, /docs still lists every operation of /openapi.json."""
    from selenium.webdriver.common.by import By

    driver = logged_in
    driver.get(f"{site}/docs")
    spec = served.get("/openapi.json", served.auditor).json()
    expected = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}

    def shown() -> set[tuple[str, str]]:
        blocks = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary")
        return {
            (
                b.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
                b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
            )
            for b in blocks
        }

    _wait(lambda: shown() == expected, 20)
    scripts = [s.get_attribute("src") for s in driver.find_elements(By.TAG_NAME, "script")]
    assert all(src.startswith(site) for src in scripts if src)
    assert any(src.endswith("/docs/assets/swagger-ui-bundle.js") for src in scripts)


def test_from_a_member_the_keyboard_reaches_their_months_arrangements_and_an_entry(
    logged_in, site, served
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = logged_in
    member = _member(served)
    driver.get(f"{site}/members/{member}?as_of={AS_OF}")
    driver.find_element(By.ID, "member-months").send_keys(Keys.ENTER)
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text == f"Contribution months of {member}")
    api = served.get("/api/months", served.auditor, params={"member": member}).json()
    rows = driver.find_elements(By.CSS_SELECTOR, "#months tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows] == [
        str(m["months"]) for m in api["months"]
    ]
    driver.back()
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text == f"Member {member}")
    driver.find_element(By.ID, "member-arrangements").send_keys(Keys.ENTER)
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text.startswith("Affiliated"))
    driver.back()
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text == f"Member {member}")
    link = driver.find_element(By.CSS_SELECTOR, "#statement tbody tr td a")
    entry_id = link.text
    link.send_keys(Keys.ENTER)
    _wait(lambda: driver.find_element(By.TAG_NAME, "h1").text == f"Entry {entry_id}")
    api_entry = served.get(f"/api/entries/{entry_id}", served.auditor).json()
    assert driver.find_element(By.ID, "hash").text == api_entry["hash"]
    assert driver.find_element(By.ID, "chain-position").text == str(api_entry["chain_position"])
