"""The dashboard against the real demo, in real headless Chromium.

`twinworks demo` runs as a user would start it (plant simulator process, OPC UA,
SQLite, API); the browser opens its pages and works them like an operator. What the
UI claims is checked at the source: a feed-rate set in the browser is read back from
the plant's OPC UA server, and a gap is made by freezing the plant process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_demo import Demo
from tests.web.conftest import (
    HTTP_4XX,
    PageLog,
    assert_clean,
    doc_image,
    open_page,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def page_and_log(page_and_log: Any, browser_context: Any, demo: Demo) -> Any:
    """A page of a browser signed in as the demo's administrator (the session cookies).

    ``test_sign_in_through_the_login_page`` signs in through the page itself.
    """
    sign_in(browser_context, demo.url, "admin", demo.admin_password())
    return page_and_log


def plant_pid(demo: Demo) -> int:
    """The plant simulator: the demo's child process running twinworks.plant."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == demo.proc.pid and b"twinworks.plant" in cmdline:
            return int(entry.name)
    raise AssertionError("the demo's plant process was not found")


def read_at_source(demo: Demo, node_id: str) -> float:
    """Read a variable from the plant's own OPC UA server (not through twinworks)."""
    from asyncua import Client

    async def read() -> float:
        async with Client(demo.plant_endpoint) as client:
            return float(await client.get_node(node_id).read_value())

    # in its own thread: the browser driver keeps an event loop on this one
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result(timeout=60)


def chart_value(page: Any, signal: str, key: str) -> float:
    text = page.get_attribute(f'#panel-telemetry figure[data-signal="{signal}"]', f"data-{key}")
    return float(text) if text else 0.0


def test_sign_in_through_the_login_page(demo: Demo, browser_context: Any) -> None:
    """As a user meets the demo: the dashboard asks who they are, they sign in with the
    password `twinworks demo` printed, the session ends, they sign in again, sign out."""
    browser_context.clear_cookies()
    page = browser_context.new_page()
    log = PageLog()
    page.on(
        "console", lambda m: log.errors.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda exc: log.errors.append(f"exception: {exc}"))
    try:
        # no session: the dashboard's address leads to the sign-in page, keeping the route
        page.goto(f"{demo.url}/#/twin/cnc1")
        page.wait_for_selector("form#login")
        assert page.url == f"{demo.url}/login?next=/#/twin/cnc1"
        screenshot(page, "login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").filter(has_text="wrong user name or password").wait_for()
        page.get_by_label("Password").fill(demo.admin_password())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector('main[data-page="twin"][data-twin="cnc1"]')
        # the header says who is signed in; the page cannot read the session token
        assert page.locator("#who").inner_text() == "Signed in as admin"
        cookies = page.evaluate("document.cookie")
        assert "twinworks_csrf=" in cookies and "twinworks_session" not in cookies
        page.wait_for_selector('#live-state[data-state="open"]')
        # the session ends (here: the cookies are gone): the next request goes to sign-in,
        # and back to where the user was
        browser_context.clear_cookies()
        page.evaluate("location.hash = '#/events'")
        page.wait_for_selector("form#login")
        assert page.url == f"{demo.url}/login?next=%2F%23%2Fevents"
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(demo.admin_password())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector('main[data-page="events"]')
        assert page.url == f"{demo.url}/#/events"
        # signing out ends the session on the server: the dashboard asks again
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_selector("form#login")
        assert page.url == f"{demo.url}/login"
        assert browser_context.cookies(demo.url) == []  # the server cleared them
        page.goto(f"{demo.url}/")
        page.wait_for_selector("form#login")
        assert page.url == f"{demo.url}/login?next=/"
    finally:
        page.close()
    # what a refused request leaves on the console (the wrong password, the ended session)
    assert_clean(log, [r"status of 40[13]"])
    # the sign-ins and the sign-out are in the audit trail, with who
    entries = demo.get("/audit", limit=10_000)
    kinds = {e["kind"] for e in entries if e["actor"] == "admin"}
    assert {"LoginFailed", "LoginSucceeded", "LoggedOut"} <= kinds, kinds


def test_overview_shows_the_hierarchy_with_live_status(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "", "overview")
    # the cell, then its parts in the order material flows through them
    page.wait_for_selector('a.tile[data-twin="cnc3"]')
    order = page.eval_on_selector_all("a.tile[data-twin]", "els => els.map(e => e.dataset.twin)")
    assert order[:5] == ["cell1", "cnc1", "conveyor1", "cnc2", "cnc3"]
    assert sorted(order[5:]) == ["chiller1", "compressor1"]  # the cell's utilities
    # every tile shows its status as colour and words, matching the API
    api_status = {t["id"]: t["status"] for t in demo.get("/twins")}
    for twin_id in api_status:
        badge = page.locator(f'a.tile[data-twin="{twin_id}"] .badge')
        assert badge.inner_text().strip()
        assert badge.get_attribute("data-status") in {
            "running",
            "idle",
            "setup",
            "stopped",
            "alarm",
            "fault",
            "stale",
            "disconnected",
            "offline",
        }
    page.wait_for_selector('.connector-list li[data-connected="true"]')
    # live values: a tile's numbers change without reloading the page
    first = page.inner_text('a.tile[data-twin="cnc1"] .values')
    page.wait_for_function(
        "t => document.querySelector('a.tile[data-twin=\"cnc1\"] .values').innerText !== t",
        arg=first,
        timeout=30_000,
    )
    # the demo runs the alarm service: the overview counts the alarms needing attention
    page.wait_for_function(
        "() => /^Alarms: \\d+ active/.test(document.querySelector('[data-alarms]').innerText)"
    )
    screenshot(page, "overview")
    doc_image(page, "dashboard-overview")
    # keyboard: Tab reaches the tiles and Enter opens a twin
    page.focus('a.tile[data-twin="cnc2"]')
    page.keyboard.press("Enter")
    page.wait_for_selector('main[data-page="twin"][data-twin="cnc2"]')
    assert_clean(log)


