"""The runtime: connectors → validation → store → reported state → change events.

One asyncio loop runs everything. Connectors hand readings to :meth:`Runtime.submit`,
which validates them at once (bad values become ``TelemetryRejected`` events and
never hold up good ones) and queues the good ones. A single writer task appends
queued points to the store in batches on a dedicated thread, and only after a batch
is durable does it update the twins' reported state and publish the changes, so
everything a client sees is also in the store.

Reported state (what the asset says) and desired state (what we asked for) are
kept apart. Writing a desired value or calling a command checks it against the
twin definition, records it, sends it through the twin's connector and records
the outcome (``CommandAcknowledged`` / ``CommandFailed``) as an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from twinworks.connect.base import Connector, Origin, Reading, ReadingColumns, connector_class
from twinworks.errors import (
    CommandError,
    RateLimitedError,
    RejectedValueError,
    StoreError,
    UnknownSignalError,
    UnknownTwinError,
)
from twinworks.runtime import events as ev
from twinworks.runtime.bus import ChangeBus, Subscription
from twinworks.runtime.deadletters import letters_for_rejections
from twinworks.runtime.quality import SignalQuality, mark_quality
from twinworks.runtime.registry import TS_MAX, TS_MIN, TwinRegistry, check_arguments
from twinworks.runtime.repeats import RepeatedRejections
from twinworks.runtime.safety import CommandGuard, RateLimit, rate_of_change_problem
from twinworks.runtime.service import TwinService
from twinworks.runtime.spool import DiskSpool, SpoolFull
from twinworks.spec.schema import BindingSpec, TwinDefinition
from twinworks.spec.validate import check_value
from twinworks.store.base import (
    Columns,
    DeadLetter,
    Event,
    Point,
    StoredEvent,
    TwinStore,
    Value,
)

__all__ = ["CommandRecord", "IngestReport", "Rejection", "Runtime"]

log = logging.getLogger(__name__)

# waiting between attempts at a store that is down (doubling from min to max)
_RETRY_MIN_S = 0.1
_RETRY_MAX_S = 5.0
# kept in memory while the store is down; beyond these the oldest are dropped (counted)
_MAX_PENDING_EVENTS = 100_000
_MAX_PENDING_LETTERS = 10_000

# twin status from the asset's own 'state' signal
_STATUS_OF_STATE = {
    "cutting": "running",
    "running": "running",
    "idle": "idle",
    "stopped": "stopped",
    "fault": "fault",
    "tool_change": "setup",
}


# statuses an active alarm overrides; fault, stale, disconnected and offline say more
_ALARMABLE = frozenset({"running", "idle", "setup", "stopped", "virtual"})


@dataclass(frozen=True, slots=True)
class Rejection:
    twin_id: str
    signal: str
    reason: str
    message: str
    value: str
    source: str
    origin: Origin | None = None  # the raw message of the reading, if the connector kept it

    def as_dict(self) -> dict[str, str]:
        return {
            "twin_id": self.twin_id,
            "signal": self.signal,
            "reason": self.reason,
            "message": self.message,
            "value": self.value,
            "source": self.source,
        }


@dataclass
class IngestReport:
    accepted: int = 0
    stored: int = 0  # new points; redelivered duplicates are accepted but not stored twice
    rejected: list[Rejection] = field(default_factory=list)
    # durable in the on-disk buffer while the store is unavailable; stored when it returns
    spooled: int = 0

    @property
    def duplicates(self) -> int:
        return self.accepted - self.stored - self.spooled

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "spooled": self.spooled,
            "rejected": [r.as_dict() for r in self.rejected],
        }


CommandStatus = Literal["pending", "acknowledged", "failed", "rejected"]


@dataclass
class CommandRecord:
    id: str
    twin_id: str
    name: str
    kind: Literal["desired", "command"]
    args: dict[str, Any]
    status: CommandStatus = "pending"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    result: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    by: str = "api"  # who asked for it (the user name behind the API request)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "twin_id": self.twin_id,
            "name": self.name,
            "kind": self.kind,
            "args": self.args,
            "status": self.status,
            "created": self.created,
            "finished": self.finished,
            "error": self.error,
            "result": self.result,
        }


@dataclass
class _Chunk:
    points: list[Point]
    future: asyncio.Future[IngestReport] | None
    report: IngestReport
    derived: bool = False  # computed by a model or service, not reported by the asset
    drained: bool = False  # from the on-disk buffer, after the store came back
    # float samples checked as arrays (the fast path), rows of the registry's keys
    columns: Columns | None = None

    @property
    def size(self) -> int:
        return len(self.points) + (len(self.columns) if self.columns is not None else 0)

    def all_points(self) -> list[Point]:
        """Every point, the columns' ones as tuples (for the on-disk buffer)."""
        if self.columns is None:
            return self.points
        return [*self.points, *self.columns]


@dataclass
class _TwinLive:
    reported: dict[str, tuple[float, Value]] = field(default_factory=dict)
    # values computed by the twin's models and services (estimates, scores, RUL, ...)
    virtual: dict[str, tuple[float, Value]] = field(default_factory=dict)
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_received: float | None = None  # wall-clock time of the newest reading
    status: str = "offline"
    revision: int = 0


