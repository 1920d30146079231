"""``twinworks validate`` on a definition whose model file is broken: file and line, exit 1."""

from __future__ import annotations

from pathlib import Path

from tests.models.user_models import GEARBOX, write_plant
from typer.testing import CliRunner

from twinworks.cli.main import app as cli


def test_validate_names_the_model_file_and_its_line(tmp_path: Path) -> None:
    broken = GEARBOX.replace("    def output(self, x, u, p):", "    def output(self, x, u, p)")
    line = broken.splitlines().index("    def output(self, x, u, p)") + 1
    path = write_plant(tmp_path, model=broken)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the console may wrap long lines
    assert "types.gearbox.models.drive.model" in output, output
    assert f"gearbox.py, line {line}: the model file does not import: SyntaxError" in output
    assert "Traceback" not in result.output
