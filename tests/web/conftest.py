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
