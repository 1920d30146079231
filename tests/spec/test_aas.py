"""Asset Administration Shells: the example plants export to files the IDTA's checker
(aas-test-engines) accepts, import back to the same definition, and malformed files
(zip bombs, missing parts, wrong schema, not a zip) are refused with a clear error."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aas_test_engines import file as aas_check
from basyx.aas import model
from tests.conftest import EXAMPLES

from twinworks.api.app import API_PREFIX
from twinworks.api.routes.twins import router as twins_router
from twinworks.spec import load_definition, parse_definition
from twinworks.spec.interop import InteropError
from twinworks.spec.interop.aas_export import (
    TELEMETRY_ROUTE,
    OperationalData,
    build_environment,
    submodel_id,
)
from twinworks.spec.interop.aas_files import read_aas, write_aas_json, write_aasx
from twinworks.spec.interop.aas_import import import_environment
from twinworks.spec.interop.aas_model import NAMEPLATE, TECHNICAL_DATA, TIME_SERIES

PREFIX = "urn:example:plant"

PUMPS = """
name: pumps
types:
  pump:
    properties:
      manufacturer: {dtype: string}
      model: {dtype: string}
      serial_number: {dtype: string}
      year_of_construction: {dtype: string}
      manufacturer_city: {dtype: string}
      rated_flow: {unit: "m**3/h", min: 0}
    telemetry:
      flow: {unit: "m**3/h", min: 0, max: 500}
      state: {dtype: string, values: [stopped, running]}
      speed: {unit: rpm, min: 0, max: 3200}
    desired:
      speed.setpoint: {unit: rpm, min: 0, max: 3000, reported_by: speed}
    commands:
      flush:
        allowed_states: [stopped]
        args:
          seconds: {dtype: int, min: 1, max: 600}
          pressure: {unit: bar, required: false, default: 2.0}
twins:
  - id: p1
    type: pump
    name: Pump 1
    attributes:
      manufacturer: ACME Pumps
      model: KP-200
      serial_number: SN-0042
      year_of_construction: "2021"
      manufacturer_city: Berlin
      rated_flow: 200