def _drained_chunks(rows: list[tuple[Point, bool]]) -> list[_Chunk]:
    """Points from the on-disk buffer as chunks nobody waits for (their sources were told)."""
    measured = [p for p, derived in rows if not derived]
    derived = [p for p, is_derived in rows if is_derived]
    chunks = []
    if measured:
        chunks.append(_Chunk(measured, None, IngestReport(len(measured)), drained=True))
    if derived:
        chunks.append(_Chunk(derived, None, IngestReport(len(derived)), derived=True, drained=True))
    return chunks


def _json_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


class Runtime:
    """Runs the twins of one definition against one store.

    >>> import asyncio
    >>> from twinworks.spec import parse_definition
    >>> from twinworks.store import MemoryStore
    >>> from twinworks.connect import Reading
    >>> d = parse_definition("types: {pump: {telemetry: {flow: {min: 0}}}}\\n"
    ...                      "twins: [{id: p1, type: pump}]")
    >>> async def main():
    ...     async with Runtime(d, MemoryStore()) as rt:
    ...         report = await rt.ingest([Reading("p1", "flow", 1.7e9, 3.5),
    ...                                   Reading("p1", "flow", 1.7e9 + 1, -1.0)])
    ...         return report.stored, [r.reason for r in report.rejected]
    >>> asyncio.run(main())
    (1, ['out_of_range'])
    """

    def __init__(
        self,
        definition: TwinDefinition,
        store: TwinStore,
        *,
        connectors: Mapping[str, Connector] | None = None,
        services: Sequence[TwinService] = (),
        stale_after_s: float = 10.0,
        command_timeout_s: float = 5.0,
        max_batch: int = 20_000,
        max_pending: int = 2_000_000,
        spool: DiskSpool | None = None,
        max_dead_letters: int = 100_000,
        stop_timeout_s: float = 10.0,
        command_rate: RateLimit | None = None,
    ) -> None:
        self.definition = definition
        self.registry = TwinRegistry(definition)
        self.store = store
        self.bus = ChangeBus()
        self.stale_after_s = stale_after_s
        self.command_timeout_s = command_timeout_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        # store-and-forward: where accepted points wait while the store is unavailable
        self.spool = spool
        self.max_dead_letters = max_dead_letters  # kept in the store; older ones are trimmed
        self.stop_timeout_s = stop_timeout_s
        self.connectors: dict[str, Connector] = dict(connectors or {})
        self._given_connectors = connectors is not None
        self.services: dict[str, TwinService] = {s.name: s for s in services}
        # time-dependent command limits (rate of change, commands per twin): see safety.py
        self.guard = CommandGuard(command_rate)
        for twin in definition.twins:
            limit = definition.types[twin.type].rate_limit
            if limit is not None:
                self.guard.limits[twin.id] = RateLimit(limit.commands, limit.per_s)
        # called on the writer thread with events once they are stored and before they are
        # published (the audit trail); an exception fails the action that recorded them
        self.event_hooks: list[Callable[[list[StoredEvent]], None]] = []
        self.quality = SignalQuality(self)  # what sources say about their values (OPC UA status)
        for connector in self.connectors.values():
            connector.attach(self.submit, self._on_connector, self.dead_letter)
            connector.on_quality = self.quality.report
        self.live: dict[str, _TwinLive] = {tid: _TwinLive() for tid in self.registry.ids()}
        self.commands: OrderedDict[str, CommandRecord] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.rejections: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.repeats = RepeatedRejections()  # a connector's identical rejections: once a minute
        # conditions that services hold active per twin (alarms); status shows 'alarm' meanwhile
        self.conditions: defaultdict[str, set[str]] = defaultdict(set)
        self.started_at: float | None = None
        self._chunks: list[_Chunk] = []
        self._pending_points = 0
        self._pending_events: list[Event] = []
        self._pending_letters: list[DeadLetter] = []
        self._letters_since_trim = 0
        self._store_down_since: float | None = None  # wall-clock time of the first failure
        self._next_probe = 0.0  # monotonic time of the next attempt at a store that is down
        self._retry_delay = _RETRY_MIN_S
        self._stop_deadline: float | None = None
        self._writing = False  # a batch taken off the queues is being written
        self._status_order: list[str] | None = None
        self._ancestor_cache: dict[str, list[str]] = {}
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._running = False
        self._background: set[asyncio.Task[Any]] = set()
        # names tables of connectors' columnar batches → rows of registry.keys (-1: unknown)
        self._column_keys: dict[int, tuple[Any, np.ndarray]] = {}
        # per row of registry.keys: the twin's live state, its id and the signal's name
        self._live_of = [(self.live[t], t, sig) for t, sig in self.registry.keys]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._running:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="twinworks-store")
        self._running = True
        self.started_at = time.time()
        await self._write(self._register_documents)
        await self._write(self._load_reported)
        self._writer = asyncio.create_task(self._write_loop(), name="twinworks-writer")
        self._ticker = asyncio.create_task(self._status_loop(), name="twinworks-status")
        if not self._given_connectors:
            self.connectors = self._build_connectors()
        await self.record(
            [
                Event(
                    ev.RUNTIME_STARTED,
                    None,
                    {
                        "definition": self.definition.name,
                        "twins": len(self.live),
                        "connectors": sorted(self.connectors),
                    },
                )
            ]
        )
        for connector in self.connectors.values():
            await connector.start()
        for service in self.services.values():
            await service.start(self)

    async def stop(self) -> None:
        if not self._running:
            return
        for service in reversed(list(self.services.values())):
            try:
                await service.stop()
            except Exception:  # one failing service must not keep the others running
                log.exception("service %s failed to stop", service.name)
        for connector in self.connectors.values():
            await connector.stop()
        for task in list(self._background):
            task.cancel()
        self._running = False
        self._stop_deadline = time.monotonic() + self.stop_timeout_s
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._pending_events.append(Event(ev.RUNTIME_STOPPED, None, {}))
        self._wake.set()
        if self._writer is not None:
            await self._writer  # drains what is queued before it returns
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _build_connectors(self) -> dict[str, Connector]:
        bindings: dict[str, list[tuple[str, BindingSpec]]] = defaultdict(list)
        for twin in self.definition.twins:
            for binding in twin.bindings:
                bindings[binding.connector].append((twin.id, binding))
        built: dict[str, Connector] = {}
        for name, spec in self.definition.connectors.items():
            cls = connector_class(spec.protocol)
            built[name] = cls(name, spec, bindings.get(name, []), self.submit, self._on_connector)
            built[name].attach(self.submit, self._on_connector, self.dead_letter)
            built[name].on_quality = self.quality.report
        return built

    def _on_connector(self, kind: str, name: str, data: dict[str, Any]) -> None:
        self._pending_events.append(Event(kind, None, {"connector": name, **data}))
        self._wake.set()
        self._refresh_statuses()

    async def _write(self, fn: Any, *args: Any) -> Any:
        """Run a store call on the writer thread, serialised with the batch appends."""
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _register_documents(self) -> None:
        """Store each twin's document, with a new revision only when the definition changed it."""
        pending: list[Event] = []
        for twin_id in self.registry.ids():
            static = self.registry.document(twin_id)
            current = self.store.get_document(twin_id)
            if current is not None:
                desired = current.doc.get("desired", {})
                self.live[twin_id].desired = dict(desired)
                self.live[twin_id].revision = current.rev
                if {k: v for k, v in current.doc.items() if k != "desired"} == static:
                    continue
                kind = ev.TWIN_UPDATED
            else:
                desired, kind = {}, ev.TWIN_REGISTERED
            rev = self.store.put_document(twin_id, {**static, "desired": desired})
            self.live[twin_id].revision = rev
            pending.append(Event(kind, twin_id, {"revision": rev, "type": static["type"]}))
        pending.append(
            Event(
                ev.DEFINITION_LOADED,
                None,
                {"name": self.definition.name, "twins": len(self.live)},
            )
        )
        self.store.append_events(pending)

    def _load_reported(self) -> None:
        """Start from the last values the store holds, so a restart shows them at once."""
        for twin_id, live in self.live.items():
            for signal, (ts, value) in self.store.latest(twin_id).items():
                rule = self.registry.rules.get((twin_id, signal))
                if rule is not None:
                    live.reported[signal] = (ts, rule.restore(value))

    # ------------------------------------------------------------------ ingestion

    def validate(
        self, readings: Iterable[Reading], source: str, need_unit: bool = False
    ) -> tuple[list[Point], list[Rejection]]:
        rules = self.registry.rules
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
                    if twin_id not in self.registry:
                        raise RejectedValueError("unknown_twin", str(UnknownTwinError(twin_id)))
                    known = list(self.registry.type_of(twin_id).telemetry)
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
                        _json_value(value),
                        source,
                        reading[5] if len(reading) > 5 else None,
                    )
                )
        return good, bad

    def submit(
        self, readings: Sequence[Reading], source: str, need_unit: bool = False
    ) -> asyncio.Future[IngestReport]:
        """Validate readings and queue the good ones; the future resolves once they are stored."""
        columns: Columns | None = None
        if isinstance(readings, ReadingColumns):
            columns, good, bad = self._validate_columns(readings, source, need_unit)
        else:
            good, bad = self.validate(readings, source, need_unit)
        chunk = _Chunk(good, None, IngestReport(rejected=bad), columns=columns)
        size = chunk.report.accepted = chunk.size
        future: asyncio.Future[IngestReport] = asyncio.get_running_loop().create_future()
        chunk.future = future
        if bad:
            self._count_rejections(bad)
        if not self._running:
            future.set_exception(StoreError("the runtime is not running"))
            return future
        if self._pending_points + size > self.max_pending:
            self.counters["dropped_backlog"] += size
            log.error("ingest backlog full (%d points); dropping %d", self.max_pending, size)
            future.set_exception(StoreError("ingest backlog is full; the store is not keeping up"))
            return future
        self._chunks.append(chunk)
        self._pending_points += size
        self._wake.set()
        return future

    def _validate_columns(
        self, batch: ReadingColumns, source: str, need_unit: bool
    ) -> tuple[Columns | None, list[Point], list[Rejection]]:
        """Check a columnar batch against the rules at once: :meth:`validate` on arrays.

        A sample passes here exactly when :meth:`validate` would take it as it is: a
        known float signal, a finite value in range, a plausible time (and a declared
        unit where one is needed). Each message with any other sample goes through
        :meth:`validate` whole, as the connector reads it one reading at a time, so its
        rejections and dead letters are those of the per-reading path; the property
        test in tests/runtime/test_columnar.py holds the two paths to the same verdicts.
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

    def submit_derived(self, points: Sequence[Point]) -> asyncio.Future[IngestReport]:
        """Queue values computed by models and services (the virtual entity's data).

        They are stored as time series beside the measurements, with the same
        batching and durability, shown under ``virtual`` in twin views, and
        published on the stream as ``virtual`` messages. Names must not clash with
        the twin's declared telemetry; by convention they are ``producer.quantity``
        such as ``ukf.tool_wear`` and ``ukf.tool_wear.std``.
        """
        for p in points:
            if p.twin_id not in self.live:
                raise UnknownTwinError(p.twin_id)
            if (p.twin_id, p.signal) in self.registry.rules:
                raise RejectedValueError(
                    "name_clash",
                    f"{p.twin_id}.{p.signal} is declared telemetry; derived values need their "
                    "own name, e.g. 'model.{p.signal}'",
                )
        future: asyncio.Future[IngestReport] = asyncio.get_running_loop().create_future()
        if not self._running:
            future.set_exception(StoreError("the runtime is not running"))
            return future
        chunk = _Chunk(list(points), future, IngestReport(accepted=len(points)), derived=True)
        self._chunks.append(chunk)
        self._pending_points += len(points)
        self._wake.set()
        return future

    async def ingest(
        self, readings: Sequence[Reading], source: str = "api", need_unit: bool = False
    ) -> IngestReport:
        """Validate and store readings; return once they are durable."""
        return await self.submit(readings, source, need_unit)

    def _count_rejections(self, bad: list[Rejection]) -> None:
        self.counters["rejected"] += len(bad)
        for r in bad:
            self.rejections[r.twin_id][r.reason] += 1
        bad = self.repeats.admit(bad, self.connectors)
        self._pending_events.extend(
            Event(ev.TELEMETRY_REJECTED, r.twin_id if r.twin_id in self.live else None, r.as_dict())
            for r in bad
        )
        for letter in letters_for_rejections(bad):
            self._queue_letter(letter)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Keep a payload that could not be ingested (connectors call this), and count it.

        Connectors call it for what never became readings (not JSON, unknown twin,
        oversized, ...); readings rejected by validation become dead letters in
        :meth:`submit`, one per raw message.
        """
        if letter.twin_id is not None:
            self.rejections[letter.twin_id][letter.reason] += 1
        self._queue_letter(letter)
        self._wake.set()

    def _queue_letter(self, letter: DeadLetter) -> None:
        self.counters["dead_letters"] += 1
        if len(self._pending_letters) >= _MAX_PENDING_LETTERS:
            # only while the store is down; the counts above stay exact
            self._pending_letters.pop(0)
            self.counters["dead_letters_not_kept"] += 1
        self._pending_letters.append(letter)

    # ------------------------------------------------------------------ the writer

    def _has_work(self) -> bool:
        # a buffer left while stopping with the store down is drained at the next start
        backlog = self.spool is not None and len(self.spool) > 0
        return bool(
            self._chunks
            or self._pending_events
            or self._pending_letters
            or (backlog and (self._running or self._store_down_since is None))
        )

    async def _write_loop(self) -> None:
        """Write what is queued, in batches; ride out a store that is down.

        While the store is down, points go to the on-disk buffer (if there is one)
        and the store is tried again with growing delays; events and dead letters
        wait in memory. Once the store answers, the buffer is drained into it in
        the same transactions as new data.
        """
        while True:
            if not self._has_work():
                if not self._running:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            self._writing = True
            try:
                progressed = await self._write_step()
            finally:
                self._writing = False
            if progressed:
                continue
            if not self._running and self._give_up_on_stop():
                return
            delay = max(0.0, self._next_probe - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    def _take_chunks(self) -> tuple[list[_Chunk], int]:
        chunks: list[_Chunk] = []
        size = 0
        while self._chunks and (not chunks or size + self._chunks[0].size <= self.max_batch):
            chunk = self._chunks.pop(0)
            chunks.append(chunk)
            size += chunk.size
        return chunks, size

    async def _write_step(self) -> bool:
        """Write one batch; False when nothing could be written (the store is down)."""
        if self._store_down_since is not None and time.monotonic() < self._next_probe:
            if self.spool is not None and self._chunks:
                chunks, size = self._take_chunks()
                return await self._spool_chunks(chunks, size)
            return False
        chunks, size = self._take_chunks()
        events, self._pending_events = self._pending_events, []
        letters, self._pending_letters = self._pending_letters, []
        drain_id, drained = 0, []
        if self.spool is not None and len(self.spool) and size < self.max_batch:
            try:
                drain_id, rows = await self._write(self.spool.take, self.max_batch - size)
            except StoreError as exc:
                log.error("cannot read the on-disk buffer: %s", exc)
                rows = []
            drained = _drained_chunks(rows)
        try:
            stored, counts = await self._write(self._store_batch, chunks + drained, events, letters)
        except StoreError as exc:
            self._mark_down(exc)
            self._pending_events[:0] = events[-_MAX_PENDING_EVENTS:]
            self._pending_letters[:0] = letters[-_MAX_PENDING_LETTERS:]
            del self._pending_events[:-_MAX_PENDING_EVENTS]
            del self._pending_letters[:-_MAX_PENDING_LETTERS]
            if chunks and self.spool is not None:
                await self._spool_chunks(chunks, size)
            else:
                # keep them queued and try again; nothing acknowledged is lost
                self._chunks[:0] = chunks
            return False
        if drain_id:
            assert self.spool is not None
            try:
                await self._write(self.spool.ack, drain_id)
            except StoreError as exc:
                # drained again later; the store's key drops the repeats
                log.error("cannot trim the on-disk buffer: %s", exc)
            self.counters["drained"] += sum(len(c.points) for c in drained)
        if self._store_down_since is not None:
            self._mark_up()
        self._pending_points -= size
        self._after_store(chunks + drained, counts, stored)
        return True

    def _mark_down(self, exc: Exception) -> None:
        self.counters["store_errors"] += 1
        if self._store_down_since is None:
            self._store_down_since = time.time()
            self._retry_delay = _RETRY_MIN_S
            where = "buffering on disk" if self.spool is not None else "holding points in memory"
            log.error("store unavailable (%s); %s and retrying", exc, where)
        else:
            self._retry_delay = min(_RETRY_MAX_S, self._retry_delay * 2)
            log.warning("store still unavailable (%s); next try in %.1f s", exc, self._retry_delay)
        self._next_probe = time.monotonic() + self._retry_delay

    def _mark_up(self) -> None:
        assert self._store_down_since is not None
        log.warning("store available again after %.1f s", time.time() - self._store_down_since)
        self._store_down_since = None
        self._retry_delay = _RETRY_MIN_S

    async def _spool_chunks(self, chunks: list[_Chunk], size: int) -> bool:
        """Put points in the on-disk buffer; their sources learn they are safe."""
        assert self.spool is not None
        measured = [p for c in chunks if not c.derived for p in c.all_points()]
        derived = [p for c in chunks if c.derived for p in c.all_points()]
        try:
            if measured:
                await self._write(self.spool.put, measured, False)
            if derived:
                await self._write(self.spool.put, derived, True)
        except SpoolFull as exc:
            # refused, not lost: the sources are not told the points are safe
            self.counters["spool_rejected"] += size
            self._pending_points -= size
            for chunk in chunks:
                if chunk.future is not None and not chunk.future.done():
                    chunk.future.set_exception(SpoolFull(str(exc)))
            return True
        except StoreError as exc:
            log.error("the on-disk buffer failed too (%s); holding points in memory", exc)
            self._chunks[:0] = chunks
            return False
        self.counters["spooled"] += size
        self._pending_points -= size
        for chunk in chunks:
            chunk.report.spooled = chunk.size
            if chunk.future is not None and not chunk.future.done():
                chunk.future.set_result(chunk.report)
        return True

    def _give_up_on_stop(self) -> bool:
        """Stopping with the store down: after ``stop_timeout_s``, tell sources what was lost."""
        assert self._stop_deadline is not None
        if time.monotonic() < self._stop_deadline:
            return False
        unsaved = sum(c.size for c in self._chunks)
        for chunk in self._chunks:
            if chunk.future is not None and not chunk.future.done():
                chunk.future.set_exception(StoreError("stopped while the store was unavailable"))
        if unsaved or self._pending_events or self._pending_letters:
            # none of these points was acknowledged to its source, so a broker resends them
            log.error(
                "stopped with the store unavailable: %d points (not acknowledged), %d events "
                "and %d dead letters were not stored",
                unsaved,
                len(self._pending_events),
                len(self._pending_letters),
            )
        self._chunks.clear()
        self._pending_points = 0
        self._pending_events.clear()
        self._pending_letters.clear()
        return True

    def _store_batch(
        self, chunks: list[_Chunk], events: list[Event], letters: list[DeadLetter]
    ) -> tuple[list[StoredEvent], list[int]]:
        counts: list[int] = []
        if chunks:
            # a chunk is one or two batches for the store: its tuples and its columns
            batches: list[Sequence[Point]] = []
            for c in chunks:
                if c.points or c.columns is None:
                    batches.append(c.points)
                if c.columns is not None:
                    batches.append(c.columns)
            added = iter(self.store.append_many(batches))
            for c in chunks:
                n = next(added) if c.points or c.columns is None else 0
                counts.append(n + (next(added) if c.columns is not None else 0))
        stored = self.store.append_events(events) if events else []
        if letters:
            self.store.append_dead_letters(letters)
            self._letters_since_trim += len(letters)
            if self._letters_since_trim >= max(1000, self.max_dead_letters // 10):
                self._letters_since_trim = 0
                self.store.delete_dead_letters(keep_newest=self.max_dead_letters)
        return stored, counts

    def _after_store(
        self, chunks: list[_Chunk], counts: list[int], stored: list[StoredEvent]
    ) -> None:
        now = time.time()
        # messages for stream subscribers are only built when someone listens
        publish = self.bus.subscriber_count > 0
        changes: dict[str, dict[str, list[Any]]] = defaultdict(dict)
        derived: dict[str, dict[str, list[Any]]] = defaultdict(dict)
        state_events: list[Event] = []
        touched: set[str] = set()  # twins that reported something
        restated: set[str] = set()  # twins whose 'state' signal moved
        total = 0
        for chunk in chunks:
            if chunk.derived:
                for twin_id, signal, ts, value in chunk.points:
                    if twin_id not in self.live:  # buffered under an older definition
                        continue
                    virtual = self.live[twin_id].virtual
                    old = virtual.get(signal)
                    if old is None or ts >= old[0]:
                        virtual[signal] = (ts, value)
                        derived[twin_id][signal] = [ts, value]
                continue
            total += chunk.size
            for twin_id, signal, ts, value in chunk.points:
                live = self.live.get(twin_id)
                if live is None:  # buffered under an older definition
                    continue
                if not chunk.drained:  # arrival time; drained points arrived long ago
                    live.last_received = now
                    touched.add(twin_id)
                old = live.reported.get(signal)
                if old is None or ts >= old[0]:
                    live.reported[signal] = (ts, value)
                    touched.add(twin_id)
                    changes[twin_id][signal] = [ts, value]
                    if signal == "state":
                        restated.add(twin_id)
                        if old is not None and old[1] != value:
                            state_events.append(
                                Event(
                                    ev.STATE_CHANGED, twin_id, {"from": old[1], "to": value}, ts=ts
                                )
                            )
        columns = [c.columns for c in chunks if c.columns is not None and len(c.columns)]
        if columns:
            self._after_columns(
                columns, now, changes if publish else None, touched, restated, state_events
            )
        added = sum(counts)
        for chunk, new in zip(chunks, counts, strict=True):
            chunk.report.stored = new  # exact: the store counted each chunk's new points
            if chunk.future is not None and not chunk.future.done():
                chunk.future.set_result(chunk.report)
        self.counters["accepted"] += total
        self.counters["stored"] += added  # measurements and derived values
        self.counters["duplicates"] += sum(c.size for c in chunks) - added
        self.counters["derived"] += sum(c.size for c in chunks if c.derived)
        if publish:
            for twin_id, values in changes.items():
                self.bus.publish({"type": "telemetry", "twin_id": twin_id, "values": values})
            for twin_id, values in derived.items():
                self.bus.publish({"type": "virtual", "twin_id": twin_id, "values": values})
            for event in stored:
                self.bus.publish({"type": "event", **event.as_dict()})
        if state_events:
            self._pending_events.extend(state_events)
            self._wake.set()
        # new data can change a twin's status only from offline or stale, or through its
        # 'state' signal (see _status); the ticker and connector changes do the rest
        lives = self.live
        moved = [t for t in touched if t in restated or lives[t].status in ("offline", "stale")]
        if moved:
            self._refresh_statuses(moved)

    def _after_columns(
        self,
        columns: list[Columns],
        now: float,
        changes: dict[str, dict[str, list[Any]]] | None,
        touched: set[str],
        restated: set[str],
        state_events: list[Event],
    ) -> None:
        """Reported state from columnar batches: only each series' newest sample is visited."""
        if len(columns) == 1:
            keys, ts, values = columns[0].series, columns[0].ts, columns[0].values
        else:
            keys = np.concatenate([c.series for c in columns])
            ts = np.concatenate([c.ts for c in columns])
            values = np.concatenate([c.values for c in columns])
        order = np.lexsort((ts, keys))  # stable: of equal times the later delivery wins
        ordered = keys[order]
        last = order[np.r_[ordered[1:] != ordered[:-1], True]]
        live_of = self._live_of
        for key, t, value in zip(
            keys[last].tolist(), ts[last].tolist(), values[last].tolist(), strict=True
        ):
            live, twin_id, signal = live_of[key]
            live.last_received = now
            touched.add(twin_id)
            old = live.reported.get(signal)
            if old is None or t >= old[0]:
                live.reported[signal] = (t, value)
                if changes is not None:
                    changes[twin_id][signal] = [t, value]
                if signal == "state":
                    restated.add(twin_id)
                    if old is not None and old[1] != value:
                        state_events.append(
                            Event(ev.STATE_CHANGED, twin_id, {"from": old[1], "to": value}, ts=t)
                        )

    async def record(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Store events now (serialised with telemetry writes) and publish them."""
        stored: list[StoredEvent] = await self._write(self._append_events, list(events))
        for event in stored:
            self.bus.publish({"type": "event", **event.as_dict()})
        return stored

    def _append_events(self, events: list[Event]) -> list[StoredEvent]:
        stored = self.store.append_events(events)
        for hook in self.event_hooks:
            hook(stored)
        return stored

    async def flush(self) -> None:
        """Wait until everything queued so far is stored or buffered (for tests and shutdown)."""
        while (
            self._chunks
            or self._pending_events
            or self._pending_letters
            or self._pending_points
            or self._writing
        ):
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ status

    def _status(self, twin_id: str, now: float) -> str:
        live = self.live[twin_id]
        twin = self.registry.twin(twin_id)
        if not twin.bindings:
            children = self.registry.children(twin_id)
            if not children:
                return "virtual"
            statuses = {self.live[c].status for c in children}
            for worst in ("fault", "alarm", "disconnected", "stale", "stopped"):
                if worst in statuses:
                    return worst
            return "running" if "running" in statuses else "idle"
        fresh = False
        for binding in twin.bindings:
            connector = self.connectors.get(binding.connector)
            if connector is None:
                continue
            if not connector.reachable(twin_id):
                return "disconnected"
            activity = connector.status.last_activity
            if connector.by_exception and activity is not None:
                fresh = fresh or now - activity <= self.stale_after_s
        if live.last_received is None:
            return "offline"
        if not fresh and now - live.last_received > self.stale_after_s:
            return "stale"
        state = live.reported.get("state")
        if state is not None:
            return _STATUS_OF_STATE.get(str(state[1]), str(state[1]))
        return "running"

    def _refresh_statuses(self, changed: Iterable[str] | None = None) -> None:
        """Recompute twin statuses: all of them, or the ``changed`` ones and their parents."""
        now = time.time()
        order = self._status_order
        if order is None:
            # leaves first, so that composite twins see their children's new status
            order = self._status_order = sorted(
                self.live, key=lambda t: -len(self.registry.ancestors(t))
            )
        if changed is not None:
            # after a batch only its twins can have changed status (the ticker does the rest);
            # at fleet scale this is the difference between O(batch) and O(fleet) per batch
            wanted = set(changed)
            for twin_id in list(wanted):
                wanted.update(self._ancestors(twin_id))
            if len(wanted) < len(order):
                order = [t for t in order if t in wanted]
        for twin_id in order:
            status = self._status(twin_id, now)
            if self.conditions.get(twin_id) and status in _ALARMABLE:
                status = "alarm"
            live = self.live[twin_id]
            if status != live.status:
                old, live.status = live.status, status
                self.bus.publish(
                    {"type": "status", "twin_id": twin_id, "status": status, "previous": old}
                )

    def set_condition(self, twin_id: str, name: str, active: bool) -> None:
        """Hold (or release) a named condition such as an active alarm on a twin.

        While a twin holds any condition its status is ``alarm`` (unless it is
        faulted, disconnected, stale or offline, which say more).
        """
        self.registry.twin(twin_id)  # raises UnknownTwinError
        held = self.conditions[twin_id]
        if active:
            held.add(name)
        else:
            held.discard(name)
        self._refresh_statuses([twin_id])

    def _ancestors(self, twin_id: str) -> list[str]:
        found = self._ancestor_cache.get(twin_id)
        if found is None:
            found = self._ancestor_cache[twin_id] = self.registry.ancestors(twin_id)
        return found

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._refresh_statuses()

    # ------------------------------------------------------------------ views

    def subscribe(self, twin_ids: Iterable[str] | None = None) -> Subscription:
        wanted = set(twin_ids) if twin_ids is not None else None
        if wanted is None:
            return self.bus.subscribe()
        return self.bus.subscribe(lambda m: m.get("twin_id") in wanted or m.get("twin_id") is None)

    def _reported_view(
        self, twin_id: str, reported: Mapping[str, tuple[float, Value]]
    ) -> dict[str, Any]:
        ttype = self.registry.type_of(twin_id)
        out = {}
        for signal, (ts, value) in sorted(reported.items()):
            spec = ttype.telemetry.get(signal)
            if spec is None:
                continue
            out[signal] = {"ts": ts, "value": value, "unit": spec.unit}
        return out

    def twin_view(self, twin_id: str, as_of: float | None = None) -> dict[str, Any]:
        """A twin's document, reported and desired state; as it was at ``as_of`` if given."""
        self.registry.twin(twin_id)  # raises UnknownTwinError
        live = self.live[twin_id]
        if as_of is None:
            doc = self.registry.document(twin_id)
            view = {
                **doc,
                "revision": live.revision,
                "status": live.status,
                "last_received": live.last_received,
                "reported": self._reported_view(twin_id, live.reported),
                "virtual": {
                    s: {"ts": ts, "value": v} for s, (ts, v) in sorted(live.virtual.items())
                },
                "desired": live.desired,
                "as_of": None,
            }
            return mark_quality(view)
        revision = self.store.get_document(twin_id, as_of)
        if revision is not None:
            doc = {k: v for k, v in revision.doc.items() if k != "desired"}
            rev, desired = revision.rev, revision.doc.get("desired", {})
        else:
            # before the twin was registered (e.g. back-filled history): nothing was desired
            doc, rev, desired = self.registry.document(twin_id), 0, {}
        latest = self.store.latest(twin_id, as_of)
        reported = {
            s: (ts, self.registry.rules[(twin_id, s)].restore(v))
            for s, (ts, v) in latest.items()
            if (twin_id, s) in self.registry.rules
        }
        virtual = {
            s: {"ts": ts, "value": v}
            for s, (ts, v) in sorted(latest.items())
            if (twin_id, s) not in self.registry.rules
        }
        view = {
            **doc,
            "revision": rev,
            "status": None,
            "last_received": None,
            "reported": self._reported_view(twin_id, reported),
            "virtual": virtual,
            "desired": desired,
            "as_of": as_of,
        }
        return mark_quality(view)

    def history(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        """Stored samples of a measured (declared) or derived (virtual) signal."""
        rule = self.registry.rules.get((twin_id, signal))
        if rule is None and not self.is_virtual(twin_id, signal):
            self.registry.rule(twin_id, signal)  # raises UnknownSignalError naming the choices
        rows = self.store.range(twin_id, signal, start, end, limit, newest_first)
        if rule is None:
            return rows
        return [(ts, rule.restore(v)) for ts, v in rows]

    def is_virtual(self, twin_id: str, signal: str) -> bool:
        """Whether ``signal`` is a derived signal of the twin (now or in the store)."""
        self.registry.twin(twin_id)
        if signal in self.live[twin_id].virtual:
            return True
        return (twin_id, signal) not in self.registry.rules and self.store.count(
            twin_id, signal
        ) > 0

    def stats(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "counters": dict(self.counters),
            "rejected_by_twin": {t: dict(c) for t, c in self.rejections.items()},
            "pending_points": self._pending_points,
            "store_down_since": self._store_down_since,
            "spool": self.spool.status() if self.spool is not None else None,
            "subscribers": self.bus.subscriber_count,
            "connectors": {n: c.status.as_dict() for n, c in self.connectors.items()},
        }

    # ------------------------------------------------------------------ commands

    def _new_record(
        self,
        twin_id: str,
        name: str,
        kind: Literal["desired", "command"],
        args: dict[str, Any],
        by: str = "api",
    ) -> CommandRecord:
        record = CommandRecord(uuid.uuid4().hex[:16], twin_id, name, kind, args, by=by)
        self.commands[record.id] = record
        while len(self.commands) > 1000:
            self.commands.popitem(last=False)
        return record

    async def _reject(self, record: CommandRecord, message: str, limit: str, by: str) -> None:
        record.status, record.error, record.finished = "rejected", message, time.time()
        data = {**record.as_dict(), "reason": message, "limit": limit, "by": by}
        await self.record([Event(ev.COMMAND_REJECTED, record.twin_id, data)])
        record.done.set()

    async def _take_rate(self, record: CommandRecord, by: str) -> None:
        try:
            self.guard.take(record.twin_id)
        except RateLimitedError as exc:
            await self._reject(record, str(exc), "rate_limit", by)
            raise

    async def set_desired(
        self, twin_id: str, name: str, value: Any, *, by: str = "api"
    ) -> CommandRecord:
        """Record a desired value and send it to the asset. Raises on invalid input."""
        spec = self.registry.desired_spec(twin_id, name)
        if spec.dtype == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        record = self._new_record(twin_id, name, "desired", {"value": value}, by)
        await self._take_rate(record, by)
        why = check_value(spec, value)
        if why:
            await self._reject(record, f"{twin_id}.{name}: {why}", "range", by)
            raise RejectedValueError("out_of_limits", f"{twin_id}.{name}: {why}")
        live = self.live[twin_id]
        why = rate_of_change_problem(
            f"{twin_id}.{name}",
            spec,
            value,
            self._previous_setting(twin_id, name, spec),
            time.time(),
        )
        if why:
            await self._reject(record, why, "max_rate", by)
            raise RejectedValueError("rate_of_change", why)
        connector = self._connector(twin_id, "desired", name)
        live.desired[name] = {"value": value, "ts": record.created, "by": by, "command": record.id}
        doc = {**self.registry.document(twin_id), "desired": live.desired}
        live.revision = await self._write(self.store.put_document, twin_id, doc, None)
        await self.record(
            [
                Event(
                    ev.DESIRED_PROPERTY_CHANGED,
                    twin_id,
                    {
                        "name": name,
                        "value": value,
                        "by": by,
                        "command": record.id,
                        "revision": live.revision,
                    },
                )
            ]
        )
        self._launch(record, connector.write(twin_id, name, value))
        return record

    async def call_command(
        self, twin_id: str, name: str, args: dict[str, Any] | None = None, *, by: str = "api"
    ) -> CommandRecord:
        """Validate a command and send it to the asset. Raises on invalid input."""
        spec = self.registry.command_spec(twin_id, name)
        record = self._new_record(twin_id, name, "command", dict(args or {}), by)
        await self._take_rate(record, by)
        try:
            record.args = check_arguments(twin_id, name, spec, dict(args or {}))
        except RejectedValueError as exc:
            await self._reject(record, str(exc), "arguments", by)
            raise
        if spec.allowed_states is not None:
            state = self.live[twin_id].reported.get("state")
            current = state[1] if state else None
            if current not in spec.allowed_states:
                message = (
                    f"{twin_id}.{name}: not allowed while the twin is {current!r}; "
                    f"allowed in: {', '.join(spec.allowed_states)}"
                )
                await self._reject(record, message, "allowed_states", by)
                raise RejectedValueError("not_allowed_in_state", message)
        connector = self._connector(twin_id, "commands", name)
        await self.record(
            [
                Event(
                    ev.COMMAND_SENT,
                    twin_id,
                    {"command": record.id, "name": name, "args": record.args, "by": by},
                )
            ]
        )
        self._launch(record, connector.call(twin_id, name, record.args))
        return record

    def _previous_setting(self, twin_id: str, name: str, spec: Any) -> tuple[Any, float] | None:
        """The setting's last desired value and when it was set, else what the asset reports."""
        live = self.live[twin_id]
        last = live.desired.get(name)
        if isinstance(last, dict) and "value" in last:
            return last["value"], float(last.get("ts") or float("nan"))
        if spec.reported_by is not None:
            reported = live.reported.get(spec.reported_by)
            if reported is not None:
                return reported[1], float("nan")
        return None

    def _connector(self, twin_id: str, group: str, name: str) -> Connector:
        cname = self.registry.connector_for(twin_id, group, name)
        connector = self.connectors.get(cname) if cname else None
        if connector is None:
            raise CommandError(f"{twin_id}.{name}: no connector is bound to carry it to the asset")
        return connector

    def _launch(self, record: CommandRecord, action: Any) -> None:
        task = asyncio.create_task(self._send(record, action))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, record: CommandRecord, action: Any) -> None:
        try:
            record.result = await asyncio.wait_for(action, timeout=self.command_timeout_s)
            record.status = "acknowledged"
            kind = ev.COMMAND_ACKNOWLEDGED
        except CommandError as exc:
            record.status, record.error, kind = "failed", str(exc), ev.COMMAND_FAILED
        except TimeoutError:
            record.status, kind = "failed", ev.COMMAND_FAILED
            record.error = f"no acknowledgement within {self.command_timeout_s:g} s"
        record.finished = time.time()
        result = record.result if isinstance(record.result, str | int | float | bool) else None
        # the outcome is stored before anyone waiting on the command hears of it
        try:
            await self.record(
                [
                    Event(
                        kind,
                        record.twin_id,
                        {
                            "command": record.id,
                            "name": record.name,
                            "kind": record.kind,
                            "args": record.args,
                            "error": record.error,
                            "result": result,
                            "latency_s": round(record.finished - record.created, 4),
                            "by": record.by,
                        },
                    )
                ]
            )
        finally:
            record.done.set()

    async def wait_command(self, record: CommandRecord, timeout: float) -> CommandRecord:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(record.done.wait(), timeout)
        return record
