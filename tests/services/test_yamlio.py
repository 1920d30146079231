"""Service input documents (scenarios, schedule requests): parsed with their lines."""

from __future__ import annotations

import pytest

from twinworks.services.errors import ScenarioError
from twinworks.services.yamlio import parse_document


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    text = "name: rush\nchanges:\n  - {type: feed, twin: cnc1, at: 10m}\nname: calm\n"
    with pytest.raises(ScenarioError) as info:
        parse_document(text, "s.yaml", ScenarioError)
    message = str(info.value)
    assert "name" in message and "appears twice (lines 1 and 4)" in message
    assert "line 4" in message


def test_a_document_without_duplicates_keeps_its_lines() -> None:
    data, lines = parse_document("name: rush\nseed: 3\n", "s.yaml", ScenarioError)
    assert data == {"name": "rush", "seed": 3}
    assert lines[("seed",)] == 2
