"""``twinworks dtdl`` and ``twinworks aas``: files in, files out, clear errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.spec import load_definition

runner = CliRunner()


def test_dtdl_export_then_import_gives_a_loadable_definition(tmp_path: Path) -> None:
    out = tmp_path / "models"
    result = runner.invoke(
        app,
        [
            "dtdl",
            "export",
            str(EXAMPLES / "machining_cell.yaml"),
            "-o",
            str(out),
            "--prefix",
            "dtmi:com:example:cell",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "5 Interfaces written" in result.output
    assert "alarms (spindle_hot" in result.output  # what DTDL cannot hold is reported
    cnc = json.loads((out / "cnc_machine.json").read_text())
    assert cnc["@id"] == "dtmi:com:example:cell:cnc_machine;1"

    types = tmp_path / "types.yaml"
    files = [str(p) for p in sorted(out.glob("*.json"))]
    result = runner.invoke(app, ["dtdl", "import", *files, "-o", str(types)])
    assert result.exit_code == 0, result.output
    assert "5 types written" in result.output
    imported = load_definition(types)
    original = load_definition(EXAMPLES / "machining_cell.yaml")
    assert imported.types["chiller"] == original.types["chiller"]


def test_dtdl_import_prints_yaml_without_output(tmp_path: Path) -> None:
    runner.invoke(
        app, ["dtdl", "export", str(EXAMPLES / "ten_station_line.yaml"), "-o", str(tmp_path)]
    )
    result = runner.invoke(app, ["dtdl", "import", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "types:\n  conveyor:" in result.output
    assert "\n  station:\n" in result.output


def test_dtdl_import_reports_bad_files_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:x", "@type": "Interface"}')
    result = runner.invoke(app, ["dtdl", "import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: @id: @id 'dtmi:x' is not a valid DTMI" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["dtdl", "export", str(tmp_path / "none.yaml"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "cannot read the file" in result.output
    result = runner.invoke(
        app,
        [
            "dtdl",
            "export",
            str(EXAMPLES / "machining_cell.yaml"),
            "-o",
            str(tmp_path),
            "--prefix",
            "urn:example",
        ],
    )
    assert result.exit_code == 1
    assert "'urn:example' is not a usable DTMI prefix" in result.output


def test_aas_export_then_import(tmp_path: Path) -> None:
    package = tmp_path / "cell.aasx"
    result = runner.invoke(
        app, ["aas", "export", str(EXAMPLES / "machining_cell.yaml"), "-o", str(package)]
    )
    assert result.exit_code == 0, result.output
    assert "7 shells written" in result.output
    assert "no Digital Nameplate: it requires ManufacturerName" in result.output
    plant = tmp_path / "plant.yaml"
    result = runner.invoke(app, ["aas", "import", str(package), "-o", str(plant)])
    assert result.exit_code == 0, result.output
    assert "5 types and 7 twins written" in result.output
    imported = load_definition(plant)
    original = load_definition(EXAMPLES / "machining_cell.yaml")
    assert imported.twin("cnc2").attributes == original.twin("cnc2").attributes
    assert imported.types["conveyor"] == original.types["conveyor"]

    as_json = tmp_path / "cell.json"
    result = runner.invoke(
        app, ["aas", "export", str(EXAMPLES / "machining_cell.yaml"), "-o", str(as_json), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(as_json.read_text())["assetAdministrationShells"]


def test_aas_export_with_the_stores_latest_values(tmp_path: Path) -> None:
    from twinworks.store.base import Event, Point
    from twinworks.store.sqlite import SqliteStore

    data = tmp_path / "data"
    with SqliteStore(data / "ten-station-line.db") as store:
        store.append(
            [Point("st03", "queue_length", 1000.0, 4), Point("st03", "state", 1000.0, "cutting")]
        )
        store.append([Point("st03", "ukf.tool_wear", 1000.0, 0.12)])
        store.append_events(
            [Event("MaintenanceRecommended", "st03", {"rul": {"value": 3600.0}}, ts=1000.0)]
        )
    out = tmp_path / "line.json"
    result = runner.invoke(
        app,
        [
            "aas",
            "export",
            str(EXAMPLES / "ten_station_line.yaml"),
            "-o",
            str(out),
            "--data-dir",
            str(data),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "with the store's latest values" in result.output
    doc = json.loads(out.read_text())
    sm = next(s for s in doc["submodels"] if s["id"].endswith(":st03:OperationalData"))
    groups = {e["idShort"]: e for e in sm["submodelElements"]}
    reported = {p["idShort"]: p.get("value") for p in groups["Reported"]["value"]}
    assert reported == {"state": "cutting", "queue_length": "4"}
    assert groups["Estimates"]["value"][0]["idShort"] == "ukf_tool_wear"
    assert groups["RemainingUsefulLife"]["value"][0]["value"] == "3600.0"

    result = runner.invoke(
        app,
        [
            "aas",
            "export",
            str(EXAMPLES / "ten_station_line.yaml"),
            "-o",
            str(out),
            "--data-dir",
            str(tmp_path / "nowhere"),
        ],
    )
    assert result.exit_code == 1
    assert "no store at" in result.output


def test_aas_import_refuses_bad_files_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.aasx"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(app, ["aas", "import", str(bad)])
    assert result.exit_code == 1
    assert "not a readable ZIP archive" in result.output
    assert "Traceback" not in result.output
