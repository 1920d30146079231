"""CNC machining centres: pure, fleet-vectorised physics.

Every function here is a pure function of (parameters, state, inputs, dt): the
state is a frozen dataclass of arrays with one element per machine, and random
numbers come in as arguments (:class:`CncDraws`, a noise array) so that the
caller owns the random generator and the physics stays reproducible and testable.

A machine is in one of five modes::

    idle ──part waiting──▶ cutting ──part done──▶ idle
      ▲                      │ VB ≥ limit or change_tool     ┌──────────────┐
      └──── done ◀─── tool_change ◀──────────────────────────┤ stop / start │
    cutting ──random fault──▶ fault ──repaired or reset──▶ idle   stopped ◀┘

A part interrupted by a tool change, fault or stop stays in the machine and is
finished when cutting resumes.

>>> from twinworks.plant.params import CNC_PRESETS, stack_cnc_params
>>> p = stack_cnc_params([CNC_PRESETS["cnc1"]])
>>> x = initialize(p, wear_multiplier=np.ones(1), fault_hazard=np.full(1, np.inf))
>>> u = CncInputs(feed_override_pct=np.full(1, 100.0), parts_arriving=np.ones(1, np.int64))
>>> draws = CncDraws(np.ones(1), np.full(1, 600.0), np.full(1, np.inf))
>>> x, events = next_state(p, x, u, 0.5, draws)
>>> MODE_NAMES[x.mode[0]], int(x.queue_length[0])
('cutting', 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.params import CncParams, FloatArray, IntArray
from twinworks.plant.wear import flank_wear_mm, life_rate_per_s, life_used_at_wear

__all__ = [
    "ALLOWED_MODES",
    "COMMANDS",
    "CUTTING",
    "FAULT",
    "IDLE",
    "MODE_NAMES",
    "N_NOISE",
    "STOPPED",
    "TOOL_CHANGE",
    "BoolArray",
    "CncDraws",
    "CncEvents",
    "CncInputs",
    "CncOutputs",
    "CncState",
    "apply_command",
    "initialize",
    "life_at_tool_change",
    "measure",
    "next_state",
    "remaining_tool_life_s",
    "true_outputs",
]

BoolArray = npt.NDArray[np.bool_]

IDLE, CUTTING, TOOL_CHANGE, FAULT, STOPPED = range(5)
MODE_NAMES: tuple[str, ...] = ("idle", "cutting", "tool_change", "fault", "stopped")

COMMANDS: tuple[str, ...] = ("start", "stop", "change_tool", "reset")
ALLOWED_MODES: Mapping[str, frozenset[int]] = {
    # as the twin definition's allowed_states for the cnc_machine type
    "start": frozenset({STOPPED}),
    "stop": frozenset({IDLE, CUTTING}),
    "change_tool": frozenset({IDLE, CUTTING, STOPPED}),
    "reset": frozenset({FAULT}),
}

N_NOISE = 4
"""Standard normals per machine per step: spindle speed, power, temperature, vibration."""


@dataclass(frozen=True)
class CncState:
    """State of a fleet of machines, one array element per machine."""

    mode: IntArray
    resume_mode: IntArray
    """Mode to return to when a tool change ends (idle, or stopped if it was stopped)."""
    has_part: BoolArray
    """A part is clamped in the machine (being cut, or interrupted)."""
    cycle_progress: FloatArray
    """Fraction of the current part's cutting done, 0..1."""
    life_used: FloatArray
    """Fraction of the tool's Taylor life used (hidden); see :mod:`twinworks.plant.wear`."""
    wear_multiplier: FloatArray
    """The current tool's random wear-rate multiplier (hidden)."""
    spindle_speed_rpm: FloatArray
    temperature_c: FloatArray
    """True spindle temperature."""
    timer_s: FloatArray
    """Time left in a tool change or repair."""
    fault_hazard: FloatArray
    """Cumulative hazard left before the next random fault (hidden; drawn Exp(1), used up
    at 1/MTBF per second of cutting, so a shifted MTBF takes effect at once)."""
    queue_length: IntArray
    part_count: IntArray
    tool_changes: IntArray
    faults: IntArray


