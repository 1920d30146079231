"""The twin page names a signal whose source reports it bad or uncertain (OPC UA status),
live, against `twinworks up` reading the vendor-style OPC UA server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asyncua import ua

from tests.conftest import free_port
from tests.connect.opcua_vendor import VendorServer
from tests.connect.test_opcua_vendor import press_definition
from tests.web.conftest import PageLog, assert_clean, sign_in

pytestmark = pytest.mark.integration


class ServerThread:
    """The vendor server on an event loop of its own, for a synchronous browser test."""

    def __init__(self) -> None:
        self.server = VendorServer(free_port())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.server.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def press_up(tmp_path: Path) -> Iterator[tuple[ServerThread, str, str]]:
    server = ServerThread()
    plant = tmp_path / "press.yaml"
    plant.write_text(press_definition(server.server.endpoint))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twinworks.cli", "up", str(plant), "--headless",
         "--port", str(port), "--data-dir", str(tmp_path / "data"), "--status-every", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "".join(output)
            passwords = [
                line.split()[1]
                for line in "".join(output).splitlines()
                if line.strip().startswith("password ")
            ]
            try:
                up = httpx.get(url + "/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            if passwords and up:
                break
            time.sleep(0.2)
        yield server, url, passwords[0]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        server.close()


def test_a_bad_sensor_is_named_on_the_twin_page_and_cleared(
    press_up: tuple[ServerThread, str, str], browser_context: Any, page_and_log: tuple[Any, PageLog]
) -> None:
    server, url, password = press_up
    sign_in(browser_context, url, "admin", password)
    page, log = page_and_log
    page.goto(f"{url}/#/twin/press7")
    page.wait_for_selector('main[data-page="twin"]')
    assert page.locator(".signal-quality [data-quality]").count() == 0

    server.call(
        server.server.write(
            "sensor", 0.0, ua.VariantType.Double, status=ua.StatusCodes.BadSensorFailure
        )
    )
    flagged = page.locator('.signal-quality [data-quality="oil_pressure"]')
    flagged.wait_for()
    assert flagged.get_attribute("data-level") == "bad"
    assert "bad" in flagged.inner_text()
    page.wait_for_selector('.badge[data-status="alarm"], [data-status="alarm"]')

    server.call(server.server.write("sensor", 6.0, ua.VariantType.Double))
    flagged.wait_for(state="detached")
    assert_clean(log)
