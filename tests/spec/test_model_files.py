"""A user's model bound by path: accepted by validation, and every fault in it explained.

Each broken model is reported when the definition is loaded (``twinworks validate``),
with the definition file and line of the binding, the model file and the line in it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.models.user_models import DEFINITION, GEARBOX, write_plant

from twinworks.errors import SpecError
from twinworks.spec import load_definition

BINDING_LINE = DEFINITION.splitlines().index("        model: models/gearbox.py:Gearbox") + 1


def _problem(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_definition(path)
    message = str(info.value)
    assert str(path) in message, message  # the definition file
    assert f"line {BINDING_LINE}, types.gearbox.models.drive.model" in message, message
    return message


def test_a_model_file_bound_by_path_is_accepted(tmp_path: Path) -> None:
    path = write_plant(tmp_path)
    before = list(sys.path)
    definition = load_definition(path)
    model = definition.types["gearbox"].models["drive"].build()
    assert type(model).__name__ == "Gearbox"
    assert model.parameters["heating_c_per_kw"].default == 0.8
    assert sys.path == before  # nothing added to the import path


def test_relative_paths_start_at_the_definition_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_plant(tmp_path / "plant")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_definition(path).types["gearbox"].models["drive"].build().states == (
        "oil_temperature_c",
        "wear",
    )


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    path = write_plant(tmp_path)
    (tmp_path / "models" / "gearbox.py").unlink()
    message = _problem(path)
    assert "gearbox.py" in message and "does not exist" in message


def test_a_model_file_that_does_not_import_shows_its_own_line(tmp_path: Path) -> None:
    broken = GEARBOX.replace("import numpy as np\n", "import numpy as np\nSCALE = 1 / 0\n")
    line = broken.splitlines().index("SCALE = 1 / 0") + 1
    path = write_plant(tmp_path, model=broken)
    message = _problem(path)
    assert f"gearbox.py, line {line}:" in message, message
    assert "ZeroDivisionError" in message


def test_a_syntax_error_in_the_model_file_shows_its_line(tmp_path: Path) -> None:
    broken = GEARBOX.replace("    def output(self, x, u, p):", "    def output(self, x, u, p)")
    line = broken.splitlines().index("    def output(self, x, u, p)") + 1
    message = _problem(write_plant(tmp_path, model=broken))
    assert f"gearbox.py, line {line}:" in message and "SyntaxError" in message, message


def test_a_missing_class_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    path = write_plant(tmp_path, model=GEARBOX.replace("class Gearbox(", "class GearBox("))
    message = _problem(path)
    assert "no class or factory 'Gearbox'" in message and "GearBox" in message, message
    assert "gearbox.py" in message


def test_a_class_that_breaks_the_contract_is_explained_with_its_line(tmp_path: Path) -> None:
    broken = GEARBOX.replace("    def output(self, x, u, p):", "    def outputs_of(self, x, u, p):")
    line = broken.splitlines().index("class Gearbox(Model):") + 1
    message = _problem(write_plant(tmp_path, model=broken))
    assert f"gearbox.py, line {line}:" in message, message
    assert "breaks the model contract" in message and "no output(x, u, p)" in message


def test_a_model_that_raises_at_construction_shows_the_raising_line(tmp_path: Path) -> None:
    broken = GEARBOX.replace(
        "    def next_state(self, x, u, dt, p):",
        "    def __init__(self, **parameters):\n"
        "        raise RuntimeError('calibration table missing')\n\n"
        "    def next_state(self, x, u, dt, p):",
    )
    line = broken.splitlines().index("        raise RuntimeError('calibration table missing')") + 1
    message = _problem(write_plant(tmp_path, model=broken))
    assert f"gearbox.py, line {line}:" in message, message
    assert "RuntimeError: calibration table missing" in message


def test_a_model_whose_methods_fail_on_one_twin_is_caught_at_validation(tmp_path: Path) -> None:
    broken = GEARBOX.replace("return (x.oil_temperature_c,)", "return (x.oil_temp_c,)")
    line = broken.splitlines().index("        return (x.oil_temp_c,)") + 1
    message = _problem(write_plant(tmp_path, model=broken))
    assert f"gearbox.py, line {line}:" in message, message
    assert "no state 'oil_temp_c'" in message


def test_unknown_options_of_a_model_say_what_it_takes(tmp_path: Path) -> None:
    definition = DEFINITION.replace(
        "        parameters: {heating_c_per_kw: 0.8}\n",
        "        parameters: {heating_c_per_kw: 0.8}\n        options: {gears: 3}\n",
    )
    message = _problem(write_plant(tmp_path, definition=definition))
    assert "unknown parameter(s) gears; declared: ambient_c" in message, message