@dataclass(frozen=True)
class CncInputs:
    feed_override_pct: FloatArray
    parts_arriving: IntArray
    """Parts put into each machine's input queue at the start of the step."""


@dataclass(frozen=True)
class CncDraws:
    """Random values a step may consume, drawn in advance by the caller.

    Which were consumed is reported in :class:`CncEvents` (``tool_changed`` consumes
    ``next_wear_multiplier``; ``fault_occurred`` consumes the other two).
    """

    next_wear_multiplier: FloatArray
    next_repair_s: FloatArray
    next_fault_hazard: FloatArray


@dataclass(frozen=True)
class CncEvents:
    """What happened during a step, per machine (past tense, as events are named)."""

    part_finished: BoolArray
    tool_worn_out: BoolArray
    """VB reached the tool-change limit; an automatic tool change started."""
    tool_changed: BoolArray
    """A tool change ended; a new tool is in."""
    fault_occurred: BoolArray
    fault_repaired: BoolArray


@dataclass(frozen=True)
class CncOutputs:
    """Noise-free signals: what the sensors would read without noise."""

    spindle_speed_rpm: FloatArray
    spindle_power_kw: FloatArray
    spindle_temperature_c: FloatArray
    vibration_mm_s: FloatArray
    tool_wear_mm: FloatArray


def initialize(
    p: CncParams[FloatArray], *, wear_multiplier: FloatArray, fault_hazard: FloatArray
) -> CncState:
    """Machines idle and cold, with new tools, empty queues and zero counters."""
    n = p.base_cycle_s.shape[0]
    zeros = np.zeros(n)
    izeros = np.zeros(n, dtype=np.int64)
    return CncState(
        mode=np.full(n, IDLE, dtype=np.int64),
        resume_mode=np.full(n, IDLE, dtype=np.int64),
        has_part=np.zeros(n, dtype=np.bool_),
        cycle_progress=zeros,
        life_used=zeros,
        wear_multiplier=np.asarray(wear_multiplier, dtype=np.float64),
        spindle_speed_rpm=zeros,
        temperature_c=p.ambient_temperature_c.copy(),
        timer_s=zeros,
        fault_hazard=np.asarray(fault_hazard, dtype=np.float64),
        queue_length=izeros,
        part_count=izeros,
        tool_changes=izeros,
        faults=izeros,
    )


def true_outputs(
    p: CncParams[FloatArray], x: CncState, feed_override_pct: FloatArray
) -> CncOutputs:
    """Noise-free spindle power, vibration and tool wear of the machines in state ``x``."""
    vb = flank_wear_mm(x.life_used, p.wear_reference_mm)
    cutting = x.mode == CUTTING
    # cutting load builds up with the spindle, so power and vibration follow the ramp
    engaged = np.where(cutting, np.minimum(x.spindle_speed_rpm / p.spindle_speed_rpm, 1.0), 0.0)
    feed = feed_override_pct / 100.0
    power = p.idle_power_kw + engaged * p.cutting_power_kw * feed * (
        1.0 + p.power_wear_gain * vb / p.wear_reference_mm
    )
    vibration = p.idle_vibration_mm_s + engaged * (
        p.cutting_vibration_mm_s * feed + p.vibration_wear_gain_mm_s * vb**1.5
    )
    return CncOutputs(
        spindle_speed_rpm=x.spindle_speed_rpm,
        spindle_power_kw=power,
        spindle_temperature_c=x.temperature_c,
        vibration_mm_s=vibration,
        tool_wear_mm=vb,
    )


