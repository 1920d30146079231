"""The machining cell in virtual time: determinism, part flow, settings, drift, truth."""

from __future__ import annotations

import csv
import doctest
import importlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twinworks.errors import RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.plant import MachiningCell, PlantEvent, SimClock, TruthLog
from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.signals import CNC_TRUTH, CONVEYOR_TRUTH


def _trajectory(cell: MachiningCell, hours: float) -> list[Any]:
    """Every event, and what sensors and truth say every 10 s."""
    rows: list[Any] = []

    def record(events: list[PlantEvent]) -> None:
        rows.append(events)
        if round(cell.time_s * 2) % 20 == 0:
            rows.append((cell.measurements(), cell.truth()))

    cell.run_until(cell.time_s + hours * 3600.0, on_step=record)
    return rows


def test_same_seed_same_trajectory_other_seed_other_trajectory() -> None:
    a = _trajectory(MachiningCell(seed=7), 1.0)
    b = _trajectory(MachiningCell(seed=7), 1.0)
    c = _trajectory(MachiningCell(seed=8), 0.25)
    assert a == b
    assert a[: len(c)] != c


def test_the_start_time_only_shifts_time() -> None:
    a = MachiningCell(seed=3)
    b = MachiningCell(seed=3, start_time_s=1.7e9)
    a.run_until(1800.0)
    b.run_until(1.7e9 + 1800.0)
    assert b.time_s == 1.7e9 + 1800.0
    assert a.truth() == b.truth()
    assert a.measurements() == b.measurements()


def test_a_tool_gets_the_same_random_life_whatever_another_machine_does() -> None:
    # common random numbers: runs that differ in one setting stay comparable
    multipliers = []
    for cnc1_feed in (100.0, 60.0):
        cell = MachiningCell(seed=5)
        cell.shift_parameters("cnc3", tool_life_s=300.0)  # many tools in a short run
        cell.set_feed_override("cnc1", cnc1_feed)
        seen = [cell.truth()["cnc3"]["wear_multiplier"]]

        def watch(
            events: list[PlantEvent], cell: MachiningCell = cell, seen: list[Any] = seen
        ) -> None:
            if any(e.twin_id == "cnc3" and e.name == "ToolChanged" for e in events):
                seen.append(cell.truth()["cnc3"]["wear_multiplier"])

        cell.run_until(3600.0, on_step=watch)
        multipliers.append(seen)
    common = min(len(m) for m in multipliers)
    assert common >= 4
    assert multipliers[0][:common] == multipliers[1][:common]
    assert len(set(multipliers[0])) == len(multipliers[0])  # and each tool is different


def test_parts_flow_through_the_line_and_the_counts_add_up() -> None:
    cell = MachiningCell(seed=11)
    completions: list[float] = []

    def check(events: list[PlantEvent]) -> None:
        completions.extend(
            e.time_s for e in events if e.twin_id == "cnc3" and e.name == "PartFinished"
        )
        m, t = cell.measurements(), cell.truth()
        machines = ("cnc1", "cnc2", "cnc3")
        queued = sum(int(m[k]["queue_length"]) for k in machines)
        clamped = sum(bool(t[k]["part_in_machine"]) for k in machines)
        on_belt = int(m["conveyor1"]["parts_on_belt"])
        assert m["cell1"]["wip"] == queued + clamped + on_belt
        assert m["cell1"]["wip"] <= cell.params.wip_limit
        released = (
            int(m["cnc1"]["part_count"])
            + int(m["cnc1"]["queue_length"])
            + int(t["cnc1"]["part_in_machine"])
        )
        assert released == m["cell1"]["parts_completed"] + m["cell1"]["wip"]
        assert m["cell1"]["parts_completed"] == m["cnc3"]["part_count"] == len(completions)
        assert (
            int(m["cnc1"]["part_count"]) + int(m["cnc2"]["part_count"])
            == int(m["conveyor1"]["parts_transported"]) + on_belt
        )
        # the incremental throughput against a batch count over the event log
        in_window = sum(1 for s in completions if s > cell.time_s - 3600.0)
        assert m["cell1"]["throughput"] == in_window

    cell.run_until(1.5 * 3600.0, on_step=check)
    m = cell.measurements()
    assert m["cnc1"]["part_count"] >= m["cnc2"]["part_count"] >= m["cnc3"]["part_count"]
    # cnc3 (150 s) is the bottleneck: at most 24 parts an hour, less tool changes and faults
    assert 14 <= m["cell1"]["throughput"] <= 24
    assert int(m["cnc1"]["tool_changes"]) >= 2


