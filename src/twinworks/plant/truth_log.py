"""A CSV log of the hidden ground truth, for comparing a twin's estimates offline.

One row per logged step: ``time_s`` (simulation time, POSIX seconds), then one
column per truth signal named ``<twin id>.<signal>`` (e.g. ``cnc1.tool_wear``,
in the units of :data:`twinworks.plant.signals.CNC_TRUTH`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

from twinworks.plant.cell import MachiningCell

__all__ = ["TruthLog"]


class TruthLog:
    """Writes ``cell.truth()`` to a CSV file at most every ``interval_s`` of simulation time
    (0: every time :meth:`write` is called, i.e. every step when used as a step hook)."""

    def __init__(self, path: str | Path, interval_s: float = 0.0) -> None:
        self.path = Path(path)
        self.interval_s = float(interval_s)
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._last_time_s = float("-inf")

    def open(self) -> TruthLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", encoding="utf-8")
        return self

    def write(self, cell: MachiningCell) -> None:
        """Log the cell's truth now, unless the last row is less than ``interval_s`` old."""
        if self._file is None:
            raise RuntimeError("TruthLog is not open; use it as a context manager or call open()")
        now = cell.time_s
        if now - self._last_time_s < self.interval_s:
            return
        self._last_time_s = now
        row: dict[str, object] = {"time_s": f"{now:.3f}"}
        for twin_id, signals in cell.truth().items():
            for name, value in signals.items():
                row[f"{twin_id}.{name}"] = value
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row))
            self._writer.writeheader()
        self._writer.writerow(row)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TruthLog:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
