"""The model-estimates panel shows whatever virtual values a twin has, in a real browser.

No service on this branch estimates anything yet, so the test runs the real server
(runtime, store, API, stream) with a small real service plugged in the way every
service is: it hears measurements on the change bus and writes an estimate and its
standard deviation through ``Runtime.submit_derived``. Measurements come in over
HTTP ingest, as from a gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, secured, user_token
from tests.web.conftest import screenshot, sign_in
from twinworks.compose import TwinServer
from twinworks.runtime.engine import Runtime
from twinworks.runtime.service import TwinService
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore
from twinworks.store.base import Point

pytestmark = pytest.mark.integration

OVEN = """
name: estimates-test
types:
  oven:
    description: An oven whose temperature a filter estimates.
    telemetry:
      temperature: {unit: degC, min: -50, max: 500}
twins:
  - {id: oven1, type: oven, name: Oven 1}
"""


class SmoothingEstimator(TwinService):
    """Exponentially weighted mean and standard deviation of the oven's temperature."""

    name = "kf"

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self.mean: float | None = None
        self.var = 1.0
        self.task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        self.task = asyncio.create_task(self._run(runtime))

    async def _run(self, runtime: Runtime) -> None:
        with runtime.subscribe(["oven1"]) as sub:
            async for message in sub:
                if message["type"] != "telemetry" or "temperature" not in message["values"]:
                    continue
                ts, value = message["values"]["temperature"]
                if self.mean is None:
                    self.mean = value
                delta = value - self.mean
                self.mean += self.alpha * delta
                self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
                await runtime.submit_derived(
                    [
                        Point("oven1", "kf.temperature", ts, self.mean),
                        Point("oven1", "kf.temperature.std", ts, math.sqrt(self.var)),
                        Point("oven1", "kf.consistency", ts, 1.0 / (1.0 + abs(delta))),
                    ]
                )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


VIEWER_PASSWORD = "oven watcher password"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The server, fed by a gateway with an operator's token; a viewer of the oven signs in."""
    port = free_port()
    security, gateway = secured("operator@oven1", user="gateway")
    user_token(security, "vera", "viewer@oven1", password=VIEWER_PASSWORD)
    ready = threading.Event()
    stop = threading.Event()
    failure: list[BaseException] = []

    async def run() -> None:
        definition = parse_definition(OVEN, "oven.yaml")
        options = {"services": [SmoothingEstimator()]}
        async with TwinServer(
            definition, MemoryStore(), port=port, runtime_options=options, security=security
        ):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=main, name="estimates-server", daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    assert not failure, failure
    url = f"http://127.0.0.1:{port}"
    # the gateway's token is accepted (else the feeder below would post in vain)
    assert httpx.get(url + "/api/v1/auth/me", headers=gateway, timeout=10).status_code == 200
    feeding = threading.Event()

    def feed() -> None:
        i = 0
        with httpx.Client(base_url=url + "/api/v1", timeout=10, headers=gateway) as client:
            while not feeding.is_set():
                value = 180.0 + 5.0 * math.sin(i / 10) + (i % 7 - 3) * 0.3
                client.post(
                    "/telemetry",
                    json={
                        "points": [
                            {
                                "twin_id": "oven1",
                                "signal": "temperature",
                                "ts": time.time(),
                                "value": value,
                                "unit": "degC",
                            }
                        ]
                    },
                )
                i += 1
                time.sleep(0.1)

    feeder = threading.Thread(target=feed, name="estimates-feeder", daemon=True)
    feeder.start()
    try:
        yield url
    finally:
        feeding.set()
        feeder.join(10)
        stop.set()
        thread.join(30)


def test_estimate_with_uncertainty_band_beside_the_measurement(
    server: str, page_and_log: Any, browser_context: Any
) -> None:
    page, log = page_and_log
    sign_in(browser_context, server, "vera", VIEWER_PASSWORD)
    page.goto(f"{server}/#/twin/oven1")
    page.wait_for_selector('main[data-page="twin"]')
    chart = page.locator('#panel-estimates figure[data-signal="kf.temperature"]')
    chart.wait_for()
    assert "±2σ" in chart.locator(".chart-title").inner_text()
    # estimate, measurement and the band drawn in one chart; its legend names them
    legend = chart.locator(".u-legend").inner_text()
    assert "estimate" in legend and "measured Temperature" in legend and "+2σ" in legend
    page.wait_for_function(
        "() => Number(document.querySelector('#panel-estimates figure"
        '[data-signal="kf.temperature"]\').dataset.points) > 20'
    )
    first = float(chart.get_attribute("data-latest-ts") or 0)
    page.wait_for_function(
        "t => Number(document.querySelector('#panel-estimates figure"
        '[data-signal="kf.temperature"]\').dataset.latestTs) > t',
        arg=first,
    )
    # a value without a .std twin is charted on its own; the table lists them all
    page.locator('#panel-estimates figure[data-signal="kf.consistency"]').wait_for()
    rows = page.eval_on_selector_all(
        "#panel-estimates tr[data-virtual]", "rs => rs.map(r => r.dataset.virtual)"
    )
    assert rows == ["kf.consistency", "kf.temperature"]
    sigma = page.inner_text('#panel-estimates tr[data-virtual="kf.temperature"] td:nth-child(3)')
    assert float(sigma) > 0
    assert page.locator("#panel-estimates [data-empty]").is_hidden()
    screenshot(page, "twin-estimates")
    assert not log.unexpected(), log.errors
