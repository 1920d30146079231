"""The one object that owns plant time.

Simulation time is an absolute POSIX time in seconds, so that at speed 1 the
timestamps the plant publishes are wall-clock times and a twin cannot tell the
simulator from a real machine. At speed *k* it runs *k* times faster:

    sim_time = t0 + speed × (wall − wall0)

with ``t0`` the wall-clock time when the clock was started. Elapsed wall time is
measured on the monotonic clock, so an NTP adjustment during a run cannot make
simulation time jump or run backwards.

>>> clock = SimClock(speed=60.0, t0_s=1000.0, wall=iter([5.0, 6.5]).__next__)
>>> clock.now_s()
1090.0
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["SimClock", "utc_datetime"]


class SimClock:
    """Maps elapsed wall time to simulation time (POSIX seconds).

    ``speed`` is simulated seconds per wall second. ``t0_s`` defaults to the
    wall-clock time at construction; ``wall`` (a monotonic clock in seconds) is
    injectable so tests can drive the clock by hand.
    """

    def __init__(
        self,
        speed: float = 1.0,
        *,
        t0_s: float | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive factor of real time, got {speed!r}")
        self.speed = float(speed)
        self.t0_s = time.time() if t0_s is None else float(t0_s)
        self.wall = wall
        self._wall0_s = wall()

    def now_s(self) -> float:
        """Current simulation time, POSIX seconds."""
        return self.t0_s + self.speed * (self.wall() - self._wall0_s)

    def wall_seconds_until(self, sim_time_s: float) -> float:
        """Wall seconds left until the simulation reaches ``sim_time_s`` (≤ 0 if past)."""
        return (sim_time_s - self.now_s()) / self.speed

    def __repr__(self) -> str:
        return f"SimClock(speed={self.speed!r}, t0_s={self.t0_s!r})"


def utc_datetime(posix_s: float) -> datetime:
    """A timezone-aware UTC datetime for a POSIX time, as OPC UA timestamps want."""
    return datetime.fromtimestamp(posix_s, UTC)
