"""Every whole definition in the MQTT section of docs/connectors.md loads as validate loads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twinworks.spec import parse_definition
from twinworks.spec.schema import MqttBinding

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"


def _examples() -> list[str]:
    text = DOC.read_text()
    section = text[text.index("## MQTT") : text.index("## Modbus TCP")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    return [b for b in blocks if "types:" in b]  # whole definitions, not fragments


def test_the_mqtt_section_has_its_recipes() -> None:
    assert len(_examples()) >= 5


@pytest.mark.parametrize("example", _examples(), ids=lambda e: e.split("\n", 1)[0])
def test_each_recipe_validates(example: str) -> None:
    definition = parse_definition(example, "connectors.md")
    bindings = [b for t in definition.twins for b in t.bindings]
    assert bindings and all(isinstance(b, MqttBinding) for b in bindings)
