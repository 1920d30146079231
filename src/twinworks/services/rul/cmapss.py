"""NASA C-MAPSS turbofan data: loading, the standard protocol and its metrics.

The data is not shipped with twinworks; pass the folder that holds
``train_FD001.txt``, ``test_FD001.txt`` and ``RUL_FD001.txt`` (the files of the
original distribution, unchanged). Each row is one cycle: unit, cycle, three
operational settings, 21 sensors.

The protocol of the literature: train on the run-to-failure units with the
target capped at 125 cycles (a piecewise-linear degradation target), predict the
remaining life at the last cycle of each test unit, report the RMSE and the
asymmetric NASA score, which punishes late predictions (too long a life) more
than early ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CMAPSS_CHANNELS",
    "CMAPSS_SETTINGS",
    "Fleet",
    "UnitHistory",
    "coverage",
    "load_cmapss",
    "nasa_score",
    "rmse",
]

CMAPSS_SETTINGS = ["setting1", "setting2", "setting3"]
CMAPSS_CHANNELS = [f"s{i}" for i in range(1, 22)]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class UnitHistory:
    """The cycles of one unit: settings ``(cycles, 3)`` and sensors ``(cycles, 21)``."""

    unit: int
    cycles: NDArray[np.int64]
    settings: Array
    sensors: Array


@dataclass(frozen=True)
class Fleet:
    train: list[UnitHistory]
    test: list[UnitHistory]
    test_rul: NDArray[np.int64]  # true remaining life after the last test cycle


def _read(path: Path) -> list[UnitHistory]:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; pass the folder holding the C-MAPSS files "
            "(train_FD001.txt, test_FD001.txt, RUL_FD001.txt)"
        )
    data = np.loadtxt(path)
    if data.ndim != 2 or data.shape[1] != 26:
        raise ValueError(f"{path}: expected 26 space-separated columns per row, got {data.shape}")
    units = []
    for unit in np.unique(data[:, 0]).astype(int):
        rows = data[data[:, 0] == unit]
        rows = rows[np.argsort(rows[:, 1])]
        units.append(
            UnitHistory(int(unit), rows[:, 1].astype(np.int64), rows[:, 2:5], rows[:, 5:26])
        )
    return units


def load_cmapss(folder: str | Path, subset: str = "FD001") -> Fleet:
    """Read one C-MAPSS subset (FD001 … FD004) from ``folder``."""
    folder = Path(folder)
    train = _read(folder / f"train_{subset}.txt")
    test = _read(folder / f"test_{subset}.txt")
    rul_path = folder / f"RUL_{subset}.txt"
    if not rul_path.exists():
        raise FileNotFoundError(f"{rul_path} does not exist")
    rul = np.loadtxt(rul_path).astype(np.int64).reshape(-1)
    if len(rul) != len(test):
        raise ValueError(f"{rul_path}: {len(rul)} values for {len(test)} test units")
    return Fleet(train, test, rul)


def rmse(pred: Array, true: Array) -> float:
    d = np.asarray(pred, dtype=float) - np.asarray(true, dtype=float)
    return float(np.sqrt(np.mean(d * d)))


def nasa_score(pred: Array, true: Array) -> float:
    """The PHM08 score: sum of exp(-d/13)-1 for early (d<0), exp(d/10)-1 for late predictions."""
    d = np.asarray(pred, dtype=float) - np.asarray(true, dtype=float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def coverage(lower: Array, upper: Array, true: Array) -> float:
    """Fraction of true values inside ``[lower, upper]``."""
    t = np.asarray(true, dtype=float)
    return float(np.mean((t >= np.asarray(lower)) & (t <= np.asarray(upper))))
