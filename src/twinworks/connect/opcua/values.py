"""Turning OPC UA values into signal values, and signal values into typed OPC UA variants.

In: a DateTime becomes epoch seconds (a float signal, the time convention of the
whole product), an array gives the element the binding's ``index`` picks, an
enumeration code becomes its name, a Float keeps the digits a 32-bit float has
(0.1, not 0.10000000149011612). Out: a value written to a variable or passed to a
method is converted to the *declared* type of the variable or argument (a Python
int would otherwise go out as Int64, which strict servers refuse), and a value
the type cannot hold is refused with the type's range named.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from asyncua import ua

__all__ = [
    "ConversionError",
    "from_ua",
    "quality_of",
    "to_variant",
    "type_name",
    "typed_arguments",
]

# integer variant types and the values they hold
_INT_RANGE: dict[ua.VariantType, tuple[int, int]] = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class ConversionError(ValueError):
    """A value that cannot be converted; ``reason`` is a short code for dead letters."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def type_name(vtype: ua.VariantType | None) -> str:
    return "unknown type" if vtype is None else vtype.name


def quality_of(status: ua.StatusCode | None) -> str:
    """OPC UA's status severity as a quality: good, uncertain or bad."""
    if status is None or status.is_good():
        return "good"
    return "uncertain" if status.is_uncertain() else "bad"


def _epoch(stamp: datetime) -> float:
    # OPC UA times are UTC; asyncua hands them over without a tzinfo
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def from_ua(
    value: Any,
    vtype: ua.VariantType | None,
    *,
    index: int | None = None,
    names: dict[int, str] | None = None,
) -> Any:
    """A signal value from a node's value; raises :class:`ConversionError`."""
    if isinstance(value, list | tuple):
        if index is None:
            raise ConversionError(
                "array_value",
                f"the node holds an array of {len(value)} values; bind one element with "
                f"index: (0 to {len(value) - 1})",
            )
        if index >= len(value):
            raise ConversionError(
                "index_out_of_range",
                f"index {index} is outside the node's array of {len(value)} values",
            )
        value = value[index]
    elif index is not None:
        raise ConversionError(
            "not_an_array", f"index: {index} is set but the node holds a single {type_name(vtype)}"
        )
    if names is not None and isinstance(value, int) and not isinstance(value, bool):
        name = names.get(value)
        if name is None:
            raise ConversionError(
                "unknown_code",
                f"code {value} is not one of the enumeration's codes {sorted(names)}",
            )
        return name
    if isinstance(value, datetime):
        return _epoch(value)
    if vtype is ua.VariantType.Float and isinstance(value, float) and math.isfinite(value):
        # the shortest decimal that is the same float32: the digits the device has
        return float(str(np.float32(value)))
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    if isinstance(value, bool | int | float | str):
        return value
    raise ConversionError(
        "unsupported_type",
        f"a {type_name(vtype)} value ({type(value).__name__}) cannot be a signal value; "
        "bind a node of a number, boolean, string, DateTime or enumeration type",
    )


def to_variant(value: Any, vtype: ua.VariantType, what: str) -> ua.Variant:
    """``value`` as a variant of the declared type; raises ValueError naming ``what``."""
    bad = ValueError(f"{what}: {value!r} cannot be sent as {vtype.name}")
    if vtype is ua.VariantType.Boolean:
        if not isinstance(value, bool):
            raise bad
        return ua.Variant(value, vtype)
    if vtype in _INT_RANGE:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{what}: {value!r} is not a whole number ({vtype.name} expected)")
        lo, hi = _INT_RANGE[vtype]
        if not lo <= value <= hi:
            raise ValueError(f"{what}: {value} does not fit in {vtype.name} (from {lo} to {hi})")
        return ua.Variant(value, vtype)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad
        value = float(value)
        if vtype is ua.VariantType.Float and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise ValueError(f"{what}: {value} does not fit in Float (at most ±{_FLOAT32_MAX:g})")
        return ua.Variant(value, vtype)
    if vtype is ua.VariantType.String:
        if not isinstance(value, str):
            raise bad
        return ua.Variant(value, vtype)
    if vtype is ua.VariantType.DateTime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return ua.Variant(datetime.fromtimestamp(value, UTC), vtype)
        if isinstance(value, str):
            try:
                return ua.Variant(datetime.fromisoformat(value), vtype)
            except ValueError:
                pass
        raise ValueError(f"{what}: {value!r} is not epoch seconds or an ISO 8601 time (DateTime)")
    if vtype is ua.VariantType.Variant:
        return ua.Variant(value)  # the server accepts any type here (BaseDataType, Number)
    raise ValueError(f"{what}: values of type {vtype.name} cannot be sent")


def typed_arguments(
    what: str, declared: list[tuple[str, ua.VariantType]], args: dict[str, Any]
) -> list[ua.Variant]:
    """Arguments in the method's order and types: by name when the names match, else in order."""
    signature = ", ".join(f"{n}: {t.name}" for n, t in declared)
    if len(args) != len(declared):
        raise ValueError(
            f"{what}: the method takes {len(declared)} argument(s) ({signature}), "
            f"got {len(args)} ({', '.join(args) or 'none'})"
        )
    names = [n for n, _ in declared]
    values = [args[n] for n in names] if set(args) == set(names) else list(args.values())
    return [
        to_variant(value, vtype, f"{what} argument {arg!r}")
        for (arg, vtype), value in zip(declared, values, strict=True)
    ]