def test_twin_page_charts_advance_live(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc1?window=120", "twin")  # 2 min of plant time
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-signal=\"spindle_temperature\"]')"
        "?.dataset.points) > 20"
    )
    assert page.locator("#panel-telemetry canvas").count() >= 8  # one uPlot per numeric signal
    first = chart_value(page, "spindle_temperature", "latest-ts")
    page.wait_for_function(
        "t => Number(document.querySelector('figure[data-signal=\"spindle_temperature\"]')"
        ".dataset.latestTs) > t + 1",
        arg=first,
        timeout=30_000,
    )
    # the demo's sync service estimates the hidden tool wear: the panel lists it
    page.wait_for_function(
        "() => document.querySelector('#panel-estimates')?.innerText.includes('ukf.tool_wear')"
    )
    assert "Consistency score" in page.inner_text("#panel-estimates")
    # ... and its remaining useful life, with the interval and why (the RUL panel)
    page.wait_for_function(
        "() => document.querySelector('#panel-rul [data-rul=\"median\"]')?.innerText.trim()"
    )
    assert " – " in page.inner_text('#panel-rul [data-rul="interval"]')
    assert page.locator("[data-pending]").count() == 0  # no "not available yet" panels left
    screenshot(page, "twin-cnc1")
    page.set_viewport_size({"width": 1280, "height": 800})
    doc_image(page, "dashboard-twin")
    # a control-room screen: the same page, wider, still without errors
    page.set_viewport_size({"width": 2560, "height": 1440})
    page.wait_for_timeout(500)
    screenshot(page, "twin-cnc1-wide", full_page=False)
    assert_clean(log)


