"""Ingest: one validator for every reading, and its vectorised form for columnar batches.

The rules are the registry's :class:`~twinworks.runtime.registry.SignalRule` s, one
per (twin, signal). :meth:`Validator.validate` applies them to readings one by one;
:meth:`Validator.validate_columns` applies the same rules to a connector's arrays
at once and sends every message with a sample that is not plainly valid through
:meth:`Validator.validate`, so bad values get the same reasons and dead letters on
both paths (held equal by a property test in ``tests/runtime/test_ingest.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from twinworks.connect.base import Reading, ReadingColumns
from twinworks.errors import RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.runtime.registry import TS_MAX, TS_MIN, TwinRegistry
from twinworks.runtime.reports import Rejection, shown
from twinworks.store.base import Columns, Point

__all__ = ["Validator"]


class Validator:
    """Checks readings against a definition's rules before anything is stored."""

    def __init__(self, registry: TwinRegistry) -> None:
        self.registry = registry
        # names tables of connectors' columnar batches → rows of registry.keys (-1: unknown)
        self._column_keys: dict[int, tuple[Any, np.ndarray]] = {}

    def validate(
        self, readings: Iterable[Reading], source: str, need_unit: bool = False
    ) -> tuple[list[Point], list[Rejection]]:
        """Good readings as points (normalised), bad ones as rejections with their reason."""
        registry = self.registry
        rules = registry.rules
        good: list[Point] = []
        bad: list[Rejection] = []
        new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
        for reading in readings:
            twin_id, signal, ts, value = reading[0], reading[1], reading[2], reading[3]
            rule = rules.get((twin_id, signal))
            if value.__class__ is int and rule is not None and rule.dtype == "float":
                value = float(value)  # as SignalRule.check would; devices send 42 for 42.0
            # the common case in a few comparisons: a finite float in range, in the declared
            # unit, at a plausible time -- the verdict SignalRule.check gives, sooner
            if (
                rule is not None
                and value.__class__ is float
                and rule.dtype == "float"
                and reading[4] is None
                and rule.lo <= value <= rule.hi
                and value - value == 0.0
                and TS_MIN < ts < TS_MAX
                and not (need_unit and rule.dims)
            ):
                good.append(new(Point, (twin_id, signal, ts, value)))
                continue
            try:
                if rule is None:
                    if twin_id not in registry:
                        raise RejectedValueError("unknown_twin", str(UnknownTwinError(twin_id)))
                    known = list(registry.type_of(twin_id).telemetry)
                    raise RejectedValueError(
                        "unknown_signal",
                        str(UnknownSignalError(twin_id, "telemetry signal", signal, known)),
                    )
                good.append(
                    Point(twin_id, signal, ts, rule.check(value, ts, reading[4], need_unit))
                )
            except RejectedValueError as exc:
                bad.append(
                    Rejection(
                        str(twin_id),
                        str(signal),
                        exc.reason,
                        str(exc),
                        shown(value),
                        source,
                        reading[5] if len(reading) > 5 else None,
                    )
                )
        return good, bad

    def validate_columns(
        self, batch: ReadingColumns, source: str, need_unit: bool = False
    ) -> tuple[Columns | None, list[Point], list[Rejection]]:
        """:meth:`validate` on arrays: accepted columns, plus the verdicts of odd messages.

        A sample passes here exactly when :meth:`validate` would take it as it is: a
        known float signal, a finite value in range, a plausible time (and a declared
        unit where one is needed). Each message with any other sample goes through
        :meth:`validate` whole, as the connector reads it one reading at a time, so its
        rejections and dead letters are those of the per-reading path.
        """
        registry = self.registry
        cols = batch.columns
        if not len(cols):
            return None, [], []
        lut = self._column_keys.get(id(cols.names))
        if lut is None or lut[0] is not cols.names:
            # a connector's names table is shared by all its batches: map it once
            lut = (
                cols.names,
                np.array([registry.key_index.get(tuple(n), -1) for n in cols.names], np.int64),  # type: ignore[arg-type]
            )
            self._column_keys[id(cols.names)] = lut
        keys = lut[1][cols.series]
        values, ts = cols.values, cols.ts
        if not len(registry.keys):
            ok = np.zeros(len(keys), dtype=bool)
        else:
            k = np.maximum(keys, 0)
            with np.errstate(invalid="ignore"):
                ok = (
                    (keys >= 0)
                    & registry.float_rule[k]
                    & np.isfinite(values)
                    & (values >= registry.lo[k])
                    & (values <= registry.hi[k])
                    & (ts > TS_MIN)
                    & (ts < TS_MAX)
                )
            if need_unit:
                ok &= ~registry.dims[k]
        if ok.all():
            return Columns(registry.keys, keys, ts, values), [], []
        odd = np.unique(batch.message[~ok])
        fast = ~np.isin(batch.message, odd)
        good, bad = self.validate(batch.exact(odd.tolist()), source, need_unit)
        columns = Columns(registry.keys, keys[fast], ts[fast], values[fast]) if fast.any() else None
        return columns, good, bad
