"""The example scripts run and say what they promise."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_estimate_tool_wear_example(capsys: pytest.CaptureFixture[str]) -> None:
    module = runpy.run_path(str(EXAMPLES / "estimate_tool_wear.py"))
    result = module["main"](["--minutes", "20"])
    out = capsys.readouterr().out
    assert "RMS error after warm-up" in out
    assert all(r < 0.10 for r in result.values()), result