def test_stopping_the_conveyor_starves_the_downstream_machines() -> None:
    cell = MachiningCell(seed=2)
    cell.run_until(1800.0)
    cell.command("conveyor1", "stop")
    cell.run_until(1830.0)  # the belt coasts to a stop (0.2 m/s at 0.1 m/s²)
    transported = cell.measurements()["conveyor1"]["parts_transported"]
    cell.run_until(2 * 3600.0)
    m = cell.measurements()
    assert m["conveyor1"]["parts_transported"] == transported
    assert m["conveyor1"]["state"] == "stopped"
    assert m["conveyor1"]["motor_current"] == 0.0
    assert m["cnc3"]["state"] == "idle" and m["cnc3"]["queue_length"] == 0
    with pytest.raises(CommandRefusedError, match="not allowed in state 'stopped'"):
        cell.command("conveyor1", "stop")


def test_the_belt_speed_setpoint_changes_the_transit_time() -> None:
    def first_arrival_at_cnc2(setpoint_m_s: float) -> float:
        cell = MachiningCell(seed=4)
        cell.set_belt_speed_setpoint(setpoint_m_s)
        finished: list[float] = []

        def watch(events: list[PlantEvent]) -> None:
            finished.extend(e.time_s for e in events if e.name == "PartFinished")

        while cell.measurements()["conveyor1"]["parts_transported"] == 0:
            cell.run_until(cell.time_s + 0.5, on_step=watch)
        return cell.time_s - finished[0]

    slow, fast = first_arrival_at_cnc2(0.1), first_arrival_at_cnc2(0.5)
    assert slow == pytest.approx(6.0 / 0.1, abs=1.0)
    assert fast == pytest.approx(6.0 / 0.5, abs=1.0)


def test_out_of_range_settings_are_refused_not_clamped() -> None:
    cell = MachiningCell(seed=1)
    for bad in (49.9, 120.1, math.nan, math.inf):
        with pytest.raises(RejectedValueError, match=r"outside 50\.\.120"):
            cell.set_feed_override("cnc2", bad)
    assert cell.feed_override("cnc2") == 100.0
    cell.set_feed_override("cnc2", 120.0)
    assert cell.measurements()["cnc2"]["feed_override"] == 120.0
    with pytest.raises(RejectedValueError, match="belt_speed_setpoint"):
        cell.set_belt_speed_setpoint(0.6)
    assert cell.belt_speed_setpoint_m_s == 0.2
    with pytest.raises(UnknownTwinError):
        cell.set_feed_override("cnc9", 80.0)
    with pytest.raises(UnknownSignalError):
        cell.command("cnc1", "explode")


def test_feed_override_trades_cycle_time_against_tool_life_at_the_truth_level() -> None:
    cell = MachiningCell(seed=1)
    cell.run_until(600.0)
    rul = float(cell.truth()["cnc1"]["tool_rul"])
    cell.set_feed_override("cnc1", 50.0)
    assert float(cell.truth()["cnc1"]["tool_rul"]) == pytest.approx(rul * 2**1.5)