"""


def _check_json(path: Path) -> Any:
    with path.open() as f:
        return aas_check.check_json_file(f)


def _check_aasx(path: Path) -> Any:
    with path.open("rb") as f:
        return aas_check.check_aasx_file(f)


def _errors(result: Any) -> str:
    return "\n".join(result.to_lines())


@pytest.mark.parametrize("example", ["machining_cell.yaml", "ten_station_line.yaml"])
def test_examples_export_to_files_the_idta_checker_accepts(example: str, tmp_path: Path) -> None:
    definition = load_definition(EXAMPLES / example)
    result = build_environment(definition, PREFIX)
    assert len(result.shells) == len(definition.twins)
    write_aas_json(result.store, tmp_path / "plant.json")
    write_aasx(result.store, result.shells, tmp_path / "plant.aasx")
    checked = _check_json(tmp_path / "plant.json")
    assert checked.ok(), _errors(checked)
    checked = _check_aasx(tmp_path / "plant.aasx")
    assert checked.ok(), _errors(checked)
    # the checker is not a rubber stamp: a shell without its asset information fails it
    doc = json.loads((tmp_path / "plant.json").read_text())
    del doc["assetAdministrationShells"][0]["assetInformation"]
    assert not aas_check.check_json_data(doc).ok()


def test_submodels_carry_the_idta_semantic_ids(tmp_path: Path) -> None:
    cell = load_definition(EXAMPLES / "machining_cell.yaml")
    store = build_environment(cell, PREFIX).store
    sm = store.get_item(submodel_id(PREFIX, "cnc1", "TimeSeries"))
    assert isinstance(sm, model.Submodel)
    assert sm.semantic_id is not None and sm.semantic_id.key[0].value == TIME_SERIES
    segment = sm.get_referable("Segments").get_referable("spindle_speed")
    endpoint = segment.get_referable("Endpoint").value
    assert endpoint == "http://127.0.0.1:8321/api/v1/twins/cnc1/telemetry/spindle_speed"
    # the link is the API's real telemetry route
    routes = {API_PREFIX + r.path for r in twins_router.routes}  # type: ignore[attr-defined]
    assert TELEMETRY_ROUTE.format(twin="{twin_id}", signal="{signal}") in routes
    technical = store.get_item(submodel_id(PREFIX, "cnc1", "TechnicalData"))
    assert technical.semantic_id.key[0].value == TECHNICAL_DATA  # type: ignore[attr-defined]
    props = technical.get_referable("TechnicalProperties")  # type: ignore[attr-defined]
    assert props.get_referable("max_spindle_speed").value == 14000


def test_nameplate_from_the_twins_properties_passes_the_template_check(tmp_path: Path) -> None:
    definition = parse_definition(PUMPS)
    result = build_environment(definition, PREFIX)
    nameplate = result.store.get_item(submodel_id(PREFIX, "p1", "Nameplate"))
    assert nameplate.semantic_id.key[0].value == NAMEPLATE  # type: ignore[attr-defined]
    serial = nameplate.get_referable("SerialNumber")  # type: ignore[attr-defined]
    assert serial.value == "SN-0042"
    write_aas_json(result.store, tmp_path / "pumps.json")
    checked = _check_json(tmp_path / "pumps.json")
    assert checked.ok(), _errors(checked)
    # the IDTA checker parsed it against the Digital Nameplate template
    assert "Template: DigitalNameplate" in _errors(checked)
    # without the year of construction the template's requirement is not met: no nameplate,
    # and a note that says why
    lacking = parse_definition(PUMPS.replace('      year_of_construction: "2021"\n', ""))
    result = build_environment(lacking, PREFIX)
    assert submodel_id(PREFIX, "p1", "Nameplate") not in {o.id for o in result.store}
    assert any("requires YearOfConstruction" in str(n) for n in result.notes)


@pytest.mark.parametrize("suffix", [".aasx", ".json"])
@pytest.mark.parametrize("example", ["machining_cell.yaml", "ten_station_line.yaml"])
def test_export_then_import_gives_the_same_definition(
    example: str, suffix: str, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / example)
    _round_trip(definition, tmp_path / f"plant{suffix}")


def test_round_trip_keeps_nameplate_properties_commands_and_odd_names(tmp_path: Path) -> None:
    _round_trip(parse_definition(PUMPS), tmp_path / "pumps.aasx")


def _round_trip(definition: Any, path: Path) -> None:
    result = build_environment(definition, PREFIX)
    if path.suffix == ".json":
        write_aas_json(result.store, path)
    else:
        write_aasx(result.store, result.shells, path)
    back = import_environment(read_aas(path), str(path))
    assert back.notes == []
    for name, spec in definition.types.items():
        assert back.types[name] == spec.model_copy(update={"alarms": {}, "models": {}}), name
    twins = {t.id: t for t in back.twins}
    for twin in definition.twins:
        assert twins[twin.id] == twin.model_copy(update={"bindings": [], "models": {}}), twin.id


def test_operational_data_holds_the_latest_values_estimates_and_rul() -> None:
    definition = parse_definition(PUMPS)
    live = {
        "p1": OperationalData(
            reported={"flow": (100.0, 212.5), "state": (100.0, "running")},
            estimates={"ukf.impeller_wear": (100.0, 0.31)},
            rul={"value": 5400.0, "lower": 3600.0, "upper": None, "method": "model"},
        )
    }
    store = build_environment(definition, PREFIX, live=live).store
    sm = store.get_item(submodel_id(PREFIX, "p1", "OperationalData"))
    reported = sm.get_referable("Reported")  # type: ignore[attr-defined]
    assert reported.get_referable("flow").value == 212.5
    assert reported.get_referable("state").value == "running"
    assert sm.get_referable("Estimates").get_referable("ukf_impeller_wear").value == 0.31  # type: ignore[attr-defined]
    rul = sm.get_referable("RemainingUsefulLife")  # type: ignore[attr-defined]
    assert rul.get_referable("value").value == 5400.0
    assert rul.get_referable("method").value == "model"


def test_a_foreign_shell_is_read_and_what_is_not_mapped_is_reported(tmp_path: Path) -> None:
    """A shell written by another tool: no twinworks qualifiers, an unknown submodel."""
    env = {
        "assetAdministrationShells": [
            {
                "modelType": "AssetAdministrationShell",
                "id": "https://example.com/aas/robot7",
                "idShort": "robot7",
                "assetInformation": {
                    "assetKind": "Instance",
                    "globalAssetId": "https://example.com/asset/robot7",
                },
                "submodels": [
                    {
                        "type": "ModelReference",
                        "keys": [{"type": "Submodel", "value": "https://example.com/sm/robot7/td"}],
                    },
                    {
                        "type": "ModelReference",
                        "keys": [{"type": "Submodel", "value": "https://example.com/sm/robot7/cf"}],
                    },
                ],
            }
        ],
        "submodels": [
            {
                "modelType": "Submodel",
                "id": "https://example.com/sm/robot7/td",
                "idShort": "TechnicalData",
                "semanticId": {
                    "type": "ExternalReference",
                    "keys": [{"type": "GlobalReference", "value": TECHNICAL_DATA}],
                },
                "submodelElements": [
                    {
                        "modelType": "SubmodelElementCollection",
                        "idShort": "TechnicalProperties",
                        "value": [
                            {
                                "modelType": "Property",
                                "idShort": "payload",
                                "valueType": "xs:double",
                                "value": "7.5",
                            },
                            {
                                "modelType": "Property",
                                "idShort": "axes",
                                "valueType": "xs:int",
                                "value": "6",
                            },
                            {
                                "modelType": "File",
                                "idShort": "datasheet",
                                "contentType": "application/pdf",
                                "value": "/aasx/ds.pdf",
                            },
                        ],
                    }
                ],
            },
            {
                "modelType": "Submodel",
                "id": "https://example.com/sm/robot7/cf",
                "idShort": "CarbonFootprint",
                "semanticId": {
                    "type": "ExternalReference",
                    "keys": [
                        {
                            "type": "GlobalReference",
                            "value": "https://admin-shell.io/idta/CarbonFootprint/CarbonFootprint/0/9",
                        }
                    ],
                },
            },
        ],
    }
    path = tmp_path / "robot.json"
    path.write_text(json.dumps(env))
    result = import_environment(read_aas(path), str(path))
    (twin,) = result.twins
    assert (twin.id, twin.type) == ("robot7", "robot7_type")
    assert twin.attributes == {"payload": 7.5, "axes": 6}
    assert result.types["robot7_type"].properties["axes"].dtype == "int"
    notes = [str(n) for n in result.notes]
    assert any("no assetType" in n for n in notes)
    assert any(
        "TechnicalProperties.datasheet: File has no twin-type equivalent" in n for n in notes
    )
    assert any("CarbonFootprint" in n and "not mapped" in n for n in notes)


# ------------------------------------------------------------------ malformed files


def _refused(path: Path) -> str:
    with pytest.raises(InteropError) as info:
        read_aas(path)
    text = str(info.value)
    assert str(path) in text
    return text


def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.aasx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("aasx/data.json", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):  # 300 MB of zeros, a few hundred kB compressed
                f.write(chunk)
    assert bomb.stat().st_size < 2_000_000
    text = _refused(bomb)
    assert "refused as a zip bomb" in text


def test_not_a_zip_missing_parts_and_wrong_schema(tmp_path: Path) -> None:
    not_zip = tmp_path / "plant.aasx"
    not_zip.write_text("just text")
    assert "not a ZIP archive" in _refused(not_zip)

    plain_zip = tmp_path / "plain.aasx"
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    assert "not an OPC package" in _refused(plain_zip)

    # an OPC package without the AASX origin part
    no_origin = tmp_path / "no-origin.aasx"
    with zipfile.ZipFile(no_origin, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxml'
            'formats-package.relationships+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"/>',
        )
    assert "not a valid AASX package" in _refused(no_origin)

    truncated = tmp_path / "truncated.aasx"
    cell = load_definition(EXAMPLES / "ten_station_line.yaml")
    result = build_environment(cell, PREFIX)
    buffer = io.BytesIO()
    write_aasx(result.store, result.shells, buffer)
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "not a readable ZIP archive" in _refused(truncated)

    wrong = tmp_path / "wrong.json"
    wrong.write_text(
        json.dumps(
            {
                "assetAdministrationShells": [
                    {"modelType": "AssetAdministrationShell", "id": "urn:x"}
                ]
            }
        )
    )
    assert "not a valid AAS v3.0 environment" in _refused(wrong)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": "world"}))
    assert "no assetAdministrationShells, submodels or conceptDescriptions" in _refused(other)

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"assetAdministrationShells": [')
    assert "not valid JSON" in _refused(garbage)

    assert "cannot read the file" in _refused(tmp_path / "missing.aasx")


def test_a_file_without_shells_and_a_dangling_submodel_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"submodels": []}))
    with pytest.raises(InteropError) as info:
        import_environment(read_aas(empty), str(empty))
    assert "no Asset Administration Shell in the file" in str(info.value)

    definition = load_definition(EXAMPLES / "ten_station_line.yaml")
    result = build_environment(definition, PREFIX)
    result.store.discard(result.store.get_item(submodel_id(PREFIX, "st01", "TechnicalData")))
    path = tmp_path / "dangling.json"
    write_aas_json(result.store, path)
    with pytest.raises(InteropError) as info:
        import_environment(read_aas(path), str(path))
    assert f"submodel '{submodel_id(PREFIX, 'st01', 'TechnicalData')}' is missing" in str(
        info.value
    )


def _xml_package(definition: Any) -> bytes:
    """An AASX with the XML serialisation inside, as most AAS tools write it."""
    from basyx.aas.adapter import aasx

    result = build_environment(definition, PREFIX)
    buffer = io.BytesIO()
    with aasx.AASXWriter(buffer) as writer:
        writer.write_aas(result.shells, result.store, aasx.DictSupplementaryFileContainer())
    return buffer.getvalue()


def test_an_aasx_with_xml_inside_reads_the_same(tmp_path: Path) -> None:
    definition = load_definition(EXAMPLES / "machining_cell.yaml")
    path = tmp_path / "xml.aasx"
    path.write_bytes(_xml_package(definition))
    assert "aasx/data.xml" in zipfile.ZipFile(path).namelist()
    back = import_environment(read_aas(path), str(path))
    assert back.types["conveyor"] == definition.types["conveyor"]
    assert {t.id for t in back.twins} == {t.id for t in definition.twins}


def test_an_xml_entity_bomb_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY e0 "lol">' + "".join(
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE environment [{entities}]>'
        '<environment xmlns="https://admin-shell.io/aas/3/0"><assetAdministrationShells>'
        "<assetAdministrationShell><id>&e9;</id></assetAdministrationShell>"
        "</assetAdministrationShells></environment>"
    )
    package = zipfile.ZipFile(
        io.BytesIO(_xml_package(load_definition(EXAMPLES / "ten_station_line.yaml")))
    )
    path = tmp_path / "entities.aasx"
    with zipfile.ZipFile(path, "w") as out:
        for info in package.infolist():
            data = package.read(info.filename)
            out.writestr(info, bomb.encode() if info.filename.endswith("data.xml") else data)
    text = _refused(path)
    assert "not a valid AASX package" in text and "amplification" in text
