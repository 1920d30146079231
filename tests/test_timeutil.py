"""Times and durations as people type them."""

from __future__ import annotations

import pytest

from twinworks.timeutil import format_time, parse_duration, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("10m", 600),
        ("10min", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("45", 45),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten minutes", "5 parsecs", "-3s"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 500ms, 30s, 10m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("10m", NOW - 600),
        ("-10m", NOW - 600),
        ("2h ago", NOW - 7200),
        ("1700000000", 1_700_000_000.0),
        ("1700000000.25", 1_700_000_000.25),
        ("2026-11-24T10:00:00Z", 1795514400.0),
        ("2026-11-24T11:00:00+01:00", 1795514400.0),
        ("2026-11-24T10:00:00", 1795514400.0),  # no zone: UTC
    ],
)
def test_times(text: str, expected: float) -> None:
    assert parse_time(text, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-45", "nan", "inf"])
def test_bad_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time"):
        parse_time(text, now=NOW)


def test_format_round_trips() -> None:
    assert format_time(1795514400.5) == "2026-11-24T10:00:00.500Z"
    assert parse_time(format_time(1795514400.5)) == pytest.approx(1795514400.5)
    assert format_time(None) == "-"
