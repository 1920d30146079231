"""Twin definitions: the demo cell loads; every kind of mistake is explained with its place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from twinworks.errors import SpecError
from twinworks.spec import LIMITS, load_definition, parse_definition

MINIMAL = """
types:
  pump:
    telemetry:
      flow: {unit: "m**3/h", min: 0, max: 500}
      state: {dtype: string, values: [on, off]}
    commands:
      start: {allowed_states: ["off"]}
twins:
  - {id: p1, type: pump}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_definition(text, "plant.yaml")
    assert str(info.value).startswith("plant.yaml: ")
    return [str(i) for i in info.value.issues]


def test_demo_cell_definition_loads(cell_definition_path: Path) -> None:
    d = load_definition(cell_definition_path)
    assert {t.id for t in d.twins} == {
        "cell1", "cnc1", "cnc2", "cnc3", "conveyor1", "compressor1", "chiller1"
    }  # fmt: skip
    assert d.type_of("cnc1").desired["feed_override"].max == 120
    assert d.twin("cnc1").relationships["partOf"] == "cell1"
    assert d.connectors["cell_opcua"].protocol == "opcua"
    assert d.connectors["cell_mqtt"].protocol == "mqtt"
    assert d.connectors["cell_modbus"].protocol == "modbus"


def test_minimal_definition() -> None:
    d = parse_definition(MINIMAL)
    assert d.type_of("p1").telemetry["state"].values == ["on", "off"]


def test_unknown_type_names_the_line_and_the_choices() -> None:
    (p,) = problems(MINIMAL.replace("type: pump}", "type: pmup}"))
    assert "line 10, twins[0].type" in p
    assert "unknown twin type 'pmup'" in p
    assert "one of: pump" in p


def test_unknown_key_lists_allowed_keys() -> None:
    (p,) = problems(MINIMAL.replace('unit: "m**3/h"', 'unit: "m**3/h", maxx: 3'))
    assert "types.pump.telemetry.flow.maxx" in p
    assert "unknown key 'maxx'" in p and "max, max_rate, min" in p


def test_every_problem_is_reported_at_once() -> None:
    text = MINIMAL.replace("min: 0, max: 500", "min: 9, max: 1").replace(
        "twins:\n  - {id: p1, type: pump}", "twins:\n  - {id: p1, type: x}\n  - {id: p1, type: y}"
    )
    found = problems(text)
    assert any("min (9.0) is greater than max (1.0)" in p for p in found)


def test_semantic_problems_are_collected() -> None:
    text = MINIMAL + "  - {id: p1, type: pump}\n  - {id: p2, type: valve}\n"
    found = problems(text)
    assert any("already used by twins[0]" in p for p in found)
    assert any("unknown twin type 'valve'" in p for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("types: {t: {telemetry: {x: {unit: furlongz}}}}", "unknown unit 'furlongz'"),
        ("types: {t: {telemetry: {x: {dtype: complex}}}}", "'complex' is not allowed"),
        ("types: {t: {telemetry: {x: {dtype: bool, min: 0}}}}", "min/max do not apply"),
        ("twins: [{id: 9lives, type: t}]", "'9lives' is not a valid name"),
        ("connectors: {c: {protocol: carrier-pigeon}}", "unknown 'protocol' 'carrier-pigeon'"),
        ("connectors: {c: {protocol: opcua, endpoint: http://x}}", "opc.tcp://host:4840"),
        ("types: [1, 2]", "types"),
        ("- just\n- a list", "top level is a list"),
        ("", "the file is empty"),
        ("a: [1", "not valid YAML"),
        ("version: 2", "version"),
    ],
)
def test_bad_definitions(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text)), problems(text)


def test_relationships_are_checked() -> None:
    text = """
types:
  cell: {}
  machine: {relationships: {partOf: {target: cell}}}
twins:
  - {id: c1, type: cell}
  - {id: m1, type: machine, relationships: {partOf: m2}}
  - {id: m2, type: machine, relationships: {partOf: c1, feeds: m1}}
"""
    found = problems(text)
    assert any("twin 'm2' is a 'machine'" in p and "a twin of type cell" in p for p in found)
    assert any("declares no relationship 'feeds'" in p for p in found)


def test_partof_cycles_are_refused() -> None:
    text = """
types:
  unit: {relationships: {partOf: {target: unit}}}
twins:
  - {id: a, type: unit, relationships: {partOf: b}}
  - {id: b, type: unit, relationships: {partOf: a}}
"""
    assert any("partOf forms a cycle" in p for p in problems(text))


def test_bindings_must_name_declared_signals_and_connectors() -> None:
    text = """
connectors:
  plc: {protocol: opcua, endpoint: "opc.tcp://localhost:4840"}
types:
  pump: {telemetry: {flow: {}}}
twins:
  - id: p1
    type: pump
    bindings:
      - {connector: plc, telemetry: {flow: "ns=2;s=f", pressure: "ns=2;s=p"}}
      - {connector: nope, telemetry: {flow: "ns=2;s=f"}}
"""
    found = problems(text)
    assert any("bindings[0].telemetry.pressure" in p and "one of: flow" in p for p in found)
    assert any("unknown connector 'nope'" in p and "one of: plc" in p for p in found)


