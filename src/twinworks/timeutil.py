"""Reading times and durations the way people type them.

Times: ISO 8601 (``2026-11-24T10:00:00Z``; no zone means UTC), seconds since the
epoch (``1763978400``), ``now``, or a duration ago (``10m``, ``-10m``, ``2h ago``).
Durations: a number with a unit: ``500ms``, ``30s``, ``10m``, ``2h``, ``1d``, ``1w``
(a bare number is seconds).

Times are accepted from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z
(:data:`TIME_MIN`, :data:`TIME_MAX`): the range every clock, store and date library
in the product can represent. Anything outside is refused with the bound it crosses,
never passed on to overflow somewhere deeper.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

__all__ = ["TIME_MAX", "TIME_MIN", "format_time", "parse_duration", "parse_time"]

TIME_MIN = 0.0  # 1970-01-01T00:00:00Z
TIME_MAX = 253_402_300_799.999  # 9999-12-31T23:59:59.999Z, the last instant datetime can hold
_MIN_TEXT, _MAX_TEXT = "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10m``. Raises ValueError with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use e.g. 500ms, 30s, 10m, 2h, 1d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_time(text: str, now: float | None = None) -> float:
    """Seconds since the epoch for ``text``. Raises ValueError with the accepted forms.

    The result lies in ``TIME_MIN .. TIME_MAX``; a time outside is refused naming the bound.
    """
    value = _parse_time(text, time.time() if now is None else now)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a time; times run from {_MIN_TEXT} to {_MAX_TEXT}")
    if value < TIME_MIN:
        raise ValueError(f"{text!r} is before {_MIN_TEXT}, the earliest time accepted")
    if value > TIME_MAX:
        raise ValueError(f"{text!r} is after {_MAX_TEXT}, the latest time accepted")
    return value


def _parse_time(text: str, now: float) -> float:
    raw = text.strip()
    if raw.lower() == "now":
        return now
    lowered = raw.lower()
    if lowered.endswith(" ago"):
        return now - parse_duration(lowered[: -len(" ago")])
    if lowered.startswith("-") and _DURATION.match(lowered[1:]):
        return now - parse_duration(lowered[1:])
    try:
        # a number, negative ones included: -1e308 is a (far too early) time, not an age
        return float(raw)
    except ValueError:
        pass
    if _DURATION.match(lowered) and not lowered.replace(".", "").isdigit():
        return now - parse_duration(lowered)
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use ISO 8601 (2026-11-24T10:00:00Z), "
            "seconds since 1970, 'now', or an age such as 10m"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def format_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
