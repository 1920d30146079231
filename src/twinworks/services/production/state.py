"""The line's state at the fork, read from the twins' views.

What each twin reports becomes the simulation's starting point:

- a station's ``queue_length`` → that many parts waiting in its buffer;
- its ``state`` → busy (``cutting``), in setup (``tool_change``), down (``fault``),
  stopped or idle; a part being cut has a remaining time drawn at random;
- its ``feed_override`` → the speed it runs at;
- a conveyor's ``parts_on_belt`` → parts riding to the next station;
- derived values of the health services, when present (under ``virtual``):
  ``*.tool_wear`` (0–1) → the tool's wear, ``*.rul`` / ``*.rul_s`` with ``.std`` →
  the predicted time to failure (seconds), which replaces the first random one.

Anything missing is left at its nominal value, and the notes say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from twinworks.services.line.model import LineModel
from twinworks.services.line.state import LineState, StationState

__all__ = ["STATE_OF", "state_from_runtime", "state_from_views"]

# the machines' own 'state' values → what the simulation does with them
STATE_OF = {
    "cutting": "busy",
    "running": "busy",
    "busy": "busy",
    "tool_change": "setup",
    "setup": "setup",
    "fault": "down",
    "down": "down",
    "stopped": "stopped",
    "idle": "idle",
}


def _reported(view: Mapping[str, Any], name: str) -> Any:
    item = view.get("reported", {}).get(name)
    return item.get("value") if isinstance(item, Mapping) else None


def _virtual(view: Mapping[str, Any], suffixes: tuple[str, ...]) -> tuple[str, float] | None:
    for name, item in sorted(view.get("virtual", {}).items()):
        value = item.get("value") if isinstance(item, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            for suffix in suffixes:
                if name == suffix or name.endswith("." + suffix):
                    return name, float(value)
    return None


def state_from_views(
    line: LineModel, views: Mapping[str, Mapping[str, Any]], origin: float | None = None
) -> LineState:
    """The fork state from twin views (as ``Runtime.twin_view`` or ``GET /twins/{id}`` give)."""
    state = LineState(origin=time.time() if origin is None else origin)
    for sid in line.stations:
        view = views.get(sid)
        ss = StationState()
        state.stations[sid] = ss
        if view is None:
            state.notes.append(f"{sid}: no twin view; starts empty and idle")
            continue
        queue = _reported(view, "queue_length")
        if isinstance(queue, int | float) and queue >= 0:
            ss.queue = [None] * int(queue)
        raw = _reported(view, "state")
        if raw is not None:
            ss.state = STATE_OF.get(str(raw), "idle")
            if ss.state == "stopped":
                state.notes.append(
                    f"{sid} is stopped; the simulation assumes it is restarted at the fork"
                )
        if view.get("status") in ("stale", "disconnected", "offline"):
            state.notes.append(f"{sid}: twin is {view.get('status')}; its last values are used")
        signal = line.stations[sid].feed_signal
        if signal:
            feed = _reported(view, signal)
            if isinstance(feed, int | float) and feed > 0:
                ss.feed = float(feed)
        wear = _virtual(view, ("tool_wear",))
        if wear is not None:
            ss.tool_wear = min(1.0, max(0.0, wear[1]))
            state.notes.append(f"{sid}: tool wear {ss.tool_wear:.2f} from {wear[0]}")
        rul = _virtual(view, ("rul", "rul_s"))
        if rul is not None and rul[1] >= 0:
            std = _virtual(view, (rul[0].split(".")[-1] + ".std",))
            ss.failure_time = (rul[1], std[1] if std else 0.0)
            state.notes.append(f"{sid}: first failure drawn from {rul[0]} = {rul[1]:.0f} s")
    for cid in line.transports:
        view = views.get(cid)
        if view is None:
            continue
        count = _reported(view, "parts_on_belt")
        if isinstance(count, int | float) and count > 0:
            state.on_transport[cid] = int(count)
    return state


def state_from_runtime(line: LineModel, twin_view: Callable[[str], Mapping[str, Any]]) -> LineState:
    """The fork state from a running runtime (pass ``runtime.twin_view``)."""
    views = {}
    for twin_id in [*line.stations, *line.transports]:
        try:
            views[twin_id] = twin_view(twin_id)
        except Exception:  # a twin the runtime does not know: it simply starts nominal
            continue
    return state_from_views(line, views)