def test_attributes_are_typed() -> None:
    text = """
types:
  pump:
    properties:
      rated_flow: {unit: "m**3/h", min: 0}
      serial: {dtype: string, required: true}
twins:
  - {id: p1, type: pump, attributes: {rated_flow: -3, colour: red}}
"""
    found = problems(text)
    assert any("below the minimum" in p for p in found)
    assert any("no property 'colour'" in p for p in found)
    assert any("required property 'serial' is missing" in p for p in found)


def test_allowed_states_must_be_values_of_state() -> None:
    found = problems(MINIMAL.replace('allowed_states: ["off"]', "allowed_states: [paused]"))
    assert any("'paused' is not a value of the 'state' signal" in p for p in found)


def test_environment_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    text = """
connectors:
  plc: {protocol: opcua, endpoint: "${PLC_URL:-opc.tcp://default:4840}"}
"""
    assert parse_definition(text).connectors["plc"].endpoint == "opc.tcp://default:4840"
    monkeypatch.setenv("PLC_URL", "opc.tcp://10.0.0.5:4840")
    assert parse_definition(text).connectors["plc"].endpoint == "opc.tcp://10.0.0.5:4840"
    (p,) = problems("name: ${UNSET_TWINWORKS_VARIABLE}")
    assert "environment variable UNSET_TWINWORKS_VARIABLE is not set" in p


def test_yaml_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    started = time.perf_counter()
    (p,) = problems("\n".join(lines))
    assert time.perf_counter() - started < 5
    assert "expands to more than" in p


def test_deep_nesting_is_refused() -> None:
    depth = LIMITS["max_depth"] + 5
    (p,) = problems("x: " + "[" * depth + "]" * depth)
    assert "nesting deeper than" in p


def test_huge_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (LIMITS["max_bytes"] + 10))
    with pytest.raises(SpecError, match="at most"):
        load_definition(path)


def test_missing_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the file"):
        load_definition(tmp_path / "nope.yaml")


def test_examples_all_validate() -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    assert examples, "no example definitions found"
    for path in examples:
        load_definition(path)


@pytest.mark.parametrize(
    "name",
    ["../../../somewhere/escaped", "a/b", "..", ".", "/etc/passwd", "a\\\\b", ".hidden", "C:x"],
)
def test_definition_name_must_be_a_plain_file_name(name: str) -> None:
    # the name becomes <name>.db in the data folder: a path in it would escape that folder
    (p,) = problems(f'name: "{name}"\n' + MINIMAL)
    assert "line 1, name:" in p
    assert "is not a plain file name" in p


def test_definition_name_may_hold_spaces_and_dashes() -> None:
    assert parse_definition("name: cell 2 - night\n" + MINIMAL).name == "cell 2 - night"


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    # the last would win and the first (its limits here) would be lost without a word
    text = MINIMAL.replace(
        '      flow: {unit: "m**3/h", min: 0, max: 500}\n',
        '      flow: {unit: "m**3/h", min: 0, max: 500}\n      flow: {unit: "m**3/h"}\n',
    )
    (p,) = problems(text)
    assert "line 6, types.pump.telemetry.flow: key 'flow' appears twice (lines 5 and 6)" in p
    assert "each key once" in p


def test_duplicate_keys_in_flow_mappings_and_at_the_top_are_refused() -> None:
    twins = MINIMAL.replace("{id: p1, type: pump}", "{id: p1, id: p2}")
    ps = problems("name: a\nname: b\n" + twins)
    assert any("line 2, name: key 'name' appears twice (lines 1 and 2)" in p for p in ps)
    assert any("twins[0].id: key 'id' appears twice" in p for p in ps)


def test_merge_keys_still_override() -> None:
    # an override after ``<<`` is YAML's way to change a copied value, not a duplicate
    text = MINIMAL.replace(
        "twins:\n  - {id: p1, type: pump}",
        "twins:\n  - &base {id: p1, type: pump}\n  - {<<: *base, id: p2}",
    )
    assert [t.id for t in parse_definition(text).twins] == ["p1", "p2"]


def test_ids_are_ascii_and_the_error_says_so() -> None:
    # the docs promise ASCII names: a twin id with another letter is refused saying which
    (p,) = problems(MINIMAL.replace("{id: p1, type: pump}", "{id: pümpe1, type: pump}"))
    assert "twins[0].id: 'pümpe1' is not a valid name" in p
    assert "an ASCII letter, then ASCII letters" in p
    # a display name may use any letters
    text = MINIMAL.replace("{id: p1, type: pump}", "{id: p1, type: pump, name: Pümpe Süd}")
    assert parse_definition(text).twins[0].name == "Pümpe Süd"
