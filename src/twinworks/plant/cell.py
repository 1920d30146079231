"""The machining cell: three CNC machines in a line joined by a conveyor, in virtual time.

The cell owns the random generators and the part flow; the physics of machines
and belt are the pure functions of :mod:`twinworks.plant.cnc` and
:mod:`twinworks.plant.conveyor`. It knows nothing about wall-clock time or OPC
UA, so tests, replays and what-if runs use it directly:

>>> cell = MachiningCell(seed=1)
>>> cell.run_until(3600.0)
7200
>>> cell.measurements()["cell1"]
{'parts_completed': 21, 'wip': 12, 'throughput': 21.0}
>>> round(cell.truth()["cnc2"]["tool_wear"], 3)  # hidden: flank wear VB, mm
0.116

Randomness comes from independent streams (one for sensor noise, and per machine
one each for tools, faults and repairs), so the k-th tool of cnc2 has the same
wear multiplier whatever feed cnc1 runs at: runs with one seed are comparable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace

import numpy as np

from twinworks.errors import RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.plant import cnc, conveyor
from twinworks.plant.params import (
    CNC_PRESETS,
    CellParams,
    CncParams,
    ConveyorParams,
    IntArray,
    stack_cnc_params,
)
from twinworks.plant.signals import CELL_ID, CONVEYOR_ID, MACHINE_IDS

__all__ = ["MachiningCell", "PlantEvent", "Reading"]

Reading = float | int | bool | str
"""One signal value as sensors report it."""

# where each machine's finished parts go: the index of the next machine (by conveyor),
# or None for parts that leave the cell
_ROUTE: tuple[int | None, ...] = (1, 2, None)


@dataclass(frozen=True)
class PlantEvent:
    """Something that happened in the plant, named in the past tense."""

    time_s: float
    twin_id: str
    name: str
    """PartFinished, ToolWornOut, ToolChanged, FaultOccurred or FaultRepaired."""


_EVENT_NAMES = {
    "part_finished": "PartFinished",
    "tool_worn_out": "ToolWornOut",
    "tool_changed": "ToolChanged",
    "fault_occurred": "FaultOccurred",
    "fault_repaired": "FaultRepaired",
}


class MachiningCell:
    """A simulated machining cell with a hidden ground truth.

    ``seed`` makes every trajectory reproducible; ``machines`` overrides the
    parameters of some machines (by twin id, default :data:`CNC_PRESETS`);
    ``start_time_s`` is the simulation time (POSIX seconds) at construction.
    """

    machine_ids: tuple[str, ...] = MACHINE_IDS
    conveyor_id: str = CONVEYOR_ID
    cell_id: str = CELL_ID

    def __init__(
        self,
        seed: int = 0,
        *,
        params: CellParams | None = None,
        machines: Mapping[str, CncParams[float]] | None = None,
        conveyor_params: ConveyorParams | None = None,
        start_time_s: float = 0.0,
    ) -> None:
        self.seed = seed
        self.params = params or CellParams()
        self.start_time_s = float(start_time_s)
        unknown = sorted(set(machines or {}) - set(MACHINE_IDS))
        if unknown:
            raise UnknownTwinError(unknown[0])
        self._machine_params: dict[str, CncParams[float]] = {
            mid: (machines or {}).get(mid, CNC_PRESETS[mid]) for mid in MACHINE_IDS
        }
        self._set_fleet()
        self._conveyor_params = conveyor_params or ConveyorParams()
        n = len(MACHINE_IDS)

        sensor_seq, *machine_seqs = np.random.SeedSequence(seed).spawn(1 + n)
        self._sensor_rng = np.random.default_rng(sensor_seq)
        streams = [seq.spawn(3) for seq in machine_seqs]
        self._tool_rngs = [np.random.default_rng(s[0]) for s in streams]
        self._fault_rngs = [np.random.default_rng(s[1]) for s in streams]
        self._repair_rngs = [np.random.default_rng(s[2]) for s in streams]

        # standard variates, scaled by the current parameters when used, so that a
        # parameter shift also applies to the next tool and the next fault
        first_tool_z = np.array([rng.standard_normal() for rng in self._tool_rngs])
        first_fault_e = np.array([rng.standard_exponential() for rng in self._fault_rngs])
        self._tool_z = np.array([rng.standard_normal() for rng in self._tool_rngs])
        self._fault_e = np.array([rng.standard_exponential() for rng in self._fault_rngs])
        self._repair_z = np.array([rng.standard_normal() for rng in self._repair_rngs])

        self._cnc = cnc.initialize(
            self._fleet,
            wear_multiplier=np.exp(self._fleet.wear_multiplier_sigma * first_tool_z),
            fault_hazard=first_fault_e,
        )
        self._belt = conveyor.initialize(running=True)
        self._feed_pct = np.full(n, self.params.initial_feed_override_pct)
        self._belt_setpoint_m_s = self.params.initial_belt_speed_m_s
        self._parts_completed = 0
        self._completion_times_s: deque[float] = deque()
        self._steps = 0
        self._odd_elapsed_s = 0.0  # time from steps of a size other than params.step_s
        self._draw_noise()

    # ------------------------------------------------------------------ time
    @property
    def time_s(self) -> float:
        """Current simulation time, seconds (POSIX seconds when run by the server)."""
        # multiplying, not summing, keeps fixed-step times exact over millions of steps
        return self.start_time_s + self._steps * self.params.step_s + self._odd_elapsed_s

    def step(self, dt_s: float | None = None) -> list[PlantEvent]:
        """Advance by one step of ``dt_s`` seconds (default: the fixed step)."""
        fixed = dt_s is None or dt_s == self.params.step_s
        dt = self.params.step_s if dt_s is None else float(dt_s)
        if not dt > 0:
            raise ValueError(f"a step must move time forward, got dt_s={dt_s!r}")
        n = len(MACHINE_IDS)

        self._belt, delivered = conveyor.next_state(
            self._conveyor_params, self._belt, self._belt_setpoint_m_s, dt
        )
        arriving = np.bincount(delivered, minlength=n).astype(np.int64)
        arriving[0] += self._raw_parts_released(arriving)

        self._cnc, events = cnc.next_state(
            self._fleet,
            self._cnc,
            cnc.CncInputs(feed_override_pct=self._feed_pct.copy(), parts_arriving=arriving),
            dt,
            self._draws(),
        )
        if fixed:
            self._steps += 1
        else:
            self._odd_elapsed_s += dt
        now = self.time_s

        happened = bool(
            (
                events.part_finished
                | events.tool_worn_out
                | events.tool_changed
                | events.fault_occurred
                | events.fault_repaired
            ).any()
        )
        if happened:
            self._route_and_redraw(events, now)
        window_start = now - self.params.throughput_window_s
        while self._completion_times_s and self._completion_times_s[0] <= window_start:
            self._completion_times_s.popleft()
        self._draw_noise()
        if not happened:
            return []
        return [
            PlantEvent(now, MACHINE_IDS[i], name)
            for field, name in _EVENT_NAMES.items()
            for i in np.flatnonzero(getattr(events, field))
        ]

    def _route_and_redraw(self, events: cnc.CncEvents, now: float) -> None:
        """Route finished parts and draw the random numbers the step used up."""
        for i in np.flatnonzero(events.part_finished):
            target = _ROUTE[i]
            if target is None:
                self._parts_completed += 1
                self._completion_times_s.append(now)
            else:
                self._belt = conveyor.load(self._belt, np.array([target], dtype=np.int64))
        for i in np.flatnonzero(events.tool_changed):
            self._tool_z[i] = self._tool_rngs[i].standard_normal()
        for i in np.flatnonzero(events.fault_occurred):
            self._fault_e[i] = self._fault_rngs[i].standard_exponential()
            self._repair_z[i] = self._repair_rngs[i].standard_normal()

    def run_until(
        self, t_s: float, on_step: Callable[[list[PlantEvent]], None] | None = None
    ) -> int:
        """Take fixed steps while the next one ends at or before ``t_s``; returns how many.

        ``on_step`` is called after every step with that step's events.
        """
        step_s = self.params.step_s
        taken = 0
        # 1 µs of slack so that float rounding of t_s cannot drop a step; it is above the
        # resolution of POSIX-time floats (0.24 µs) and far below any sensible step
        while self.time_s + step_s <= t_s + 1e-6:
            events = self.step()
            taken += 1
            if on_step is not None:
                on_step(events)
        return taken

    def advance(self, duration_s: float) -> int:
        """Run for ``duration_s`` seconds of simulation time; returns the number of steps."""
        return self.run_until(self.time_s + duration_s)

    # ------------------------------------------------------------ what is seen
    def measurements(self) -> dict[str, dict[str, Reading]]:
        """What the sensors report now, by twin id and signal name (as in the definition)."""
        truth = cnc.true_outputs(self._fleet, self._cnc, self._feed_pct)
        seen = cnc.measure(self._fleet, truth, self._cnc_noise)
        x = self._cnc
        result: dict[str, dict[str, Reading]] = {}
        for i, mid in enumerate(MACHINE_IDS):
            result[mid] = {
                "state": cnc.MODE_NAMES[int(x.mode[i])],
                "spindle_speed": float(seen.spindle_speed_rpm[i]),
                "spindle_power": float(seen.spindle_power_kw[i]),
                "spindle_temperature": float(seen.spindle_temperature_c[i]),
                "vibration": float(seen.vibration_mm_s[i]),
                "feed_override": float(self._feed_pct[i]),
                "part_count": int(x.part_count[i]),
                "tool_changes": int(x.tool_changes[i]),
                "queue_length": int(x.queue_length[i]),
            }
        belt = conveyor.measure(
            self._conveyor_params,
            conveyor.true_outputs(self._conveyor_params, self._belt),
            self._belt_noise,
        )
        result[CONVEYOR_ID] = {
            "state": conveyor.state_name(self._belt),
            "belt_speed": belt.belt_speed_m_s,
            "motor_current": belt.motor_current_a,
            "parts_on_belt": int(self._belt.part_position_m.size),
            "parts_transported": self._belt.parts_transported,
        }
        result[CELL_ID] = {
            "parts_completed": self._parts_completed,
            "wip": self.wip,
            "throughput": self.throughput_per_hour,
        }
        return result

    def truth(self) -> dict[str, dict[str, Reading]]:
        """The hidden ground truth, by twin id; see :data:`twinworks.plant.signals.CNC_TRUTH`."""
        x = self._cnc
        true = cnc.true_outputs(self._fleet, x, self._feed_pct)
        rul = cnc.remaining_tool_life_s(self._fleet, x, self._feed_pct, self._life_at_limit)
        result: dict[str, dict[str, Reading]] = {}
        for i, mid in enumerate(MACHINE_IDS):
            in_fault = int(x.mode[i]) == cnc.FAULT
            result[mid] = {
                "state": cnc.MODE_NAMES[int(x.mode[i])],
                "tool_wear": float(true.tool_wear_mm[i]),
                "tool_life_used": float(x.life_used[i]),
                "wear_multiplier": float(x.wear_multiplier[i]),
                "tool_rul": float(rul[i]),
                "fault_active": in_fault,
                "time_to_repair": float(x.timer_s[i]) if in_fault else 0.0,
                "time_to_fault": float(x.fault_hazard[i] * self._fleet.mtbf_cutting_s[i]),
                "part_in_machine": bool(x.has_part[i]),
                "cycle_progress": float(x.cycle_progress[i]),
                "spindle_speed": float(true.spindle_speed_rpm[i]),
                "spindle_power": float(true.spindle_power_kw[i]),
                "spindle_temperature": float(true.spindle_temperature_c[i]),
                "vibration": float(true.vibration_mm_s[i]),
                "faults": int(x.faults[i]),
            }
        belt = conveyor.true_outputs(self._conveyor_params, self._belt)
        result[CONVEYOR_ID] = {
            "belt_speed": belt.belt_speed_m_s,
            "motor_current": belt.motor_current_a,
        }
        return result

    @property
    def wip(self) -> int:
        """Parts inside the cell: queued, clamped in a machine, or on the belt."""
        x = self._cnc
        return int(x.queue_length.sum() + x.has_part.sum() + self._belt.part_position_m.size)

    @property
    def throughput_per_hour(self) -> float:
        """Parts finished over the last throughput window, per hour."""
        return len(self._completion_times_s) * 3600.0 / self.params.throughput_window_s

    # ------------------------------------------------------------- commanding
    def command(self, twin_id: str, command: str) -> None:
        """Give a command (``start``, ``stop``, ``change_tool``, ``reset``; conveyor:
        ``start``, ``stop``). Raises :class:`~twinworks.plant.errors.CommandRefusedError`
        if the asset's state does not allow it."""
        if twin_id == CONVEYOR_ID:
            if command not in conveyor.COMMANDS:
                raise UnknownSignalError(twin_id, "command", command, list(conveyor.COMMANDS))
            self._belt = conveyor.apply_command(self._belt, command, twin_id)
            return
        i = self._machine_index(twin_id)
        if command not in cnc.COMMANDS:
            raise UnknownSignalError(twin_id, "command", command, list(cnc.COMMANDS))
        self._cnc = cnc.apply_command(self._fleet, self._cnc, i, command, twin_id)

    def feed_override(self, machine_id: str) -> float:
        """A machine's feed override, percent."""
        return float(self._feed_pct[self._machine_index(machine_id)])

    def set_feed_override(self, machine_id: str, percent: float) -> None:
        """Set a machine's feed override; out-of-range values are refused, not clamped."""
        i = self._machine_index(machine_id)
        p = self.params
        _check_range(
            f"{machine_id}.feed_override",
            percent,
            p.min_feed_override_pct,
            p.max_feed_override_pct,
            "%",
        )
        self._feed_pct[i] = float(percent)

    @property
    def belt_speed_setpoint_m_s(self) -> float:
        return self._belt_setpoint_m_s

    def set_belt_speed_setpoint(self, m_s: float) -> None:
        """Set the conveyor's desired belt speed; out-of-range values are refused."""
        p = self._conveyor_params
        _check_range(
            f"{CONVEYOR_ID}.belt_speed_setpoint", m_s, p.min_setpoint_m_s, p.max_setpoint_m_s, "m/s"
        )
        self._belt_setpoint_m_s = float(m_s)

    # ------------------------------------------------------------------ drift
    def parameters(self, twin_id: str) -> CncParams[float] | ConveyorParams:
        """The current physical parameters of a machine or the conveyor."""
        if twin_id == CONVEYOR_ID:
            return self._conveyor_params
        return self._machine_params[MACHINE_IDS[self._machine_index(twin_id)]]

    def shift_parameters(self, twin_id: str, **changes: float) -> None:
        """Change physical parameters from now on, to simulate drift or a changed process.

        >>> cell = MachiningCell(seed=1)
        >>> cell.shift_parameters("cnc2", tool_life_s=600.0)
        >>> cell.parameters("cnc2").tool_life_s
        600.0
        """
        current = self.parameters(twin_id)
        known = [f.name for f in fields(current)]
        for name in changes:
            if name not in known:
                raise UnknownSignalError(twin_id, "parameter", name, known)
        values = {name: float(v) for name, v in changes.items()}
        if isinstance(current, ConveyorParams):
            self._conveyor_params = replace(current, **values)
            return
        self._machine_params[twin_id] = replace(current, **values)
        self._set_fleet()

    # --------------------------------------------------------------- internals
    def _set_fleet(self) -> None:
        self._fleet = stack_cnc_params(list(self._machine_params.values()))
        self._life_at_limit = cnc.life_at_tool_change(self._fleet)

    def _machine_index(self, twin_id: str) -> int:
        try:
            return MACHINE_IDS.index(twin_id)
        except ValueError:
            if twin_id in (CONVEYOR_ID, CELL_ID):
                raise ValueError(
                    f"{twin_id!r} is not a CNC machine; machines: {', '.join(MACHINE_IDS)}"
                ) from None
            raise UnknownTwinError(twin_id) from None

    def _raw_parts_released(self, arriving: IntArray) -> int:
        """Raw parts fed to cnc1: up to its queue cap, as long as the cell is under its
        WIP limit (parts delivered this step are still counted, they are in the cell)."""
        p = self.params
        x = self._cnc
        wip = self.wip + int(arriving.sum())
        room_in_queue = p.raw_queue_cap - int(x.queue_length[0])
        return max(0, min(room_in_queue, p.wip_limit - wip))

    def _draws(self) -> cnc.CncDraws:
        f = self._fleet
        return cnc.CncDraws(
            next_wear_multiplier=np.exp(f.wear_multiplier_sigma * self._tool_z),
            # lognormal with the given mean
            next_repair_s=f.mean_repair_s
            * np.exp(f.repair_sigma * self._repair_z - 0.5 * f.repair_sigma**2),
            next_fault_hazard=self._fault_e.copy(),
        )

    def _draw_noise(self) -> None:
        n = len(MACHINE_IDS)
        noise = self._sensor_rng.standard_normal(n * cnc.N_NOISE + conveyor.N_NOISE)
        self._cnc_noise = noise[: n * cnc.N_NOISE].reshape(n, cnc.N_NOISE)
        self._belt_noise = noise[n * cnc.N_NOISE :]

    def __repr__(self) -> str:
        return f"MachiningCell(seed={self.seed!r}, time_s={self.time_s!r})"


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    if not (isinstance(value, int | float) and low <= value <= high):
        raise RejectedValueError(
            "out_of_range",
            f"{name} = {value!r} is outside {low:g}..{high:g} {unit}; nothing changed",
        )
