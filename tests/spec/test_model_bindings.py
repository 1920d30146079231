"""Model bindings in twin definitions: loaded, and every wrong name explained with its line."""

from __future__ import annotations

import pytest

from twinworks.errors import SpecError
from twinworks.spec import load_definition, parse_definition

BASE = """
types:
  mill:
    telemetry:
      state: {dtype: string, values: [idle, cutting]}
      power: {unit: kW}
      vib: {unit: mm/s}
      temp: {unit: degC}
      speed: {unit: rpm}
      changes: {dtype: int}
    models:
      machine:
        model: cnc_machine
        inputs:
          tool.cutting: {signal: state, equals: cutting}
          tool.feed_override_pct: 100.0
          tool.spindle_speed_rpm: speed
          tool.tool_change: {signal: changes, changes: true}
        outputs: {tool.spindle_power_kw: power, tool.vibration_mm_s: vib}
        estimates: {tool_wear: tool.wear_mm}
        calibrate: [tool.cutting_power_kw]
twins:
  - id: m1
    type: mill
    models: {machine: {parameters: {tool.cutting_power_kw: 9.0}}}
"""


def test_a_binding_loads() -> None:
    d = parse_definition(BASE)
    binding = d.types["mill"].models["machine"]
    assert binding.inputs["tool.feed_override_pct"] == 100.0
    assert d.twin("m1").models["machine"].parameters == {"tool.cutting_power_kw": 9.0}


def test_the_demo_cell_binds_its_machines(cell_definition_path) -> None:  # type: ignore[no-untyped-def]
    d = load_definition(cell_definition_path)
    assert set(d.types["cnc_machine"].models) == {"machine"}
    assert d.twin("cnc3").models["machine"].parameters["tool.cutting_power_kw"] == 5.0


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("model: cnc_machine", "model: lathe", "no model 'lathe'"),
        (
            "tool.spindle_speed_rpm: speed",
            "tool.spindle_speed_rpm: rpm",
            "no telemetry signal 'rpm'",
        ),
        ("tool.spindle_speed_rpm: speed", "tool.speed: speed", "model inputs not mapped"),
        ("equals: cutting}", "equals: milling}", "never has the value 'milling'"),
        ("tool.cutting: {signal: state, equals: cutting}", "tool.cutting: state", "string signal"),
        ("tool.vibration_mm_s: vib}", "tool.noise: vib}", "has no output 'tool.noise'"),
        ("tool_wear: tool.wear_mm", "tool_wear: tool.wear", "has no state 'tool.wear'"),
        (
            "calibrate: [tool.cutting_power_kw]",
            "calibrate: [tool.power]",
            "no parameter 'tool.power'",
        ),
        ("models: {machine: {parameters", "models: {mach: {parameters", "binds no model 'mach'"),
        ("tool.cutting_power_kw: 9.0}", "tool.cutting_power_kw: 900.0}", "outside the bounds"),
        ("estimator: ukf", "estimator: ekf", "not allowed"),
    ],
)
def test_binding_mistakes_are_explained(old: str, new: str, fragment: str) -> None:
    text = BASE.replace("        calibrate:", "        estimator: ukf\n        calibrate:")
    assert old in text
    with pytest.raises(SpecError) as info:
        parse_definition(text.replace(old, new), "mill.yaml")
    message = str(info.value)
    assert fragment in message
    assert "line " in message  # every problem points at its line
