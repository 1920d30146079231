"""Reading times and durations the way people type them.

Times: ISO 8601 (``2026-11-24T10:00:00Z``; no zone means UTC), seconds since the
epoch (``1763978400``), ``now``, or a duration ago (``10m``, ``-10m``, ``2h ago``).
Durations: a number with a unit: ``500ms``, ``30s``, ``10m``, ``2h``, ``1d``, ``1w``
(a bare number is seconds).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

__all__ = ["format_time", "parse_duration", "parse_time"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10m``. Raises ValueError with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use e.g. 500ms, 30s, 10m, 2h, 1d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_time(text: str, now: float | None = None) -> float:
    """Seconds since the epoch for ``text``. Raises ValueError with the accepted forms."""
    now = time.time() if now is None else now
    raw = text.strip()
    if raw.lower() == "now":
        return now
    lowered = raw.lower()
    if lowered.endswith(" ago"):
        return now - parse_duration(lowered[: -len(" ago")])
    if lowered.startswith("-"):
        return now - parse_duration(lowered[1:])
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a time")
        return value
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