def next_state(
    p: CncParams[FloatArray],
    x: CncState,
    u: CncInputs,
    dt_s: float,
    draws: CncDraws,
) -> tuple[CncState, CncEvents]:
    """Advance every machine by ``dt_s`` seconds."""
    feed = np.maximum(u.feed_override_pct, 0.0)

    # 1. parts arrive; idle machines with a part to cut start cutting
    queue = x.queue_length + u.parts_arriving
    starts = (x.mode == IDLE) & (x.has_part | (queue > 0))
    loads = starts & ~x.has_part
    queue = queue - loads
    has_part = x.has_part | loads
    progress = np.where(loads, 0.0, x.cycle_progress)
    mode = np.where(starts, CUTTING, x.mode)
    cutting = mode == CUTTING

    # 2. spindle ramps towards its speed while cutting, to standstill otherwise
    target = np.where(cutting, p.spindle_speed_rpm, 0.0)
    max_delta = p.spindle_ramp_rpm_per_s * dt_s
    # (np.minimum/np.maximum rather than np.clip: this runs millions of times on tiny arrays)
    speed = x.spindle_speed_rpm + np.maximum(
        np.minimum(target - x.spindle_speed_rpm, max_delta), -max_delta
    )

    # 3. heat: first-order response to the power drawn during the step; the exact
    #    exponential update keeps the steady state right for any step size
    power = true_outputs(p, replace(x, mode=mode), feed).spindle_power_kw
    steady_c = p.ambient_temperature_c + p.thermal_resistance_c_per_kw * power
    decay = np.exp(-dt_s / p.thermal_time_constant_s)
    temperature = steady_c + (x.temperature_c - steady_c) * decay

    # 4. cutting advances the part, wears the tool and uses up fault hazard
    rate = life_rate_per_s(
        p.tool_life_s,
        speed,
        p.reference_spindle_speed_rpm,
        feed,
        p.taylor_n,
        p.taylor_feed_exponent,
        x.wear_multiplier,
    )
    life_used = np.where(cutting, x.life_used + rate * dt_s, x.life_used)
    progress = np.where(cutting, progress + dt_s * (feed / 100.0) / p.base_cycle_s, progress)
    hazard = np.where(cutting, x.fault_hazard - dt_s / p.mtbf_cutting_s, x.fault_hazard)
    in_timer = (mode == TOOL_CHANGE) | (mode == FAULT)
    timer = np.where(in_timer, x.timer_s - dt_s, x.timer_s)

    # 5. what the step ended with
    finished = cutting & (progress >= 1.0)
    has_part = has_part & ~finished
    progress = np.where(finished, 0.0, progress)
    worn = cutting & (flank_wear_mm(life_used, p.wear_reference_mm) >= p.tool_change_wear_mm)
    faulted = cutting & ~worn & (hazard <= 0.0)
    change_done = (mode == TOOL_CHANGE) & (timer <= 0.0)
    repaired = (mode == FAULT) & (timer <= 0.0)

    mode = np.where(finished, IDLE, mode)
    mode = np.where(worn, TOOL_CHANGE, mode)
    mode = np.where(faulted, FAULT, mode)
    mode = np.where(change_done, x.resume_mode, mode)
    mode = np.where(repaired, IDLE, mode)
    timer = np.where(worn, p.tool_change_s, timer)
    timer = np.where(faulted, draws.next_repair_s, timer)
    timer = np.where(change_done | repaired, 0.0, timer)
    resume_mode = np.where(worn, IDLE, x.resume_mode)
    hazard = np.where(faulted, draws.next_fault_hazard, hazard)

    state = CncState(
        mode=mode,
        resume_mode=resume_mode,
        has_part=has_part,
        cycle_progress=progress,
        life_used=np.where(change_done, 0.0, life_used),
        wear_multiplier=np.where(change_done, draws.next_wear_multiplier, x.wear_multiplier),
        spindle_speed_rpm=speed,
        temperature_c=temperature,
        timer_s=timer,
        fault_hazard=hazard,
        queue_length=queue,
        part_count=x.part_count + finished,
        tool_changes=x.tool_changes + change_done,
        faults=x.faults + faulted,
    )
    events = CncEvents(
        part_finished=finished,
        tool_worn_out=worn,
        tool_changed=change_done,
        fault_occurred=faulted,
        fault_repaired=repaired,
    )
    return state, events


