"""Command safety beyond range and state: rate of change of settings, and commands per twin.

Range, dtype and allowed states are checked by the registry and the engine; this
module adds the two limits that depend on time:

* **rate of change** — a desired setting with ``max_rate`` (unit per second) may
  move by at most ``max_rate × (seconds since the previous write)``, and by at
  most one second's worth in a single write, so a setpoint is walked to a new
  value rather than stepped. The previous value is the last desired one; before
  the first write it is the asset's reported value (``reported_by``).
* **commands per twin** — a token bucket per twin: ``commands`` at once, refilled
  at ``commands / per_s`` a second. Every attempt counts, refused ones too, so a
  client cannot flood a machine (or the audit trail) with bad commands either.

>>> guard = CommandGuard(RateLimit(commands=2, per_s=10), clock=lambda: 0.0)
>>> guard.take("m1"); guard.take("m1")
>>> try:
...     guard.take("m1")
... except RateLimitedError as exc:
...     print(exc)
m1: more than 2 commands in 10 s (rate limit of the twin); retry in 5.0 s
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twinworks.errors import RateLimitedError
from twinworks.spec.schema import DesiredSpec, TwinDefinition

__all__ = ["CommandGuard", "RateLimit", "rate_of_change_problem"]


@dataclass(frozen=True)
class RateLimit:
    commands: int = 10
    per_s: float = 10.0


class CommandGuard:
    def __init__(
        self, default: RateLimit | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.default = default or RateLimit()
        self.limits: dict[str, RateLimit] = {}  # per twin, from its type
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # twin -> (tokens, at)

    @classmethod
    def for_definition(
        cls, definition: TwinDefinition, default: RateLimit | None = None
    ) -> CommandGuard:
        """A guard with each twin's limit from its type's ``rate_limit`` (else ``default``)."""
        guard = cls(default)
        for twin in definition.twins:
            limit = definition.types[twin.type].rate_limit
            if limit is not None:
                guard.limits[twin.id] = RateLimit(limit.commands, limit.per_s)
        return guard

    def take(self, twin_id: str) -> None:
        """Count one command for ``twin_id``; raise RateLimitedError when it has too many."""
        limit = self.limits.get(twin_id, self.default)
        now = self._clock()
        refill = limit.commands / limit.per_s
        tokens, at = self._buckets.get(twin_id, (float(limit.commands), now))
        tokens = min(float(limit.commands), tokens + (now - at) * refill)
        if tokens < 1.0:
            retry = (1.0 - tokens) / refill
            self._buckets[twin_id] = (tokens, now)
            raise RateLimitedError(
                f"{twin_id}: more than {limit.commands} commands in {limit.per_s:g} s "
                f"(rate limit of the twin); retry in {retry:.1f} s",
                retry,
            )
        self._buckets[twin_id] = (tokens - 1.0, now)


def rate_of_change_problem(
    what: str,
    spec: DesiredSpec,
    value: Any,
    previous: tuple[Any, float] | None,
    now: float,
) -> str | None:
    """Why writing ``value`` now breaks the setting's ``max_rate``, or None.

    ``previous`` is (value, wall-clock time it was set), or (value, nan) for a value
    the asset reported, which allows one full second's step.
    """
    if spec.max_rate is None or previous is None:
        return None
    old, since = previous
    numeric = (int, float)
    if not isinstance(value, numeric) or not isinstance(old, numeric):
        return None
    if isinstance(value, bool) or isinstance(old, bool):
        return None
    window = 1.0 if math.isnan(since) else min(1.0, max(0.0, now - since))
    allowed = spec.max_rate * window
    change = float(value) - float(old)
    if abs(change) <= allowed * (1 + 1e-9) + 1e-12:
        return None
    unit = f" {spec.unit}" if spec.unit else ""
    return (
        f"{what}: changing from {old:g} to {value:g} ({change:+g}{unit}) breaks max_rate "
        f"{spec.max_rate:g}{unit}/s; a write may move it by at most {allowed:.3g}{unit} now "
        f"(at most {spec.max_rate:g}{unit} a second): step towards the target"
    )
