"""Converting OPC UA values to signal values and signal values to the declared OPC UA types."""

from __future__ import annotations

import datetime as dt

import pytest
from asyncua import ua

from twinworks.connect.opcua.values import (
    ConversionError,
    from_ua,
    quality_of,
    to_variant,
    typed_arguments,
)

V = ua.VariantType


def test_values_in() -> None:
    stamp = dt.datetime(2026, 3, 1, 6, 30)  # asyncua hands UTC times over without tzinfo
    assert from_ua(stamp, V.DateTime) == dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC).timestamp()
    assert from_ua(0.10000000149011612, V.Float) == 0.1
    assert from_ua(0.10000000149011612, V.Double) == 0.10000000149011612
    assert from_ua([1.0, 2.0, 3.0], V.Double, index=1) == 2.0
    assert from_ua(1, V.Int32, names={0: "Stopped", 1: "Running"}) == "Running"
    assert from_ua(ua.LocalizedText("hello"), V.LocalizedText) == "hello"
    assert from_ua(True, V.Boolean, names={0: "a"}) is True  # a bool is not a code


@pytest.mark.parametrize(
    ("value", "kw", "reason", "message"),
    [
        ([1.0, 2.0], {}, "array_value", "array of 2 values; bind one element with index: (0 to 1)"),
        ([1.0, 2.0], {"index": 2}, "index_out_of_range", "index 2 is outside the node's array"),
        (5.0, {"index": 0}, "not_an_array", "index: 0 is set but the node holds a single Double"),
        (
            7,
            {"names": {0: "a"}},
            "unknown_code",
            "code 7 is not one of the enumeration's codes [0]",
        ),
        (b"\x00", {}, "unsupported_type", "cannot be a signal value"),
    ],
)
def test_values_in_that_cannot_be_signals(
    value: object, kw: dict[str, object], reason: str, message: str
) -> None:
    with pytest.raises(ConversionError) as info:
        from_ua(value, V.Double, **kw)  # type: ignore[arg-type]
    assert info.value.reason == reason and message in str(info.value)


def test_values_out_take_the_declared_type() -> None:
    assert to_variant(50, V.Int16, "x") == ua.Variant(50, V.Int16)
    assert to_variant(50.0, V.UInt32, "x") == ua.Variant(50, V.UInt32)
    assert to_variant(3, V.Double, "x") == ua.Variant(3.0, V.Double)
    assert to_variant(True, V.Boolean, "x") == ua.Variant(True, V.Boolean)
    assert to_variant(0.0, V.DateTime, "x").Value == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "vtype", "message"),
    [
        (70000, V.Int16, "speed: 70000 does not fit in Int16 (from -32768 to 32767)"),
        (-1, V.UInt16, "speed: -1 does not fit in UInt16 (from 0 to 65535)"),
        (2.5, V.Int32, "speed: 2.5 is not a whole number (Int32 expected)"),
        (True, V.Int32, "speed: True is not a whole number (Int32 expected)"),
        (1, V.Boolean, "speed: 1 cannot be sent as Boolean"),
        ("fast", V.Double, "speed: 'fast' cannot be sent as Double"),
        (1e39, V.Float, "speed: 1e+39 does not fit in Float"),
        ("soon", V.DateTime, "speed: 'soon' is not epoch seconds or an ISO 8601 time"),
    ],
)
def test_values_out_that_the_type_cannot_hold_are_refused(
    value: object, vtype: ua.VariantType, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        to_variant(value, vtype, "speed")
    assert str(info.value).startswith(message)


def test_status_codes_as_quality() -> None:
    assert quality_of(None) == "good"
    assert quality_of(ua.StatusCode(ua.StatusCodes.Good)) == "good"
    assert quality_of(ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)) == "uncertain"
    assert quality_of(ua.StatusCode(ua.StatusCodes.BadSensorFailure)) == "bad"


def test_method_arguments_by_name_or_in_order() -> None:
    declared = [("speed", V.Int16), ("ramp", V.Boolean)]
    by_name = typed_arguments("p.set()", declared, {"ramp": True, "speed": 5})
    assert by_name == [ua.Variant(5, V.Int16), ua.Variant(True, V.Boolean)]
    in_order = typed_arguments("p.set()", declared, {"rpm": 5, "soft": False})
    assert in_order == [ua.Variant(5, V.Int16), ua.Variant(False, V.Boolean)]
    with pytest.raises(ValueError) as info:
        typed_arguments("p.set()", declared, {"speed": 5})
    assert str(info.value) == (
        "p.set(): the method takes 2 argument(s) (speed: Int16, ramp: Boolean), got 1 (speed)"
    )
