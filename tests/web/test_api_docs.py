"""/docs and /redoc render the API in a real browser with no request leaving the server.

A plant network often has no internet: the interactive docs must not need a CDN.
Every request the page makes is recorded; any to another host is refused and fails
the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_demo import wait_until
from tests.web.conftest import sign_in

pytestmark = pytest.mark.integration

DEFINITION = """
name: tanks
types:
  tank: {telemetry: {level: {unit: m, min: 0, max: 10}}}
twins:
  - {id: t1, type: tank}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`twinworks up` on a one-tank definition: (its URL, the admin password it printed)."""
    workdir = tmp_path_factory.mktemp("api-docs")
    (workdir / "tanks.yaml").write_text(DEFINITION)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twinworks.cli", "up", "tanks.yaml", "--headless",
         "--port", str(port), "--duration", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
        env=dict(os.environ, COLUMNS="200"),
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/api/v1/health", timeout=2).is_success, 60, "the API")
        password = wait_until(lambda: admin_password("".join(output)), 30, "the admin password")
        yield url, password
    finally:
        proc.terminate()
        proc.wait(30)
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()


def admin_password(printed: str) -> str | None:
    """The password the first start printed, once, for the administrator."""
    lines = [line.split() for line in printed.splitlines()]
    return next((words[1] for words in lines if words[:1] == ["password"]), None)


def record_requests(page: Any, url: str) -> tuple[list[str], list[str]]:
    """Let requests to the server through; refuse and note any other."""
    local, foreign = [], []
    origin = urlsplit(url).netloc

    def route(handler: Any) -> None:
        target = handler.request.url
        if urlsplit(target).netloc == origin or target.startswith(("data:", "blob:")):
            local.append(target)
            handler.continue_()
        else:
            foreign.append(target)
            handler.abort()

    page.route("**/*", route)
    return local, foreign


def test_swagger_ui_renders_every_operation_offline(
    server: tuple[str, str], browser_context: Any, page_and_log: Any
) -> None:
    url, password = server
    page, log = page_and_log
    sign_in(browser_context, url, "admin", password)
    local, foreign = record_requests(page, url)
    page.goto(url + "/docs")
    page.locator(".opblock").first.wait_for()
    schema = page.request.get(url + "/api/v1/openapi.json").json()
    operations = sum(len(ops) for ops in schema["paths"].values())
    page.wait_for_function(
        f"document.querySelectorAll('.opblock').length >= {operations}", timeout=30_000
    )
    assert page.locator(".opblock-summary-path", has_text="/api/v1/twins/{twin_id}").count() >= 1
    assert not foreign, foreign
    assert any(u.endswith("/vendor/swagger-ui/swagger-ui-bundle.js") for u in local)
    assert not log.unexpected(), log.errors


def test_redoc_renders_the_operations_offline(
    server: tuple[str, str], browser_context: Any, page_and_log: Any
) -> None:
    url, password = server
    page, log = page_and_log
    sign_in(browser_context, url, "admin", password)
    local, foreign = record_requests(page, url)
    page.goto(url + "/redoc")
    # Redoc lists each operation's path in its content once the schema is read
    page.get_by_text("/api/v1/twins/{twin_id}/telemetry/{signal}").first.wait_for()
    assert not foreign, foreign
    assert any(u.endswith("/vendor/redoc/redoc.standalone.js") for u in local)
    # ReDoc's sidebar asks its vendor's CDN for a logo: the page's policy blocks it
    # in the browser, before any request is made, and says so on the console
    blocked_logo = r"image 'https://cdn\.redoc\.ly/[^']*' violates .*blocked"
    assert not log.unexpected([blocked_logo]), log.errors