def test_shifted_parameters_take_effect_and_bad_shifts_change_nothing() -> None:
    base, drifted = MachiningCell(seed=9), MachiningCell(seed=9)
    drifted.shift_parameters("cnc2", tool_life_s=900.0)
    base.run_until(3600.0)
    drifted.run_until(3600.0)
    assert (
        drifted.measurements()["cnc2"]["tool_changes"] > base.measurements()["cnc2"]["tool_changes"]
    )

    drifted.shift_parameters("conveyor1", belt_length_m=3.0)
    assert drifted.parameters("conveyor1").belt_length_m == 3.0  # type: ignore[union-attr]
    with pytest.raises(UnknownSignalError, match="tool_lief_s"):
        drifted.shift_parameters("cnc2", tool_lief_s=1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        drifted.shift_parameters("cnc2", tool_life_s=-5.0)
    assert drifted.parameters("cnc2").tool_life_s == 900.0  # type: ignore[union-attr]


def test_faults_show_in_the_truth_and_reset_clears_them() -> None:
    cell = MachiningCell(seed=6)
    cell.shift_parameters("cnc1", mtbf_cutting_s=300.0, mean_repair_s=1e6)
    while cell.truth()["cnc1"]["fault_active"] is False:
        cell.step()
    truth = cell.truth()["cnc1"]
    assert cell.measurements()["cnc1"]["state"] == "fault"
    assert float(truth["time_to_repair"]) > 0
    with pytest.raises(CommandRefusedError, match="'change_tool' is not allowed in state 'fault'"):
        cell.command("cnc1", "change_tool")
    cell.command("cnc1", "reset")
    assert cell.truth()["cnc1"]["fault_active"] is False
    cell.step()
    assert cell.measurements()["cnc1"]["state"] == "cutting"  # the interrupted part resumes


def test_measurements_and_truth_cover_the_definition_and_the_catalogue(
    cell_definition: dict[str, Any],
) -> None:
    cell = MachiningCell(seed=1)
    cell.run_until(60.0)
    seen, truth = cell.measurements(), cell.truth()
    types = cell_definition["types"]
    for twin in cell_definition["twins"]:
        declared = set(types[twin["type"]]["telemetry"])
        assert set(seen[twin["id"]]) == declared, twin["id"]
    assert set(truth["cnc1"]) - {"state"} == {s.name for s in CNC_TRUTH}
    assert set(truth["conveyor1"]) == {s.name for s in CONVEYOR_TRUTH}


def test_sensor_noise_has_the_declared_spread() -> None:
    cell = MachiningCell(seed=12)
    cell.command("cnc2", "stop")
    errors = []
    for _ in range(3000):
        cell.step()
        errors.append(
            float(cell.measurements()["cnc2"]["spindle_temperature"])
            - float(cell.truth()["cnc2"]["spindle_temperature"])
        )
    assert np.std(errors) == pytest.approx(0.05, rel=0.1)
    assert abs(np.mean(errors)) < 0.005


def test_truth_log_writes_one_row_per_interval(tmp_path: Path) -> None:
    cell = MachiningCell(seed=1)
    path = tmp_path / "truth.csv"
    with TruthLog(path, interval_s=10.0) as log:
        cell.run_until(100.0, on_step=lambda _events: log.write(cell))
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    assert float(rows[1]["time_s"]) - float(rows[0]["time_s"]) == 10.0
    assert float(rows[-1]["cnc1.tool_wear"]) > 0.0


def test_clock_scales_wall_time() -> None:
    wall = iter([100.0, 100.5, 102.0])
    clock = SimClock(speed=60.0, t0_s=1.7e9, wall=lambda: next(wall))
    assert clock.now_s() == 1.7e9 + 30.0
    assert clock.wall_seconds_until(1.7e9 + 180.0) == pytest.approx(1.0)  # now is +120 s
    with pytest.raises(ValueError, match="positive"):
        SimClock(speed=0.0)


@pytest.mark.parametrize(
    "module",
    ["clock", "params", "wear", "cnc", "conveyor", "cell", "node_ids", "__init__"],
)
def test_documentation_examples_run(module: str) -> None:
    name = "twinworks.plant" if module == "__init__" else f"twinworks.plant.{module}"
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
