"""Back-off between reconnection attempts: grows, caps, jitters within bounds, resets."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from twinworks.connect import Backoff
from twinworks.connect.base import Connector
from twinworks.spec import ReconnectSpec

pytestmark = pytest.mark.anyio


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    b = Backoff(ReconnectSpec(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0))
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next_delay() == 0.5


def test_jitter_never_exceeds_the_configured_maximum() -> None:
    # the reported case: a maximum of 4 s gave delays of 4.3 s
    spec = ReconnectSpec(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.2)
    for seed in range(200):
        b = Backoff(spec, random.Random(seed))
        delays = [b.next_delay() for _ in range(12)]
        assert max(delays) <= 4.0, (seed, delays)
        assert min(delays) >= 0.4  # 0.5 s less 20 %
    cap = ReconnectSpec(initial_s=4.0, max_s=4.0, jitter=0.2)
    capped = [Backoff(cap, random.Random(seed)).next_delay() for seed in range(200)]
    assert all(3.2 <= d <= 4.0 for d in capped)
    assert max(capped) - min(capped) > 0.2  # still spread: clients do not retry in step


def test_an_initial_delay_above_the_maximum_is_capped() -> None:
    b = Backoff(ReconnectSpec(initial_s=10.0, max_s=2.0, jitter=0.0))
    assert b.next_delay() == 2.0


def test_jitter_stays_within_its_fraction_and_spreads_clients() -> None:
    spec = ReconnectSpec(initial_s=1.0, max_s=2.0, jitter=0.2)
    delays = [Backoff(spec, random.Random(seed)).next_delay() for seed in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert max(delays) - min(delays) > 0.2  # clients do not all retry at the same instant
    assert sum(delays) / len(delays) == pytest.approx(1.0, abs=0.05)


class _Flaky(Connector):
    """Fails its first ``failures`` links, then stays connected."""

    protocol = "test-flaky"

    def __init__(self, failures: int) -> None:
        spec = type("Spec", (), {"reconnect": ReconnectSpec(initial_s=0.01, max_s=0.02)})()
        super().__init__("flaky", spec, [], _sink)
        self.failures = failures
        self.error_before_recovery: str | None = None

    async def _run(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("refused by the test")
        self.error_before_recovery = self.status.last_error
        self._set_connected(True, None)
        await asyncio.Event().wait()

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        raise NotImplementedError

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        raise NotImplementedError


async def _sink(readings: Any, source: str) -> None:
    return None


async def test_last_error_is_cleared_once_the_link_recovers() -> None:
    connector = _Flaky(failures=2)
    async with connector:
        assert await connector.wait_connected(10)
        assert connector.status.reconnects == 2
        # the refusal was shown while it lasted, and is gone once the link is back
        assert connector.error_before_recovery == "ConnectionError: refused by the test"
        assert connector.status.last_error is None
