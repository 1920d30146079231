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


@pytest.mark.parametrize("text", ["1e20", "1e308", "253402300800", "9.9e11"])
def test_times_after_year_9999_name_the_latest_bound(text: str) -> None:
    with pytest.raises(ValueError, match=r"after 9999-12-31T23:59:59.999Z"):
        parse_time(text, now=NOW)


@pytest.mark.parametrize("text", ["-1e308", "-1e20", "1969-12-31T23:59:59Z", "99999999999w ago"])
def test_times_before_1970_name_the_earliest_bound(text: str) -> None:
    with pytest.raises(ValueError, match=r"before 1970-01-01T00:00:00Z") as info:
        parse_time(text, now=NOW)
    assert repr(text) in str(info.value)  # as typed: the minus sign is not lost


def test_the_bounds_themselves_are_times() -> None:
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert parse_time("9999-12-31T23:59:59Z") == 253_402_300_799.0
    assert parse_time("-10", now=NOW) == NOW - 10  # a bare negative number is still an age
