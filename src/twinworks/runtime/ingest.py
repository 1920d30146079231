"""Ingest: one validator for every reading, its vectorised form, and the intake that queues.

The rules are the registry's :class:`~twinworks.runtime.registry.SignalRule` s, one
per (twin, signal). :meth:`Validator.validate` applies them to readings one by one;
:meth:`Validator.validate_columns` applies the same rules to a connector's arrays
at once and sends every message with a sample that is not plainly valid through
:meth:`Validator.validate`, so bad values get the same reasons and dead letters on
both paths (held equal by a property test in ``tests/runtime/test_ingest.py``).

:class:`Intake` is where connectors hand readings over: it validates them, queues
the good ones for the store and records the bad ones (counted per twin and reason,
a ``TelemetryRejected`` event each, one dead letter per raw message).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from typing import Any

import numpy as np

from twinworks.connect.base import Reading, ReadingColumns
from twinworks.errors import RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.runtime import events as ev
from twinworks.runtime.deadletters import letters_for_rejections
from twinworks.runtime.registry import TS_MAX, TS_MIN, TwinRegistry
from twinworks.runtime.repeats import RepeatedRejections
from twinworks.runtime.reports import IngestReport, Rejection, shown
from twinworks.runtime.writer import Chunk, WriteBehind
from twinworks.store.base import Columns, DeadLetter, Event, Point

__all__ = ["Intake", "Validator"]


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


class Intake:
    """Readings in: validated, queued for the store, and the rejected ones recorded."""

    def __init__(
        self,
        registry: TwinRegistry,
        writer: WriteBehind,
        counters: Counter[str],
        connectors: Container[str] = (),
    ) -> None:
        self.registry = registry
        self.validator = Validator(registry)
        self.writer = writer
        self.counters = counters
        self.rejections: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # the names of the runtime's connectors, whose identical rejections are summarised
        self.connectors = connectors
        self.repeats = RepeatedRejections()  # a connector's identical rejections: once a minute

    def submit(
        self, readings: Sequence[Reading], source: str, need_unit: bool = False
    ) -> asyncio.Future[IngestReport]:
        """Validate readings and queue the good ones; the future resolves once they are stored."""
        if isinstance(readings, ReadingColumns):
            columns, good, bad = self.validator.validate_columns(readings, source, need_unit)
        else:
            columns = None
            good, bad = self.validator.validate(readings, source, need_unit)
        future: asyncio.Future[IngestReport] = asyncio.get_running_loop().create_future()
        chunk = Chunk(good, future, IngestReport(rejected=bad), columns=columns)
        chunk.report.accepted = chunk.size
        if bad:
            self._record_rejections(bad)
        self.writer.queue(chunk)
        return future

    def submit_derived(self, points: Sequence[Point]) -> asyncio.Future[IngestReport]:
        """Queue values computed by models and services; their names must not be telemetry."""
        for p in points:
            if p.twin_id not in self.registry:
                raise UnknownTwinError(p.twin_id)
            if (p.twin_id, p.signal) in self.registry.rules:
                raise RejectedValueError(
                    "name_clash",
                    f"{p.twin_id}.{p.signal} is declared telemetry; derived values need their "
                    "own name, e.g. 'model.{p.signal}'",
                )
        future: asyncio.Future[IngestReport] = asyncio.get_running_loop().create_future()
        report = IngestReport(accepted=len(points))
        self.writer.queue(Chunk(list(points), future, report, derived=True))
        return future

    def dead_letter(self, letter: DeadLetter) -> None:
        """Keep a payload that never became readings (connectors call this), and count it."""
        if letter.twin_id is not None:
            self.rejections[letter.twin_id][letter.reason] += 1
        self.writer.queue_letter(letter)

    def _record_rejections(self, bad: list[Rejection]) -> None:
        self.counters["rejected"] += len(bad)
        for r in bad:
            self.rejections[r.twin_id][r.reason] += 1
        # counters stay exact; events and dead letters summarise a connector's repeats
        bad = self.repeats.admit(bad, self.connectors)
        known = self.registry
        self.writer.queue_events(
            [
                Event(ev.TELEMETRY_REJECTED, r.twin_id if r.twin_id in known else None, r.as_dict())
                for r in bad
            ]
        )
        for letter in letters_for_rejections(bad):
            self.writer.queue_letter(letter)
