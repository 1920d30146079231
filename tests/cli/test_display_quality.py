"""Status lines and tables show a signal its source marks bad or uncertain, first."""

from __future__ import annotations

from twinworks.cli.display import status_line


def twin(**reported: dict[str, object]) -> dict[str, object]:
    return {"id": "press7", "status": "alarm", "last_received": 100.0, "reported": reported}


def test_a_bad_signal_comes_first_and_says_so() -> None:
    signals = {f"s{i}": {"value": float(i), "unit": None} for i in range(8)}
    signals["z_oil"] = {"value": 5.0, "unit": "bar", "quality": "bad"}
    signals["y_flow"] = {"value": 2.0, "unit": None, "quality": "uncertain"}
    line = status_line(twin(**signals), now=101.0)
    assert "y_flow=2 (uncertain)  z_oil=5 bar (bad)  s0=0" in line
    assert "s0=0 (" not in line


def test_good_signals_are_shown_as_before() -> None:
    line = status_line(twin(a={"value": 1.5, "unit": "degC", "quality": "good"}), now=101.0)
    assert "a=1.5 °C  (data 1.0s ago)" in line
