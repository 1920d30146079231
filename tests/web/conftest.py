"""Real headless Chromium (Debian's `chromium`) driven by Playwright for Python.

Playwright is only the driver here: the browser is the system Chromium, launched
with ``executable_path`` and a fresh profile; ``playwright install`` is never run.
Every page a test opens records console errors and uncaught exceptions, and the
test fails on any unless it says which it expects.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.e2e.test_demo import Demo, running_demo

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DOC_IMAGES = REPO / "docs" / "images"
# set to 1 to refresh the README's pictures (docs/images/dashboard-*.png)
DOC_IMAGES_ENV = "TWINWORKS_DOC_IMAGES"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageLog:
    """What the page said on its console, and the exceptions it did not catch."""

    errors: list[str] = field(default_factory=list)

    def unexpected(self, allowed: list[str] | None = None) -> list[str]:
        patterns = [re.compile(p) for p in allowed or []]
        return [e for e in self.errors if not any(p.search(e) for p in patterns)]


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (python3 bootstrap.py test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
            locale="en-GB",
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page_and_log(browser_context: Any) -> Iterator[tuple[Any, PageLog]]:
    # every test starts signed out: cookies are per host, not per port, and each
    # server a test starts has its own users and keys
    browser_context.clear_cookies()
    page = browser_context.new_page()
    log = PageLog()
    page.on(
        "console",
        lambda m: log.errors.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: log.errors.append(f"exception: {exc}"))
    try:
        yield page, log
    finally:
        page.close()


def sign_in(context: Any, url: str, user: str, password: str) -> dict[str, Any]:
    """Log in over the API as the login page does, and give the browser the session cookies.

    Tests that are about something else start signed in this way; the login page
    itself is driven like a user in ``test_dashboard_demo.py``.
    """
    response = httpx.post(
        f"{url}/api/v1/auth/login", json={"username": user, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    cookies = []
    for header in response.headers.get_list("set-cookie"):
        pair, *flags = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        cookie = {"name": name, "value": value, "url": url, "sameSite": "Strict"}
        cookies.append({**cookie, "httpOnly": "HttpOnly" in flags})
    assert {c["name"] for c in cookies} == {"twinworks_session", "twinworks_csrf"}
    context.add_cookies(cookies)
    body: dict[str, Any] = response.json()
    return body


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 1000
    return path


def doc_image(page: Any, name: str) -> None:
    """The README's pictures, refreshed only when asked (they are committed)."""
    if os.environ.get(DOC_IMAGES_ENV) != "1":
        return
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_IMAGES / f"{name}.png"), full_page=False)


SPEED = 5.0  # plant seconds per wall second in the demo the browser tests run against
# what a 4xx answer leaves on the console; the page shows the message itself
HTTP_4XX = [r"Failed to load resource: the server responded with a status of 4\d\d"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`twinworks demo` as a user starts it: in a directory, printing the admin password."""
    with running_demo(
        tmp_path_factory.mktemp("web-demo"), duration=600, speed=SPEED, status_every=30
    ) as demo:
        yield demo


def open_page(page: Any, demo: Demo, route: str, ready: str) -> None:
    page.goto(f"{demo.url}/{route}")
    page.wait_for_selector(f'main[data-page="{ready}"]')


def assert_clean(log: PageLog, allowed: list[str] | None = None) -> None:
    unexpected = log.unexpected(allowed)
    assert not unexpected, unexpected


# What a keyboard or screen-reader user needs of every page (WCAG 2.1: 1.1.1, 1.3.1,
# 2.1.1, 2.4.3, 2.4.7, 4.1.2), checked in the browser on the page as it is drawn.
A11Y_AUDIT = """() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const name = (el) => {
    const byIds = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent || '').join(' ');
    const labels = el.labels ? [...el.labels].map((l) => l.textContent).join(' ') : '';
    return (el.getAttribute('aria-label') || byIds || labels || el.textContent
      || el.getAttribute('title') || el.getAttribute('alt') || '').trim();
  };
  const where = (el) => el.outerHTML.slice(0, 120);
  for (const el of document.querySelectorAll('button, a[href], input, select, textarea, summary')) {
    if (!visible(el) || el.type === 'hidden') continue;
    if (!name(el)) problems.push('no accessible name: ' + where(el));
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) problems.push('positive tabindex: ' + where(el));
  }
  const ids = new Map();
  for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push('id used ' + n + ' times: ' + id);
  for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby]')) {
    for (const attr of ['aria-describedby', 'aria-labelledby']) {
      for (const id of (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(attr + ' names no element: ' + id);
      }
    }
  }
  for (const el of document.querySelectorAll('img:not([alt]), svg[role="img"]:not([aria-label])')) {
    if (visible(el)) problems.push('image without a text alternative: ' + where(el));
  }
  for (const el of document.querySelectorAll('table')) {
    if (visible(el) && !el.querySelector('th')) problems.push('table, no headers: ' + where(el));
  }
  if (document.querySelectorAll('main h1').length !== 1) problems.push('not one h1 in main');
  return problems;
}"""

# one Tab: where focus went, whether it is visible and shows that it has focus
FOCUS_STEP = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const shown = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== 'none';
  const box = el.getBoundingClientRect();
  return {tag: el.tagName.toLowerCase(), text: (el.textContent || el.id || '').trim().slice(0, 40),
          indicator: shown, visible: box.width > 0 && box.height > 0,
          inMain: !!el.closest('main')};
}"""


def a11y_problems(page: Any) -> list[str]:
    problems: list[str] = page.evaluate(A11Y_AUDIT)
    return problems


def tab_through(page: Any, presses: int = 60) -> list[dict[str, Any]]:
    """Press Tab from the top of the page; every stop must be visible and show its focus."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    page.locator("body").focus()
    stops: list[dict[str, Any]] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_STEP)
        if stop is None:
            break
        assert stop["visible"], f"focus on something not shown: {stop}"
        assert stop["indicator"], f"focus not shown: {stop}"
        stops.append(stop)
    return stops
