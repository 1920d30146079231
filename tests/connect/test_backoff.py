"""Back-off between reconnection attempts: grows, caps, jitters within bounds, resets."""

from __future__ import annotations

import random

import pytest

from twinworks.connect import Backoff
from twinworks.spec import ReconnectSpec


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    b = Backoff(ReconnectSpec(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0))
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next_delay() == 0.5


def test_jitter_stays_within_its_fraction_and_spreads_clients() -> None:
    spec = ReconnectSpec(initial_s=1.0, max_s=1.0, jitter=0.2)
    delays = [Backoff(spec, random.Random(seed)).next_delay() for seed in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert max(delays) - min(delays) > 0.2  # clients do not all retry at the same instant
    assert sum(delays) / len(delays) == pytest.approx(1.0, abs=0.05)
