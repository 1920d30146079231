"""Imports point one way: the import-linter contracts of pyproject.toml hold for the package.

The contracts (``[tool.importlinter]`` in pyproject.toml; see docs/architecture.md,
"Layers") are checked by running ``lint-imports`` on this checkout's ``src/``; a
broken contract fails the test with import-linter's report, which names each import
against the rules and its line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CONTRACTS = ("layers", "demo-plant", "production-scheduling", "services-acyclic")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the configuration in ``root/pyproject.toml`` on ``root/src``."""
    # the package under test is the one in root/src, not whichever is installed
    path = os.pathsep.join(p for p in (str(root / "src"), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
            "--verbose",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": path, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(REPO)
    report = result.stdout + result.stderr
    assert result.returncode == 0, "import-linter found imports against the layers:\n" + report
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in report, report


def test_an_import_against_the_layers_is_caught(tmp_path: Path) -> None:
    # the check can fail: a product service reading the demo plant breaks two contracts
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        REPO / "src" / "twinworks",
        tmp_path / "src" / "twinworks",
        ignore=shutil.ignore_patterns("__pycache__", "static"),
    )
    setup = tmp_path / "src" / "twinworks" / "services" / "setup.py"
    setup.write_text(setup.read_text() + "\nfrom twinworks.plant.params import CNC_PRESETS\n")
    result = lint_imports(tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    assert "twinworks.services.setup -> twinworks.plant.params" in report, report
    assert "Contracts: 2 kept, 2 broken." in report, report
