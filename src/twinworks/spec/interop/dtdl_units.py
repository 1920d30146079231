"""DTDL v3 semantic types and units (the QuantitativeTypes extension) and their pint names.

DTDL names a unit (``degreeCelsius``) and a semantic type (``Temperature``) that
says which units are allowed; twinworks declares pint unit strings (``degC``).
The tables hold the units industrial assets use; a DTDL unit outside them is
reported on import, never guessed.
"""

from __future__ import annotations

from functools import cache

from twinworks.spec.units import UnitError, same_unit

__all__ = [
    "QUANTITATIVE_CONTEXT",
    "SEMANTIC_TYPES",
    "UNITS",
    "dtdl_unit_for",
    "pint_unit",
    "semantic_type_of",
]

# the extension that defines semantic types and units in DTDL v3
QUANTITATIVE_CONTEXT = "dtmi:dtdl:extension:quantitativeTypes;1"

# unit enumeration -> DTDL unit name -> pint unit string; the first entry of a pint
# unit is the one an export writes
UNITS: dict[str, dict[str, str]] = {
    "TemperatureUnit": {"degreeCelsius": "degC", "degreeFahrenheit": "degF", "kelvin": "K"},
    "PressureUnit": {
        "pascal": "Pa",
        "hectopascal": "hPa",
        "kilopascal": "kPa",
        "bar": "bar",
        "millibar": "mbar",
        "poundPerSquareInch": "psi",
        "millimetresOfMercury": "mmHg",
        "inchesOfMercury": "inHg",
    },
    "AngularVelocityUnit": {
        "revolutionPerMinute": "rpm",
        "revolutionPerSecond": "revolution/s",
        "radianPerSecond": "rad/s",
        "degreePerSecond": "deg/s",
    },
    "PowerUnit": {
        "watt": "W",
        "milliwatt": "mW",
        "kilowatt": "kW",
        "megawatt": "MW",
        "horsepower": "hp",
    },
    "CurrentUnit": {"ampere": "A", "milliampere": "mA", "microampere": "uA", "kiloampere": "kA"},
    "VoltageUnit": {"volt": "V", "millivolt": "mV", "microvolt": "uV", "kilovolt": "kV"},
    "VelocityUnit": {
        "metrePerSecond": "m/s",
        "centimetrePerSecond": "cm/s",
        "kilometrePerHour": "km/h",
        "metrePerHour": "m/h",
        "milePerHour": "mph",
        "knot": "knot",
    },
    "LengthUnit": {
        "metre": "m",
        "centimetre": "cm",
        "millimetre": "mm",
        "micrometre": "um",
        "nanometre": "nm",
        "kilometre": "km",
        "foot": "ft",
        "inch": "in",
        "mile": "mi",
    },
    "MassUnit": {
        "kilogram": "kg",
        "gram": "g",
        "milligram": "mg",
        "microgram": "ug",
        "tonne": "t",
        "massPound": "lb",
    },
    "TimeUnit": {
        "second": "s",
        "millisecond": "ms",
        "microsecond": "us",
        "nanosecond": "ns",
        "minute": "min",
        "hour": "h",
        "day": "day",
        "year": "year",
    },
    "FrequencyUnit": {
        "hertz": "Hz",
        "millihertz": "mHz",
        "kilohertz": "kHz",
        "megahertz": "MHz",
        "gigahertz": "GHz",
    },
    "EnergyUnit": {
        "joule": "J",
        "kilojoule": "kJ",
        "megajoule": "MJ",
        "wattHour": "Wh",
        "kilowattHour": "kWh",
        "megawattHour": "MWh",
    },
    "VolumeFlowRateUnit": {
        "litrePerMinute": "L/min",
        "litrePerSecond": "L/s",
        "litrePerHour": "L/h",
        "cubicMetrePerHour": "m**3/h",
        "cubicMetrePerMinute": "m**3/min",
        "cubicMetrePerSecond": "m**3/s",
        "gallonPerMinute": "gal/min",
    },
    "MassFlowRateUnit": {
        "kilogramPerSecond": "kg/s",
        "kilogramPerHour": "kg/h",
        "gramPerSecond": "g/s",
        "gramPerHour": "g/h",
    },
    "VolumeUnit": {
        "cubicMetre": "m**3",
        "litre": "L",
        "millilitre": "mL",
        "cubicCentimetre": "cm**3",
        "gallon": "gal",
    },
    "ForceUnit": {"newton": "N"},
    "TorqueUnit": {"newtonMetre": "N*m"},
    "AccelerationUnit": {"metrePerSecondSquared": "m/s**2", "gForce": "g0"},
    "AngleUnit": {"radian": "rad", "degreeOfArc": "deg", "turn": "turn"},
    "AreaUnit": {"squareMetre": "m**2", "squareCentimetre": "cm**2", "squareMillimetre": "mm**2"},
    "DensityUnit": {"kilogramPerCubicMetre": "kg/m**3", "gramPerCubicMetre": "g/m**3"},
    "ResistanceUnit": {"ohm": "ohm", "milliohm": "mohm", "kiloohm": "kohm", "megaohm": "Mohm"},
    "Unitless": {"percent": "percent", "unity": "dimensionless", "partsPerMillion": "ppm"},
}