def measure(p: CncParams[FloatArray], truth: CncOutputs, noise: FloatArray) -> CncOutputs:
    """Sensor readings: the true signals plus Gaussian noise (``noise``: n × N_NOISE normals).

    Readings of non-negative quantities are clipped at zero, and a spindle at
    standstill reads exactly zero, as an encoder does.
    """
    speed = np.where(
        truth.spindle_speed_rpm > 0.0,
        np.maximum(truth.spindle_speed_rpm + p.spindle_speed_noise_rpm * noise[:, 0], 0.0),
        0.0,
    )
    return CncOutputs(
        spindle_speed_rpm=speed,
        spindle_power_kw=np.maximum(
            truth.spindle_power_kw + p.spindle_power_noise_kw * noise[:, 1], 0.0
        ),
        spindle_temperature_c=truth.spindle_temperature_c + p.temperature_noise_c * noise[:, 2],
        vibration_mm_s=np.maximum(truth.vibration_mm_s + p.vibration_noise_mm_s * noise[:, 3], 0.0),
        tool_wear_mm=truth.tool_wear_mm,
    )


def apply_command(
    p: CncParams[FloatArray], x: CncState, index: int, command: str, twin_id: str = "cnc"
) -> CncState:
    """The state after ``command`` is given to machine ``index``.

    Raises :class:`CommandRefusedError` if the machine's mode does not allow it,
    and ``ValueError`` for a command that does not exist.
    """
    if command not in ALLOWED_MODES:
        raise ValueError(f"unknown CNC command {command!r}; known: {', '.join(COMMANDS)}")
    current = int(x.mode[index])
    allowed = ALLOWED_MODES[command]
    if current not in allowed:
        names = [MODE_NAMES[m] for m in sorted(allowed)]
        raise CommandRefusedError(twin_id, command, MODE_NAMES[current], names)

    mode = x.mode.copy()
    timer = x.timer_s.copy()
    resume = x.resume_mode.copy()
    if command == "start":
        mode[index] = IDLE
    elif command == "stop":
        mode[index] = STOPPED
    elif command == "change_tool":
        mode[index] = TOOL_CHANGE
        timer[index] = p.tool_change_s[index]
        # an operator who stopped the machine expects it to stay stopped afterwards
        resume[index] = STOPPED if current == STOPPED else IDLE
    else:  # reset: the fault is cleared early, the repair is over
        mode[index] = IDLE
        timer[index] = 0.0
    return replace(x, mode=mode, timer_s=timer, resume_mode=resume)


def life_at_tool_change(p: CncParams[FloatArray]) -> FloatArray:
    """Life fraction at which each machine's tool reaches its tool-change wear limit."""
    return life_used_at_wear(p.tool_change_wear_mm, p.wear_reference_mm)


def remaining_tool_life_s(
    p: CncParams[FloatArray],
    x: CncState,
    feed_override_pct: FloatArray,
    life_at_limit: FloatArray | None = None,
) -> FloatArray:
    """Ground-truth remaining useful life of each tool: cutting seconds until VB reaches the
    tool-change limit, if cutting continues at this feed override and the nominal spindle speed.

    ``life_at_limit`` is :func:`life_at_tool_change` (pass it in to skip recomputing it).
    """
    if life_at_limit is None:
        life_at_limit = life_at_tool_change(p)
    rate = life_rate_per_s(
        p.tool_life_s,
        p.spindle_speed_rpm,
        p.reference_spindle_speed_rpm,
        feed_override_pct,
        p.taylor_n,
        p.taylor_feed_exponent,
        x.wear_multiplier,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        remaining = np.maximum(life_at_limit - x.life_used, 0.0) / rate
    return np.where(rate > 0.0, remaining, np.inf)
