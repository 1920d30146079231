"""Units as definitions declare them, and as people read them."""

from __future__ import annotations

import pytest

from twinworks.spec.units import unit_label


@pytest.mark.parametrize(
    ("declared", "shown"),
    [
        ("m**3/h", "m³/h"),
        ("m^3/h", "m³/h"),
        ("kg/m**3", "kg/m³"),
        ("m/s**2", "m/s²"),
        ("degC", "°C"),
        ("degF", "°F"),
        ("delta_degC", "Δ°C"),
        ("percent", "%"),
        ("N*m", "N·m"),
        ("kW", "kW"),
        ("mm/s", "mm/s"),
        ("1/hour", "1/hour"),
        ("m**-1", "m⁻¹"),
        (None, ""),
        ("dimensionless", ""),
    ],
)
def test_units_are_shown_as_people_write_them(declared: str | None, shown: str) -> None:
    assert unit_label(declared) == shown
