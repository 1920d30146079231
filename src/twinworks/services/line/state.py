"""The line at a moment: what the twins report of each station, where the parts are.

What-if simulation starts from it (a fork of the live line) and scheduling plans
from it, so it lives beside the line model that both read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LineState", "StationState"]


@dataclass
class StationState:
    """A station as the twins report it at the fork."""

    queue: list[str | None] = field(default_factory=list)  # products; None: drawn from the mix
    state: str = "idle"  # idle | busy | setup | down | stopped
    tool_wear: float | None = None  # 0 new .. 1 worn out
    failure_time: tuple[float, float] | None = None  # predicted (mean, std) s from now (RUL)
    feed: float | None = None  # percent
    family: str | None = None  # the family the machine is set up for


@dataclass
class LineState:
    """The whole line at the fork: where the parts are and what each machine does."""

    origin: float = 0.0  # wall-clock time of the fork, s since the epoch
    stations: dict[str, StationState] = field(default_factory=dict)
    on_transport: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
