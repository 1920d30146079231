"""Terminal rendering: the live status lines of the demo and tables of twins."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text

from twinworks.spec.units import unit_label

__all__ = ["STATUS_STYLE", "format_value", "status_line", "status_table"]

STATUS_STYLE = {
    "running": "bold green",
    "idle": "cyan",
    "setup": "yellow",
    "stopped": "yellow",
    "fault": "bold red",
    "alarm": "bold red",
    "stale": "magenta",
    "disconnected": "bold magenta",
    "offline": "dim",
    "virtual": "blue",
}

# signals worth a place on a one-line status, in this order, when a twin has them
_HEADLINE = (
    "state",
    "spindle_temperature",
    "vibration",
    "spindle_power",
    "feed_override",
    "part_count",
    "belt_speed",
    "parts_on_belt",
    "parts_completed",
    "throughput",
    "wip",
)


def format_value(value: Any, unit: str | None = None) -> str:
    """A value for people: three significant digits and its unit (``12 m³/h``)."""
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    else:
        text = str(value)
    label = unit_label(unit)
    return f"{text} {label}" if label else text


def _signals(twin: dict[str, Any], limit: int = 6) -> str:
    reported = twin.get("reported", {})
    # a signal its source marks bad or uncertain comes first and says so: a failed sensor
    # must not pass for a healthy value that stopped changing
    names = [n for n in sorted(reported) if reported[n].get("quality") in ("bad", "uncertain")]
    names += [n for n in _HEADLINE if n in reported and n != "state" and n not in names]
    names += [n for n in sorted(reported) if n not in names and n != "state"]
    parts = []
    for n in names[:limit]:
        text = f"{n}={format_value(reported[n]['value'], reported[n].get('unit'))}"
        quality = reported[n].get("quality")
        if quality in ("bad", "uncertain"):
            text += f" ({quality})"
        parts.append(text)
    return "  ".join(parts)


def _rul(twin: dict[str, Any]) -> str:
    """The tool's remaining life when a prognostics service computes it (seconds → minutes)."""
    value = (twin.get("virtual") or {}).get("rul.tool_life_s")
    if not value or not isinstance(value.get("value"), int | float):
        return ""
    return f"  tool RUL={value['value'] / 60:.1f} min"


def _age(twin: dict[str, Any], now: float) -> str:
    last = twin.get("last_received")
    return "-" if last is None else f"{max(0.0, now - last):.1f}s"


def status_line(twin: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    return (
        f"{twin['id']:<10} {twin['status']:<12} {_signals(twin)}{_rul(twin)}"
        f"  (data {_age(twin, now)} ago)"
    )


def status_table(twins: list[dict[str, Any]], title: str | None = None) -> Table:
    now = time.time()
    table = Table(title=title, expand=False, title_justify="left")
    table.add_column("twin", style="bold")
    table.add_column("type")
    table.add_column("status")
    table.add_column("latest values")
    table.add_column("age", justify="right")
    for twin in twins:
        status = twin["status"]
        table.add_row(
            twin["id"],
            twin["type"],
            Text(status, style=STATUS_STYLE.get(status, "")),
            _signals(twin) + _rul(twin),
            _age(twin, now),
        )
    return table
