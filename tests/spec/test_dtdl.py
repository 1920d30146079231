"""DTDL v3: a realistic multi-file model set imports; export → import gives the same types;
every kind of bad input is refused with the file, the element and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import EXAMPLES

from twinworks.spec import load_definition, parse_definition
from twinworks.spec.interop import InteropError
from twinworks.spec.interop.dtdl_export import export_dtdl
from twinworks.spec.interop.dtdl_import import import_dtdl, import_dtdl_files
from twinworks.spec.interop.dtdl_units import UNITS, dtdl_unit_for
from twinworks.spec.units import check_unit, registry

CTX = ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"]

# a pump family as an Azure user would model it: a base Interface, a derived one,
# a component, a reusable Enum, units and a command with an Object request
DEVICE = {
    "@context": CTX,
    "@id": "dtmi:com:example:Device;1",
    "@type": "Interface",
    "contents": [
        {"@type": "Property", "name": "serialNumber", "schema": "string"},
        {"@type": "Property", "name": "manufacturer", "schema": "string"},
        {
            "@type": "Telemetry",
            "name": "state",
            "schema": "dtmi:com:example:RunState;1",
        },
    ],
    "schemas": [
        {
            "@id": "dtmi:com:example:RunState;1",
            "@type": "Enum",
            "valueSchema": "string",
            "enumValues": [
                {"name": "stopped", "enumValue": "stopped"},
                {"name": "running", "enumValue": "running"},
                {"name": "fault", "enumValue": "fault"},
            ],
        }
    ],
}
MOTOR = {
    "@context": CTX,
    "@id": "dtmi:com:example:Motor;1",
    "@type": "Interface",
    "contents": [
        {
            "@type": ["Telemetry", "Current"],
            "name": "current",
            "schema": "double",
            "unit": "ampere",
        },
        {
            "@type": ["Telemetry", "Temperature"],
            "name": "winding_temperature",
            "schema": "double",
            "unit": "degreeCelsius",
        },
    ],
}
PUMP = {
    "@context": CTX,
    "@id": "dtmi:com:example:Pump;2",
    "@type": "Interface",
    "displayName": "Pump",
    "description": {"en": "A centrifugal pump", "de": "Eine Kreiselpumpe"},
    "extends": "dtmi:com:example:Device;1",
    "contents": [
        {
            "@type": ["Telemetry", "Pressure"],
            "name": "outletPressure",
            "schema": "double",
            "unit": "kilopascal",
        },
        {
            "@type": ["Telemetry", "AngularVelocity"],
            "name": "speed",
            "schema": "double",
            "unit": "revolutionPerMinute",
        },
        {
            "@type": ["Telemetry", "VolumeFlowRate"],
            "name": "flow",
            "schema": "float",
            "unit": "cubicMetrePerHour",
        },
        {"@type": "Telemetry", "name": "starts", "schema": "long"},
        {"@type": "Telemetry", "name": "lastService", "schema": "dateTime"},
        {
            "@type": "Telemetry",
            "name": "spectrum",
            "schema": {"@type": "Array", "elementSchema": "double"},
        },
        {
            "@type": ["Property", "AngularVelocity"],
            "name": "speedSetpoint",
            "schema": "double",
            "unit": "revolutionPerMinute",
            "writable": True,
        },
        {
            "@type": "Property",
            "name": "tags",
            "schema": {
                "@type": "Map",
                "mapKey": {"name": "tag", "schema": "string"},
                "mapValue": {"name": "value", "schema": "string"},
            },
        },
        {"@type": "Command", "name": "stop"},
        {
            "@type": "Command",
            "name": "runFor",
            "request": {
                "name": "args",
                "schema": {
                    "@type": "Object",
                    "fields": [
                        {"name": "seconds", "schema": "integer"},
                        {"name": "speed", "schema": "double"},
                    ],
                },
            },
            "response": {"name": "accepted", "schema": "boolean"},
        },
        {
            "@type": "Relationship",
            "name": "feeds",
            "target": "dtmi:com:example:Tank;1",
            "maxMultiplicity": 1,
        },
        {"@type": "Component", "name": "motor", "schema": "dtmi:com:example:Motor;1"},
    ],
}
TANK = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:com:example:Tank;1",
    "@type": "Interface",
    "contents": [
        {"@type": "Telemetry", "name": "level", "schema": "double"},
        {
            "@type": "Telemetry",
            "name": "mode",
            "schema": {
                "@type": "Enum",
                "valueSchema": "integer",
                "enumValues": [
                    {"name": "filling", "enumValue": 1},
                    {"name": "draining", "enumValue": 2},
                ],
            },
        },
        {"@type": "Relationship", "name": "suppliedBy"},
    ],
}


def _sources(*docs: Any) -> dict[str, str]:
    return {f"m{i}.json": json.dumps(d) for i, d in enumerate(docs)}


def _problems(*docs: Any) -> list[str]:
    with pytest.raises(InteropError) as info:
        import_dtdl(_sources(*docs))
    return [str(p) for p in info.value.problems]


def test_a_multi_file_model_set_becomes_twin_types(tmp_path: Path) -> None:
    for name, doc in {"device": DEVICE, "motor": MOTOR, "pump": PUMP}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    # Tank as an array file, the other form DTDL allows
    (tmp_path / "more.json").write_text(json.dumps([TANK]))
    result = import_dtdl_files([tmp_path])

    # the component's Interface is part of the pump, not a type of its own
    assert set(result.types) == {"Device", "Pump", "Tank"}
    pump = result.types["Pump"]
    assert pump.description == "A centrifugal pump"
    # inherited from Device, with the reusable Enum resolved
    assert set(pump.properties) == {"serialNumber", "manufacturer"}
    assert pump.telemetry["state"].values == ["stopped", "running", "fault"]
    # units mapped to pint units the loader understands
    assert pump.telemetry["outletPressure"].unit == "kPa"
    assert pump.telemetry["speed"].unit == "rpm"
    assert pump.telemetry["flow"].unit == "m**3/h"
    assert pump.telemetry["starts"].dtype == "int"
    # the component's contents under its name
    assert pump.telemetry["motor.current"].unit == "A"
    assert pump.telemetry["motor.winding_temperature"].unit == "degC"
    # writable property → desired setting; the Object request → one argument per field
    assert pump.desired["speedSetpoint"].unit == "rpm"
    assert set(pump.commands) == {"stop", "runFor"}
    assert {k: a.dtype for k, a in pump.commands["runFor"].args.items()} == {
        "seconds": "int",
        "speed": "float",
    }
    assert pump.relationships["feeds"].target == ["Tank"]
    assert pump.relationships["feeds"].many is False
    tank = result.types["Tank"]
    assert (tank.telemetry["mode"].dtype, tank.telemetry["mode"].min) == ("int", 1)
    assert tank.relationships["suppliedBy"].many is True
    assert result.interfaces["Pump"] == "dtmi:com:example:Pump;2"

    # what has no equivalent is reported, element by element, never dropped silently
    notes = [str(n) for n in result.notes]
    assert any("pump.json: contents[5].schema: Array schema" in n for n in notes), notes
    assert any("pump.json: contents[7].schema: Map schema" in n for n in notes), notes
    assert any("contents[4].schema: dateTime values are kept as text" in n for n in notes)
    assert any("contents[9].response: command responses" in n for n in notes)
    assert any("integer Enum" in n for n in notes)
    assert "spectrum" not in pump.telemetry and "tags" not in pump.properties
    assert pump.telemetry["lastService"].dtype == "string"


def test_export_then_import_gives_the_same_types() -> None:
    for example in ("machining_cell.yaml", "ten_station_line.yaml"):
        definition = load_definition(EXAMPLES / example)
        exported = export_dtdl(dict(definition.types), "dtmi:com:example:plant")
        back = import_dtdl({k: json.dumps(v) for k, v in exported.files.items()})
        assert back.notes == []
        for name, spec in definition.types.items():
            # alarms and model bindings have no DTDL form: the export says so
            expected = spec.model_copy(update={"alarms": {}, "models": {}})
            assert back.types[name] == expected, name
    notes = [str(n) for n in export_dtdl(dict(definition.types), "dtmi:x").notes]
    assert notes == []  # the line has no alarms or models
    cell = load_definition(EXAMPLES / "machining_cell.yaml")
    notes = [str(n) for n in export_dtdl(dict(cell.types), "dtmi:x").notes]
    assert any("alarms (spindle_hot" in n and "no DTDL form" in n for n in notes)


def test_export_writes_valid_dtdl_with_semantic_types() -> None:
    cell = load_definition(EXAMPLES / "machining_cell.yaml")
    files = export_dtdl(dict(cell.types), "dtmi:com:example:cell").files
    cnc = files["cnc_machine.json"]
    assert cnc["@id"] == "dtmi:com:example:cell:cnc_machine;1"
    assert cnc["@context"] == CTX
    temp = next(c for c in cnc["contents"] if c["name"] == "spindle_temperature")
    assert temp["@type"] == ["Telemetry", "Temperature"]
    assert temp["unit"] == "degreeCelsius"
    # telemetry and desired feed_override share a name in twinworks, not in DTDL
    names = [c["name"] for c in cnc["contents"]]
    assert len(names) == len(set(names))
    desired = next(c for c in cnc["contents"] if c.get("writable"))
    assert desired["name"] == "feed_override_2"
    conveyor = files["conveyor.json"]
    feeds = next(c for c in conveyor["contents"] if c["name"] == "feeds")
    assert feeds["target"] == "dtmi:com:example:cell:cnc_machine;1"
    assert "maxMultiplicity" not in feeds  # many: true


def test_unit_table_speaks_pint_and_keeps_dimensions() -> None:
    ureg = registry()
    for enum, units in UNITS.items():
        dims = {ureg.Unit(check_unit(text)).dimensionality for text in units.values()}
        assert len(dims) == 1, (enum, dims)
    assert dtdl_unit_for("degC") == ("Temperature", "degreeCelsius")
    assert dtdl_unit_for("kPa") == ("Pressure", "kilopascal")
    assert dtdl_unit_for("revolutions_per_minute") == ("AngularVelocity", "revolutionPerMinute")
    assert dtdl_unit_for("mm/s") is None  # DTDL has no millimetre per second


# ------------------------------------------------------------------ bad input


def _interface(**changes: Any) -> dict[str, Any]:
    return {**MOTOR, **changes}


def test_bad_dtmi() -> None:
    for bad in (
        "dtmi:com:example:Motor",
        "dtmi:com:example_:Motor;1",
        "com:example:Motor;1",
        "dtmi:com:example:Motor;0",
        "dtmi:dtdl:Motor;1",
    ):
        problems = _problems(_interface(**{"@id": bad}))
        assert len(problems) == 1, problems
        assert problems[0].startswith("m0.json: @id: "), problems
        assert "dtmi:" in problems[0]


def test_cycle_in_extends() -> None:
    a = {**TANK, "@id": "dtmi:com:example:A;1", "extends": "dtmi:com:example:B;1"}
    b = {**TANK, "@id": "dtmi:com:example:B;1", "extends": ["dtmi:com:example:A;1"]}
    problems = _problems(a, b)
    assert any(
        p.startswith(
            "m0.json: extends: extends forms a cycle: dtmi:com:example:A;1 → "
            "dtmi:com:example:B;1 → dtmi:com:example:A;1"
        )
        for p in problems
    ), problems
    assert any(p.startswith("m1.json: extends: extends forms a cycle") for p in problems)


def test_unknown_base_and_self_extension() -> None:
    problems = _problems({**TANK, "extends": "dtmi:com:example:Nowhere;1"})
    assert problems == [
        "m0.json: extends: unknown Interface 'dtmi:com:example:Nowhere;1' "
        "(expected an Interface defined in one of the files)"
    ]
    problems = _problems({**TANK, "extends": TANK["@id"]})
    assert "extends forms a cycle" in problems[0]


def test_unknown_schema() -> None:
    contents = [{"@type": "Telemetry", "name": "x", "schema": "quaternion"}]
    problems = _problems(_interface(contents=contents))
    assert len(problems) == 1
    assert problems[0].startswith(
        "m0.json: contents[0].schema: unknown schema 'quaternion' (expected a primitive ("
    )
    contents = [{"@type": "Telemetry", "name": "x", "schema": {"@type": "Tuple"}}]
    assert _problems(_interface(contents=contents)) == [
        "m0.json: contents[0].schema.@type: unknown schema type 'Tuple' "
        "(expected Enum, Object, Array or Map)"
    ]
    contents = [{"@type": "Telemetry", "name": "x", "schema": "dtmi:com:example:Missing;1"}]
    assert (
        "unknown schema 'dtmi:com:example:Missing;1'" in _problems(_interface(contents=contents))[0]
    )


def test_duplicate_names_own_and_inherited() -> None:
    contents = [
        {"@type": "Telemetry", "name": "level", "schema": "double"},
        {"@type": "Property", "name": "level", "schema": "double"},
    ]
    assert _problems(_interface(contents=contents)) == [
        "m0.json: contents[1].name: duplicate name 'level' "
        "(expected names unique in an Interface and everything it extends)"
    ]
    child = {
        **TANK,
        "@id": "dtmi:com:example:BigTank;1",
        "extends": TANK["@id"],
        "contents": [{"@type": "Telemetry", "name": "level", "schema": "float"}],
    }
    problems = _problems(TANK, child)
    assert problems == [
        "m1.json: contents[0].name: duplicate name 'level' (also in dtmi:com:example:Tank;1, "
        "inherited) (expected names unique in an Interface and everything it extends)"
    ]


def test_missing_or_wrong_context() -> None:
    no_context = {k: v for k, v in MOTOR.items() if k != "@context"}
    assert _problems(no_context) == [
        "m0.json: @context: missing (expected @context 'dtmi:dtdl:context;3')"
    ]
    v2 = {**MOTOR, "@context": "dtmi:dtdl:context;2"}
    assert "another DTDL version" in _problems(v2)[0]
    # a unit without the QuantitativeTypes extension in @context
    problems = _problems({**MOTOR, "@context": "dtmi:dtdl:context;3"})
    assert problems[0].startswith("m0.json: contents[0].@type: a semantic type or unit needs")


def test_bad_names_units_and_json() -> None:
    contents = [
        {"@type": "Telemetry", "name": "bad-name", "schema": "double"},
        {"@type": "Telemetry", "name": "x" * 513, "schema": "double"},
        {"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "bar"},
        {"@type": "Gadget", "name": "g"},
    ]
    problems = _problems(_interface(contents=contents))
    assert problems[0].startswith("m0.json: contents[0].name: name 'bad-name' is not a valid")
    assert problems[1].startswith("m0.json: contents[1].name: name 'xxxx")
    assert problems[2].startswith("m0.json: contents[2].unit: unit 'bar' is not a TemperatureUnit")
    assert problems[3].startswith("m0.json: contents[3].@type: 'Gadget' (expected one of Telemetry")
    with pytest.raises(InteropError) as info:
        import_dtdl({"broken.json": "{not json"})
    assert str(info.value.problems[0]).startswith("broken.json: not valid JSON")
    with pytest.raises(InteropError) as info:
        import_dtdl({"deep.json": "[" * 100_000})
    assert str(info.value.problems[0]).startswith("deep.json: not valid JSON")


def test_inline_interfaces_are_refused_and_co_types_noted() -> None:
    contents = [{"@type": "Component", "name": "motor", "schema": dict(MOTOR)}]
    assert _problems(_interface(contents=contents)) == [
        "m0.json: contents[0].schema: an inline Interface "
        "(expected the DTMI of an Interface defined at the top level of a file)"
    ]
    result = import_dtdl(_sources({**TANK, "@type": ["Interface", "Asset"]}))
    assert str(result.notes[0]) == ("m0.json: @type: co-type 'Asset' is not mapped; left out")


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InteropError) as info:
        import_dtdl_files([tmp_path / "none.json"])
    assert "none.json: cannot read the file" in str(info.value)
    with pytest.raises(InteropError) as info:
        import_dtdl_files([tmp_path])  # an empty directory
    assert "no DTDL files given" in str(info.value)


def test_round_trip_keeps_what_dtdl_cannot_say() -> None:
    definition = parse_definition(
        """
types:
  press-line.v2:
    rate_limit: {commands: 5, per_s: 10}
    properties:
      serial: {dtype: string, required: true, default: X-1}
    telemetry:
      ram.force: {unit: kN, min: 0, max: 2500, max_rate: 300}
      stroke_rate: {unit: 1/min, min: 0, max: 60}
      state: {dtype: string, values: [idle, pressing]}
    desired:
      ram.force: {unit: kN, min: 100, max: 2000, reported_by: ram.force}
    commands:
      load_program:
        allowed_states: [idle]
        args:
          name: {dtype: string}
          copies: {dtype: int, min: 1, max: 100, required: false, default: 1}
      jog:
        args: {distance: {unit: mm, min: -5, max: 5}}
    relationships:
      partOf: {target: [press-line.v2], many: true}
"""
    )
    exported = export_dtdl(dict(definition.types), "dtmi:com:example")
    (body,) = exported.files.values()
    assert body["@id"] == "dtmi:com:example:press_line_v2;1"
    back = import_dtdl({k: json.dumps(v) for k, v in exported.files.items()})
    assert back.types == dict(definition.types)
