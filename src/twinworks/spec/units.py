"""Units of measure, through pint.

Declared units are checked when a definition loads; values that arrive in another
unit of the same dimension are converted. Conversions between two units are affine
(``y = a*x + b``, e.g. degF to degC), so each pair is resolved once with pint and
then applied as two floating-point operations on the ingestion path.

Definitions spell units the way pint reads them (``m**3/h``, ``degC``, ``percent``);
people read ``m³/h``, ``°C``, ``%``. :func:`unit_label` makes the second from the
first for display, keeping the order and the names the definition chose.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["UnitError", "check_unit", "conversion", "registry", "same_unit", "unit_label"]

# names pint reads that people write with a symbol
_SYMBOLS = {
    "degC": "°C",
    "degree_Celsius": "°C",
    "celsius": "°C",
    "degF": "°F",
    "degree_Fahrenheit": "°F",
    "fahrenheit": "°F",
    "delta_degC": "Δ°C",
    "delta_degF": "Δ°F",
    "kelvin": "K",
    "percent": "%",
    "ohm": "Ω",
    "micrometer": "µm",
    "um": "µm",
    "degree": "°",
}
_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
_EXPONENT = re.compile(r"\s*(?:\*\*|\^)\s*(-?\d+(?:\.\d+)?)")
_NAME = re.compile(r"[A-Za-z_]+")


class UnitError(ValueError):
    pass


@cache
def registry() -> Any:
    import pint  # imported on first use: it takes a moment to build its tables

    ureg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    return ureg


def _unit(text: str | None) -> Any:
    ureg = registry()
    if text is None or text.strip() in ("", "1", "dimensionless"):
        return ureg.dimensionless
    try:
        return ureg.Unit(text)
    except Exception as exc:  # pint raises several unrelated types for bad strings
        raise UnitError(f"unknown unit {text!r} ({exc.__class__.__name__})") from None


@cache
def check_unit(text: str | None) -> str:
    """Return the unit's canonical name, or raise :class:`UnitError` naming the problem."""
    return str(_unit(text))


@cache
def conversion(from_unit: str | None, to_unit: str | None) -> tuple[float, float]:
    """``(a, b)`` such that a value ``x`` in ``from_unit`` is ``a*x + b`` in ``to_unit``."""
    src, dst = _unit(from_unit), _unit(to_unit)
    if src == dst:
        return (1.0, 0.0)
    if src.dimensionality != dst.dimensionality:
        raise UnitError(
            f"cannot convert {from_unit or 'a unitless value'} to {to_unit or 'a unitless value'}: "
            f"different dimensions"
        )
    q = registry().Quantity
    b = float(q(0.0, src).to(dst).magnitude)
    a = float(q(1.0, src).to(dst).magnitude) - b
    return (a, b)


def same_unit(a: str | None, b: str | None) -> bool:
    return conversion(a, b) == (1.0, 0.0)


@cache
def unit_label(text: str | None) -> str:
    """A declared unit as people write it: ``m**3/h`` → ``m³/h``, ``degC`` → ``°C``.

    Display only: values, the API's ``unit`` fields and conversions keep the
    declared text. ``None``, empty and dimensionless units give ``""``.
    """
    if text is None or text.strip() in ("", "1", "dimensionless"):
        return ""
    label = _EXPONENT.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), text.strip())
    label = _NAME.sub(lambda m: _SYMBOLS.get(m.group(0), m.group(0)), label)
    return re.sub(r"\s*\*\s*", "·", label)
