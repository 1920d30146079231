"""The Modbus part of a definition: register kinds against the signals they feed."""

from __future__ import annotations

import pytest

from twinworks.errors import SpecError
from twinworks.spec import parse_definition

BASE = """
connectors:
  gw:
    protocol: modbus
    units: {2: {timeout_s: 3, backoff: {initial_s: 1, max_s: 8}}}
    scaled_writes: refuse
types:
  drive:
    telemetry:
      speed: {}
      serial: {dtype: string}
      state: {dtype: string, values: [stopped, running]}
      running: {dtype: bool}
    desired: {enabled: {dtype: bool}, frequency: {}}
twins:
  - id: d1
    type: drive
    bindings:
      - connector: gw
        unit_id: 2
        telemetry:
          speed: {address: 0}
          serial: {address: 10, type: string, length: 4}
          state: {address: 1, enum: {0: stopped, 1: running}}
          running: {address: 0, table: discrete_input}
        desired:
          enabled: {address: 3, table: coil}
          frequency: {address: 11, scale: 0.1}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_definition(text, "plant.yaml")
    return [str(issue) for issue in info.value.issues]


def test_every_register_kind_and_unit_setting_is_read() -> None:
    d = parse_definition(BASE)
    gw = d.connectors["gw"]
    assert gw.units[2].timeout_s == 3 and gw.units[2].backoff is not None
    assert gw.units[2].backoff.max_s == 8 and gw.scaled_writes == "refuse"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "serial: {dtype: string}",
            "serial: {}",
            "telemetry.serial: a string register gives a string, but 'serial' is declared "
            "dtype float (expected dtype: string for 'serial')",
        ),
        (
            "running: {dtype: bool}",
            "running: {dtype: int}",
            "telemetry.running: a discrete_input gives a bool, but 'running' is declared "
            "dtype int (expected dtype: bool for 'running')",
        ),
        (
            "state: {dtype: string, values: [stopped, running]}",
            "state: {}",
            "telemetry.state: a state table (enum) gives a string",
        ),
        (
            "speed: {}",
            "speed: {dtype: string}",
            "telemetry.speed: a uint16 register gives a number, but 'speed' is declared dtype "
            "string (expected dtype: float or dtype: int for 'speed')",
        ),
        (
            "enabled: {dtype: bool}",
            "enabled: {}",
            "desired.enabled: a coil gives a bool",
        ),
        ("scaled_writes: refuse", "scaled_writes: truncate", "scaled_writes"),
        ("{timeout_s: 3,", "{timeout_s: 0,", "greater than 0"),
        ("length: 4", "length: 0", "greater than or equal to 1"),
        ("units: {2:", "units: {300:", "unit ids are 0 to 255, not 300"),
    ],
)
def test_mistakes_are_explained_with_their_place(old: str, new: str, message: str) -> None:
    assert old in BASE
    found = problems(BASE.replace(old, new, 1))
    assert any(message in p for p in found), found
    assert all("line" in p for p in found), found
