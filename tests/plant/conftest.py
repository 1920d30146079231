"""Fixtures of the plant tests: what the demo cell's twin definition declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

DEFINITION = Path(__file__).resolve().parents[2] / "examples" / "machining_cell.yaml"


@pytest.fixture(scope="session")
def cell_definition() -> dict[str, Any]:
    """The demo cell's twin definition as plain YAML data: the twins this plant serves.

    The cell's utilities (compressor over MQTT, chiller over Modbus) are simulated
    by twinworks.plant.utilities and left out here.
    """
    with DEFINITION.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    data["twins"] = [
        t for t in data["twins"] if all(b["connector"] == "cell_opcua" for b in t["bindings"])
    ]
    return data


@pytest.fixture(scope="session")
def cell_type_commands(cell_definition: dict[str, Any]) -> dict[str, set[str]]:
    """allowed_states of each cnc_machine command."""
    commands = cell_definition["types"]["cnc_machine"]["commands"]
    return {name: set(spec["allowed_states"]) for name, spec in commands.items()}
