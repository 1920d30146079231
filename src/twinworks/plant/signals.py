"""The signals the plant reports, with their types and units: one catalogue that the
in-process cell (``measurements()``, ``truth()``) and the OPC UA address space share.

Telemetry names and units are those of the demo cell's twin definition
(``examples/machining_cell.yaml``); truth signals are hidden from the twins and
exist for tests that score estimators and prognostics against the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CELL_ID",
    "CELL_TELEMETRY",
    "CNC_TELEMETRY",
    "CNC_TRUTH",
    "CONVEYOR_ID",
    "CONVEYOR_TELEMETRY",
    "CONVEYOR_TRUTH",
    "MACHINE_IDS",
    "Signal",
]

MACHINE_IDS: tuple[str, ...] = ("cnc1", "cnc2", "cnc3")
CONVEYOR_ID = "conveyor1"
CELL_ID = "cell1"


@dataclass(frozen=True)
class Signal:
    name: str
    dtype: Literal["float", "int", "bool", "string"]
    unit: str | None
    description: str


CNC_TELEMETRY: tuple[Signal, ...] = (
    Signal("state", "string", None, "idle, cutting, tool_change, fault or stopped"),
    Signal("spindle_speed", "float", "rpm", "spindle speed"),
    Signal("spindle_power", "float", "kW", "spindle drive power"),
    Signal("spindle_temperature", "float", "degC", "spindle bearing temperature"),
    Signal("vibration", "float", "mm/s", "RMS vibration velocity at the spindle"),
    Signal("feed_override", "float", "percent", "feed-rate override; writable, 50..120"),
    Signal("part_count", "int", None, "parts finished since start"),
    Signal("tool_changes", "int", None, "tools changed since start"),
    Signal("queue_length", "int", None, "parts waiting in the input buffer"),
)

CONVEYOR_TELEMETRY: tuple[Signal, ...] = (
    Signal("state", "string", None, "running or stopped"),
    Signal("belt_speed", "float", "m/s", "measured belt speed"),
    Signal("motor_current", "float", "A", "belt motor current"),
    Signal("parts_on_belt", "int", None, "parts riding on the belt"),
    Signal("parts_transported", "int", None, "parts delivered since start"),
)

CELL_TELEMETRY: tuple[Signal, ...] = (
    Signal("parts_completed", "int", None, "parts that left the cell finished"),
    Signal("wip", "int", None, "parts inside the cell"),
    Signal("throughput", "float", "1/hour", "parts finished over the last hour"),
)

CNC_TRUTH: tuple[Signal, ...] = (
    Signal("tool_wear", "float", "mm", "flank wear VB of the tool in the spindle"),
    Signal("tool_life_used", "float", None, "fraction of the tool's Taylor life used"),
    Signal("wear_multiplier", "float", None, "this tool's random wear-rate multiplier"),
    Signal(
        "tool_rul",
        "float",
        "s",
        "cutting time until VB reaches the tool-change limit at the current feed",
    ),
    Signal("fault_active", "bool", None, "the machine is down with a fault"),
    Signal("time_to_repair", "float", "s", "time until the current fault is repaired, else 0"),
    Signal("time_to_fault", "float", "s", "cutting time until the next random fault"),
    Signal("part_in_machine", "bool", None, "a part is clamped in the machine"),
    Signal("cycle_progress", "float", None, "fraction of the current part's cutting done"),
    Signal("spindle_speed", "float", "rpm", "noise-free spindle speed"),
    Signal("spindle_power", "float", "kW", "noise-free spindle power"),
    Signal("spindle_temperature", "float", "degC", "noise-free spindle temperature"),
    Signal("vibration", "float", "mm/s", "noise-free RMS vibration velocity"),
    Signal("faults", "int", None, "faults since start"),
)

CONVEYOR_TRUTH: tuple[Signal, ...] = (
    Signal("belt_speed", "float", "m/s", "noise-free belt speed"),
    Signal("motor_current", "float", "A", "noise-free motor current"),
)
