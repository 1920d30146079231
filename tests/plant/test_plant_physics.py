"""The pure physics of the plant: wear curve, Taylor rates, machine and belt steps."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from twinworks.plant import cnc, conveyor
from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.params import (
    CNC_PRESETS,
    CncParams,
    ConveyorParams,
    FloatArray,
    cnc_params,
    stack_cnc_params,
)
from twinworks.plant.wear import flank_wear_mm, life_rate_per_s, life_used_at_wear

# ---------------------------------------------------------------- wear curve


def test_wear_curve_starts_at_zero_and_reaches_the_reference_at_end_of_life() -> None:
    assert float(flank_wear_mm(0.0, 0.3)) == 0.0
    assert float(flank_wear_mm(1.0, 0.3)) == pytest.approx(0.3, abs=1e-12)


def test_wear_curve_is_increasing_with_three_phases() -> None:
    theta = np.linspace(0.0, 1.2, 2401)
    vb = flank_wear_mm(theta, 0.3)
    slope = np.diff(vb) / np.diff(theta)
    assert np.all(slope > 0)
    break_in, steady, end = slope[0], slope[np.searchsorted(theta, 0.5)], slope[-1]
    # fast break-in, a slower steady phase, then accelerating wear
    assert break_in > 3 * steady
    assert end > 3 * steady
    assert np.argmin(slope) not in (0, slope.size - 1)


def test_life_at_wear_inverts_the_wear_curve() -> None:
    theta = np.array([0.0, 0.01, 0.3, 0.9, 1.0, 1.4])
    assert life_used_at_wear(flank_wear_mm(theta, 0.3), 0.3) == pytest.approx(theta, abs=1e-9)
    assert life_used_at_wear(np.inf, 0.3) == np.inf


def test_taylor_rate_scales_with_feed_and_speed_and_stops_with_the_spindle() -> None:
    def rate(speed_rpm: float, feed_pct: float) -> float:
        one = np.ones(1)
        return float(
            life_rate_per_s(
                one * 1500.0,
                one * speed_rpm,
                one * 8000.0,
                one * feed_pct,
                one * 0.25,
                one * 1.5,
                one,
            )[0]
        )

    assert rate(8000, 100) == pytest.approx(1 / 1500)
    assert rate(8000, 120) / rate(8000, 100) == pytest.approx(1.2**1.5)
    assert rate(8800, 100) / rate(8000, 100) == pytest.approx(1.1**4)  # T ∝ V^(-1/n), n = 0.25
    assert rate(0, 100) == 0.0


# ------------------------------------------------------------- a CNC machine


def _one_machine(**changes: float) -> CncParams[FloatArray]:
    return stack_cnc_params([replace(CNC_PRESETS["cnc1"], **changes)])


def _run(
    p: CncParams[FloatArray],
    x: cnc.CncState,
    seconds: float,
    *,
    feed_pct: float = 100.0,
    arriving: int = 0,
    dt_s: float = 0.5,
) -> tuple[cnc.CncState, list[cnc.CncEvents]]:
    """Run a single machine; ``arriving`` parts are added at the first step."""
    events = []
    draws = cnc.CncDraws(np.ones(1), np.full(1, 600.0), np.full(1, np.inf))
    for k in range(round(seconds / dt_s)):
        u = cnc.CncInputs(np.full(1, feed_pct), np.full(1, arriving if k == 0 else 0, np.int64))
        x, ev = cnc.next_state(p, x, u, dt_s, draws)
        events.append(ev)
    return x, events


def _fresh(p: CncParams[FloatArray]) -> cnc.CncState:
    return cnc.initialize(p, wear_multiplier=np.ones(1), fault_hazard=np.full(1, np.inf))


def test_an_idle_machine_with_a_part_waiting_starts_cutting() -> None:
    p = _one_machine()
    x, _ = _run(p, _fresh(p), 0.5, arriving=2)
    assert cnc.MODE_NAMES[x.mode[0]] == "cutting"
    assert x.queue_length[0] == 1
    assert x.has_part[0]


@pytest.mark.parametrize("feed_pct", [50.0, 100.0, 120.0])
def test_cycle_time_is_base_cycle_times_100_over_feed(feed_pct: float) -> None:
    p = _one_machine(tool_change_wear_mm=math.inf)
    _, events = _run(p, _fresh(p), 1000.0, feed_pct=feed_pct, arriving=50)
    finished_at = [0.5 * (k + 1) for k, ev in enumerate(events) if ev.part_finished[0]]
    cycles = np.diff(finished_at)
    expected = 120.0 * 100.0 / feed_pct
    # one step is lost loading the next part, and a part ends on a step boundary
    assert np.all(np.abs(cycles - expected) <= 1.0)


def test_wear_grows_only_while_cutting_and_faster_at_higher_feed() -> None:
    p = _one_machine(base_cycle_s=1e9, tool_change_wear_mm=math.inf)
    used = {}
    for feed in (80.0, 120.0):
        x, _ = _run(p, _fresh(p), 600.0, feed_pct=feed, arriving=1)
        used[feed] = float(x.life_used[0])
    # the feed factor of the Taylor rate is independent of the spindle ramp, so this is exact
    assert used[120.0] / used[80.0] == pytest.approx(1.5**1.5, rel=1e-9)

    stopped = cnc.apply_command(p, x, 0, "stop")
    later, _ = _run(p, stopped, 300.0)
    assert later.life_used[0] == stopped.life_used[0]


def test_wear_is_monotone_while_cutting_then_the_tool_is_changed_automatically() -> None:
    p = _one_machine()
    x, events = _run(p, _fresh(p), 0.5, arriving=100)
    wear = [float(flank_wear_mm(x.life_used, 0.3)[0])]
    modes = [int(x.mode[0])]
    for _ in range(2 * 3600 * 2):
        x, ev = _run(p, x, 0.5)
        events += ev
        wear.append(float(flank_wear_mm(x.life_used, 0.3)[0]))
        modes.append(int(x.mode[0]))
    wear_arr = np.array(wear)
    change_ends = [k for k, ev in enumerate(events[1:]) if ev.tool_changed[0]]
    assert len(change_ends) >= 2
    worn_at = [k for k, ev in enumerate(events[1:]) if ev.tool_worn_out[0]]
    # between tool changes wear never decreases, and each change starts at the 0.3 mm limit
    first, second = change_ends[0], change_ends[1]
    assert np.all(np.diff(wear_arr[first + 1 : second + 1]) >= 0)
    assert wear_arr[worn_at[0] + 1] >= 0.3
    assert wear_arr[first + 1] == 0.0
    assert x.tool_changes[0] == len(change_ends)
    # the change takes tool_change_s
    assert (first - worn_at[0]) * 0.5 == pytest.approx(60.0, abs=0.5)
    assert cnc.TOOL_CHANGE in modes


def test_thermal_model_matches_the_analytic_first_order_response() -> None:
    p = _one_machine(power_wear_gain=0.0, base_cycle_s=1e9, tool_change_wear_mm=math.inf)
    x0 = _fresh(p)
    tau = 600.0
    steady_cut = 22.0 + 2.0 * (1.5 + 12.0)

    # from ambient, after one time constant of cutting: 63.2 % of the way (the first
    # second or so of spindle ramp draws less power, hence the small tolerance)
    x, _ = _run(p, x0, tau, arriving=1)
    expected = steady_cut + (22.0 - steady_cut) * math.exp(-1.0)
    assert float(x.temperature_c[0]) == pytest.approx(expected, abs=0.03)

    x, _ = _run(p, x, 15 * tau, dt_s=5.0)
    assert float(x.temperature_c[0]) == pytest.approx(steady_cut, abs=1e-4)

    # stopped, it cools towards the idle steady state; the exact update makes dt irrelevant
    stopped = cnc.apply_command(p, x, 0, "stop")
    coarse, _ = _run(p, stopped, 2 * tau, dt_s=60.0)
    fine, _ = _run(p, stopped, 2 * tau, dt_s=0.5)
    steady_idle = 22.0 + 2.0 * 1.5
    start = float(stopped.temperature_c[0])
    expected = steady_idle + (start - steady_idle) * math.exp(-2.0)
    assert float(coarse.temperature_c[0]) == pytest.approx(expected, abs=1e-9)
    assert float(fine.temperature_c[0]) == pytest.approx(expected, abs=1e-9)
    cold, _ = _run(p, coarse, 20 * tau, dt_s=60.0)
    assert float(cold.temperature_c[0]) == pytest.approx(steady_idle, abs=1e-6)


def test_signals_follow_wear_and_state() -> None:
    p = _one_machine(base_cycle_s=1e9, tool_change_wear_mm=math.inf)
    x, _ = _run(p, _fresh(p), 60.0, arriving=1)
    sharp = cnc.true_outputs(p, x, np.full(1, 100.0))
    worn_state = replace(x, life_used=np.ones(1))
    worn = cnc.true_outputs(p, worn_state, np.full(1, 100.0))
    assert sharp.spindle_speed_rpm[0] == 8000.0
    assert worn.spindle_power_kw[0] == pytest.approx(1.5 + 12.0 * 1.3)
    assert worn.vibration_mm_s[0] == pytest.approx(0.3 + 2.0 + 35.0 * 0.3**1.5)
    assert worn.vibration_mm_s[0] > sharp.vibration_mm_s[0]
    idle = cnc.true_outputs(p, replace(worn_state, mode=np.full(1, cnc.IDLE)), np.full(1, 100.0))
    assert idle.spindle_power_kw[0] == 1.5
    assert idle.vibration_mm_s[0] == 0.3


def test_measurements_add_noise_but_a_standing_spindle_reads_zero() -> None:
    p = _one_machine()
    x = _fresh(p)
    truth = cnc.true_outputs(p, x, np.full(1, 100.0))
    seen = cnc.measure(p, truth, np.full((1, cnc.N_NOISE), 2.0))
    assert seen.spindle_speed_rpm[0] == 0.0
    assert seen.spindle_temperature_c[0] == pytest.approx(22.0 + 2.0 * 0.05)
    assert seen.spindle_power_kw[0] == pytest.approx(1.5 + 2.0 * 0.1)


def test_faults_come_when_the_budget_runs_out_and_are_repaired() -> None:
    # powers of two, so the hazard used up per step sums exactly
    p = _one_machine(base_cycle_s=1e9, mtbf_cutting_s=128.0)
    x = cnc.initialize(p, wear_multiplier=np.ones(1), fault_hazard=np.full(1, 10.0 / 128.0))
    draws = cnc.CncDraws(np.ones(1), np.full(1, 30.0), np.full(1, 10.0))
    u = cnc.CncInputs(np.full(1, 100.0), np.ones(1, np.int64))
    fault_steps = []
    for k in range(200):
        x, ev = cnc.next_state(p, x, u, 0.5, draws)
        u = replace(u, parts_arriving=np.zeros(1, np.int64))
        if ev.fault_occurred[0] or ev.fault_repaired[0]:
            fault_steps.append(k)
    assert fault_steps[0] == 20 - 1  # after 10 s of cutting
    assert (fault_steps[1] - fault_steps[0]) * 0.5 == 30.0  # repair time drawn
    assert x.faults[0] == 1
    assert x.fault_hazard[0] > 9.0
    assert x.has_part[0]  # the interrupted part resumes


# ---------------------------------------------------------------- commands


def test_commands_are_allowed_exactly_in_the_states_of_the_twin_definition(
    cell_type_commands: dict[str, set[str]],
) -> None:
    p = stack_cnc_params([cnc_params()])
    for command in cnc.COMMANDS:
        for mode, name in enumerate(cnc.MODE_NAMES):
            x = replace(_fresh(p), mode=np.full(1, mode))
            if name in cell_type_commands[command]:
                cnc.apply_command(p, x, 0, command)
            else:
                with pytest.raises(CommandRefusedError, match=f"not allowed in state '{name}'"):
                    cnc.apply_command(p, x, 0, command)


def test_a_tool_change_of_a_stopped_machine_leaves_it_stopped() -> None:
    p = _one_machine()
    x = cnc.apply_command(p, cnc.apply_command(p, _fresh(p), 0, "stop"), 0, "change_tool")
    x = replace(x, life_used=np.full(1, 0.7))
    x, _ = _run(p, x, 61.0)
    assert cnc.MODE_NAMES[x.mode[0]] == "stopped"
    assert x.life_used[0] == 0.0
    assert x.tool_changes[0] == 1


def test_reset_clears_a_fault_early() -> None:
    p = _one_machine()
    x = replace(_fresh(p), mode=np.full(1, cnc.FAULT), timer_s=np.full(1, 500.0))
    x = cnc.apply_command(p, x, 0, "reset")
    assert cnc.MODE_NAMES[x.mode[0]] == "idle"


# ---------------------------------------------------------------- conveyor


def test_transit_time_is_belt_length_over_speed() -> None:
    p = ConveyorParams()
    x = replace(conveyor.initialize(), belt_speed_m_s=0.25)
    x = conveyor.load(x, np.array([1, 2]))
    steps = 0
    delivered: list[int] = []
    while not delivered:
        x, d = conveyor.next_state(p, x, 0.25, 0.5)
        delivered = d.tolist()
        steps += 1
    assert steps * 0.5 == pytest.approx(6.0 / 0.25)
    assert delivered == [1, 2]
    assert x.parts_transported == 2


def test_a_stopped_belt_holds_its_parts_and_its_motor_draws_nothing() -> None:
    p = ConveyorParams()
    x = conveyor.apply_command(conveyor.load(conveyor.initialize(), np.array([1])), "stop")
    for _ in range(100):
        x, d = conveyor.next_state(p, x, 0.3, 0.5)
        assert d.size == 0
    assert conveyor.true_outputs(p, x).motor_current_a == 0.0
    with pytest.raises(CommandRefusedError):
        conveyor.apply_command(x, "stop")
    running = conveyor.apply_command(x, "start")
    running, _ = conveyor.next_state(p, running, 0.3, 0.5)
    # current grows with the parts on the belt
    empty = replace(running, part_position_m=np.zeros(0), part_destination=np.zeros(0, np.int64))
    assert conveyor.true_outputs(p, running).motor_current_a == pytest.approx(
        conveyor.true_outputs(p, empty).motor_current_a + p.current_per_part_a
    )


def test_parameters_are_validated_with_a_message_naming_the_field() -> None:
    with pytest.raises(ValueError, match="tool_life_s must be > 0"):
        cnc_params(tool_life_s=0.0)
    with pytest.raises(ValueError, match="idle_power_kw must be >= 0"):
        cnc_params(idle_power_kw=-1.0)
    with pytest.raises(TypeError, match="unknown CNC parameter"):
        cnc_params(tool_lief_s=10.0)