# semantic type -> the unit enumeration its ``unit`` is taken from
SEMANTIC_TYPES: dict[str, str] = {
    "Temperature": "TemperatureUnit",
    "Pressure": "PressureUnit",
    "AngularVelocity": "AngularVelocityUnit",
    "Power": "PowerUnit",
    "Current": "CurrentUnit",
    "Voltage": "VoltageUnit",
    "Velocity": "VelocityUnit",
    "Length": "LengthUnit",
    "Distance": "LengthUnit",
    "Mass": "MassUnit",
    "TimeSpan": "TimeUnit",
    "Frequency": "FrequencyUnit",
    "Energy": "EnergyUnit",
    "VolumeFlowRate": "VolumeFlowRateUnit",
    "MassFlowRate": "MassFlowRateUnit",
    "Volume": "VolumeUnit",
    "Force": "ForceUnit",
    "Thrust": "ForceUnit",
    "Torque": "TorqueUnit",
    "Acceleration": "AccelerationUnit",
    "Angle": "AngleUnit",
    "Area": "AreaUnit",
    "Density": "DensityUnit",
    "Resistance": "ResistanceUnit",
    "RelativeHumidity": "Unitless",
    "Humidity": "DensityUnit",
}

# the semantic type an export writes for a unit enumeration (the first one listed above);
# Unitless has none that fits every use (percent feed override is not a humidity)
_EXPORT_SEMANTIC: dict[str, str] = {}
for _semantic, _enum in SEMANTIC_TYPES.items():
    if _enum != "Unitless":
        _EXPORT_SEMANTIC.setdefault(_enum, _semantic)


def pint_unit(semantic_type: str, unit: str) -> str | None:
    """The pint unit of a DTDL unit under a semantic type; None when it is not one of its units."""
    enum = SEMANTIC_TYPES.get(semantic_type)
    if enum is None:
        return None
    return UNITS[enum].get(unit)


def semantic_type_of(semantic_type: str) -> str | None:
    """The unit enumeration of a semantic type, or None for one twinworks does not map."""
    return SEMANTIC_TYPES.get(semantic_type)


@cache
def dtdl_unit_for(unit: str) -> tuple[str, str] | None:
    """``(semantic type, DTDL unit)`` that says exactly the pint ``unit``, or None."""
    for enum, units in UNITS.items():
        semantic = _EXPORT_SEMANTIC.get(enum)
        if semantic is None:
            continue
        for name, text in units.items():
            if text == unit:
                return semantic, name
    for enum, units in UNITS.items():
        semantic = _EXPORT_SEMANTIC.get(enum)
        if semantic is None:
            continue
        for name, text in units.items():
            try:
                if same_unit(text, unit):
                    return semantic, name
            except UnitError:
                continue
    return None
