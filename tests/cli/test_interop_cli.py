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
        ["dtdl", "export", str(EXAMPLES / "machining_cell.yaml"), "-o", str(out),
         "--prefix", "dtmi:com:example:cell"],
    )  # fmt: skip
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
    runner.invoke(app, ["dtdl", "export", str(EXAMPLES / "ten_station_line.yaml"), "-o",
                        str(tmp_path)])  # fmt: skip
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
        app, ["dtdl", "export", str(EXAMPLES / "machining_cell.yaml"), "-o", str(tmp_path),
              "--prefix", "urn:example"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'urn:example' is not a usable DTMI prefix" in result.output