def test_feed_rate_set_in_the_browser_reaches_the_plant(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc2", "twin")
    form = page.locator('form[data-desired="feed_override"]')
    form.get_by_label("Feed override").fill("85")
    form.get_by_role("button", name="Set").click()
    result = form.locator('[data-result="feed_override"]')
    page.wait_for_function(
        "() => ['acknowledged', 'failed'].includes(document.querySelector("
        "'[data-result=\"feed_override\"]').dataset.outcome)"
    )
    assert result.get_attribute("data-outcome") == "acknowledged", result.inner_text()
    assert "acknowledged by the asset" in result.inner_text()
    # at the source: the plant itself now runs at 85 %
    assert read_at_source(demo, "ns=2;s=cnc2.feed_override") == pytest.approx(85.0)
    # and the page shows it come back as the reported value, and as the desired one
    page.wait_for_function(
        "() => document.querySelector('[data-reported-value=\"feed_override\"]')"
        ".innerText.startsWith('85')"
    )
    assert form.locator('[data-desired-value="feed_override"]').inner_text().startswith("85")
    page.wait_for_function(
        "() => Number(document.querySelector('#panel-telemetry figure[data-signal="
        '"feed_override"]\').dataset.latestTs) > 0'
    )
    assert_clean(log)


def test_bad_input_shows_the_servers_message(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc3", "twin")
    form = page.locator('form[data-desired="feed_override"]')
    result = form.locator('[data-result="feed_override"]')
    for typed, expected in [
        ("500", "above the maximum 120"),
        ("fast", "feed_override"),
        ("", "Enter a value"),
    ]:
        form.get_by_label("Feed override").fill(typed)
        form.get_by_role("button", name="Set").click()
        alert = result.get_by_role("alert")
        alert.wait_for()
        assert expected in alert.inner_text(), (typed, alert.inner_text())
        assert result.get_attribute("data-outcome") == "failed"
    # refused before anything was sent: the plant still runs at 100 %
    assert read_at_source(demo, "ns=2;s=cnc3.feed_override") == pytest.approx(100.0)
    # an unknown twin is a clear message, not a blank page
    page.goto(f"{demo.url}/#/twin/cnc9")
    alert = page.get_by_role("alert").filter(has_text="unknown twin")
    alert.wait_for()
    assert page.locator("h1").inner_text() == "This page could not be shown"
    assert_clean(log, HTTP_4XX)


def test_command_buttons_follow_the_allowed_states(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/conveyor1", "twin")
    start = page.locator('button[data-command="start"]')
    stop = page.locator('button[data-command="stop"]')
    page.wait_for_function(
        "() => document.querySelector('main').dataset.status === 'running'", timeout=30_000
    )
    assert start.get_attribute("aria-disabled") == "true"  # allowed only when stopped
    assert stop.get_attribute("aria-disabled") == "false"
    # a refused button stays focusable (keyboard users can reach it) and says why
    start.focus()
    page.keyboard.press("Enter")
    result = page.locator('[data-result="commands"]')
    assert "not allowed while the twin is running" in result.inner_text()
    assert result.get_attribute("data-outcome") == "refused"
    # stop: acknowledged, and the buttons follow the new state
    stop.click()
    page.wait_for_function(
        "() => document.querySelector('[data-result=\"commands\"]').dataset.outcome "
        "=== 'acknowledged'"
    )
    page.wait_for_function(
        "() => document.querySelector('button[data-command=\"start\"]')"
        ".getAttribute('aria-disabled') === 'false'",
        timeout=30_000,
    )
    assert stop.get_attribute("aria-disabled") == "true"
    start.click()
    page.wait_for_function(
        "() => document.querySelector('[data-result=\"commands\"]').innerText"
        ".startsWith('Start: acknowledged')"
    )
    page.wait_for_function(
        "() => document.querySelector('main').dataset.status === 'running'", timeout=30_000
    )
    assert_clean(log)


def test_event_log_filters_and_live_rows(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    # something to find: a command on cnc1
    assert demo.send("PUT", "/twins/cnc1/desired/feed_override", {"value": 95}).status_code in (
        200,
        202,
    )
    open_page(page, demo, "#/events", "events")
    page.select_option("#f-kind", "CommandAcknowledged")
    page.select_option("#f-twin", "cnc1")
    page.fill("#f-since", "1h")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function(
        "() => location.hash.includes('kind=CommandAcknowledged') && "
        "document.querySelector('main').dataset.loaded === 'true'"
    )
    page.wait_for_selector("tbody tr[data-kind]")
    kinds = page.eval_on_selector_all("tbody tr[data-kind]", "rs => rs.map(r => r.dataset.kind)")
    assert kinds and set(kinds) == {"CommandAcknowledged"}
    twins = page.eval_on_selector_all("tbody tr td:nth-child(3)", "cs => cs.map(c => c.innerText)")
    assert set(twins) == {"cnc1"}
    # a new matching event appears without reloading
    rows = len(kinds)
    assert demo.send("PUT", "/twins/cnc1/desired/feed_override", {"value": 100}).status_code in (
        200,
        202,
    )
    page.wait_for_function(
        "n => document.querySelectorAll('tbody tr[data-kind]').length > n", arg=rows
    )
    count = len(page.locator("tbody tr[data-kind]").all())
    assert page.inner_text(".event-status") == f"{count} events, live"
    assert page.locator("button", has_text="Show older events").is_hidden()
    screenshot(page, "events")
    # a time the server cannot read: its message is shown
    page.fill("#f-since", "tomorrowish")
    page.get_by_role("button", name="Apply").click()
    alert = page.locator(".event-status").get_by_role("alert")
    alert.wait_for()
    assert "since" in alert.inner_text()
    assert_clean(log, HTTP_4XX)


def test_connector_outage_is_drawn_as_a_gap(demo: Demo, page_and_log: Any) -> None:
    page, log = page_and_log
    open_page(page, demo, "#/twin/cnc1?window=600", "twin")
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-signal=\"vibration\"]')"
        "?.dataset.points) > 20"
    )
    before = chart_value(page, "vibration", "latest-ts")
    pid = plant_pid(demo)
    os.kill(pid, signal.SIGSTOP)  # the plant freezes: no data, no answers
    try:
        page.wait_for_function(
            "() => ['disconnected', 'stale'].includes(document.querySelector('main')"
            ".dataset.status)",
            timeout=60_000,
        )
        tile_status = page.locator(".twin-head .badge").get_attribute("data-status")
        assert tile_status in ("disconnected", "stale")
        page.wait_for_timeout(1000)
    finally:
        os.kill(pid, signal.SIGCONT)
    # data flows again (the connector reconnects with back-off) ...
    page.wait_for_function(
        "t => Number(document.querySelector('figure[data-signal=\"vibration\"]')"
        ".dataset.latestTs) > t + 5",
        arg=before,
        timeout=90_000,
    )
    # ... and the chart shows the stretch without data as a gap, not as a line across it
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-signal=\"vibration\"]')"
        ".dataset.gaps) >= 1"
    )
    longest = chart_value(page, "vibration", "longest-gap-s")
    assert longest > 10, longest  # seconds of plant time without samples (≥ 2 s frozen × speed)
    # the same gap after a reload, from the stored history alone
    page.reload()
    page.wait_for_selector('main[data-page="twin"]')
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-signal=\"vibration\"]')"
        "?.dataset.gaps) >= 1"
    )
    # a setting that did not change sends nothing, yet its line breaks at the outage too
    page.wait_for_function(
        "() => Number(document.querySelector('figure[data-signal=\"feed_override\"]')"
        "?.dataset.gaps) >= 1"
    )
    screenshot(page, "twin-cnc1-gap")
    assert_clean(log)
