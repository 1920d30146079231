"""The runtime: the kernel's parts composed, on one asyncio loop.

A reading goes: connector → :class:`~.ingest.Intake` (validated; bad values become
``TelemetryRejected`` events and dead letters and never hold up good ones) →
:class:`~.writer.WriteBehind` (batched onto the store on its own thread, spooled to
disk while the store is down) → once durable, :class:`~.state.TwinState` (reported and
virtual state) and :class:`~.status.StatusBoard` (status from the type's policy) →
the :class:`~.bus.ChangeBus` (streams, services). Desired values and commands go the
other way through :class:`~.commands.CommandDispatcher`; :class:`~.views.TwinViews`
reads twins now and as of any past time. docs/architecture.md draws the whole path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from twinworks.connect.base import Connector, Reading
from twinworks.runtime import events as ev
from twinworks.runtime.bus import ChangeBus, Subscription
from twinworks.runtime.commands import CommandDispatcher
from twinworks.runtime.connectors import build_connectors
from twinworks.runtime.ingest import Intake
from twinworks.runtime.quality import SignalQuality
from twinworks.runtime.registry import TwinRegistry
from twinworks.runtime.reports import CommandRecord, IngestReport, Rejection
from twinworks.runtime.safety import CommandGuard, RateLimit
from twinworks.runtime.service import TwinService
from twinworks.runtime.spool import DiskSpool
from twinworks.runtime.state import TwinState
from twinworks.runtime.status import StatusBoard
from twinworks.runtime.views import TwinViews
from twinworks.runtime.writer import Chunk, WriteBehind
from twinworks.spec.schema import TwinDefinition
from twinworks.store.base import DeadLetter, Event, Point, StoredEvent, TwinStore, Value

__all__ = ["CommandRecord", "IngestReport", "Rejection", "Runtime"]

log = logging.getLogger(__name__)


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
        self.counters: Counter[str] = Counter()
        self.connectors: dict[str, Connector] = dict(connectors or {})
        self._given_connectors = connectors is not None
        self.services: dict[str, TwinService] = {s.name: s for s in services}
        self.state = TwinState(self.registry)
        self.live = self.state.live
        self.writer = WriteBehind(
            store,
            self._on_stored,
            self.counters,
            spool=spool,
            max_batch=max_batch,
            max_pending=max_pending,
            max_dead_letters=max_dead_letters,
            stop_timeout_s=stop_timeout_s,
        )
        self.event_hooks = self.writer.event_hooks  # see WriteBehind.event_hooks
        self.intake = Intake(self.registry, self.writer, self.counters, self.connectors)
        self.rejections = self.intake.rejections
        self.statuses = StatusBoard(
            self.registry, self.live, self.connectors, self.bus, stale_after_s
        )
        self.conditions = self.statuses.conditions
        # time-dependent command limits (rate of change, commands per twin): see safety.py
        self.guard = CommandGuard.for_definition(definition, command_rate)
        self.dispatcher = CommandDispatcher(
            self.registry,
            self.state,
            self.connectors,
            self.guard,
            self.record,
            lambda twin_id, doc: self.writer.call(store.put_document, twin_id, doc, None),
            command_timeout_s,
        )
        self.commands = self.dispatcher.records
        self.views = TwinViews(self.registry, store, self.live)
        # what sources say about their values (OPC UA status): a series, events, a condition
        self.quality = SignalQuality(
            self.live, self.submit_derived, self.record, self.set_condition
        )
        for connector in self.connectors.values():
            connector.attach(self.submit, self._on_connector, self.dead_letter)
            connector.on_quality = self.quality.report
        self.started_at: float | None = None

    @property
    def spool(self) -> DiskSpool | None:
        """Store-and-forward: where accepted points wait while the store is unavailable."""
        return self.writer.spool

    async def start(self) -> None:
        if self.writer.running:
            return
        self.writer.open()
        self.started_at = time.time()
        await self.writer.call(self.state.register_documents, self.store, self.definition.name)
        await self.writer.call(self.state.load_reported, self.store)
        self.writer.start()
        self.statuses.start()
        if not self._given_connectors:
            built = build_connectors(
                self.definition,
                self.submit,
                self._on_connector,
                self.dead_letter,
                self.quality.report,
            )
            self.connectors.update(built)  # in place: the parts hold this very dict
        started = {
            "definition": self.definition.name,
            "twins": len(self.live),
            "connectors": sorted(self.connectors),
        }
        await self.record([Event(ev.RUNTIME_STARTED, None, started)])
        for connector in self.connectors.values():
            await connector.start()
        for service in self.services.values():
            await service.start(self)

    async def stop(self) -> None:
        if not self.writer.running:
            return
        for service in reversed(list(self.services.values())):
            try:
                await service.stop()
            except Exception:  # one failing service must not keep the others running
                log.exception("service %s failed to stop", service.name)
        for connector in self.connectors.values():
            await connector.stop()
        self.dispatcher.cancel()
        await self.statuses.stop()
        self.writer.queue_events([Event(ev.RUNTIME_STOPPED, None, {})])
        await self.writer.close()  # drains what is queued before it returns

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_connector(self, kind: str, name: str, data: dict[str, Any]) -> None:
        # an event about one twin's or some twins' device is in each twin's own log
        # (`events --twin`); one about the whole link belongs to no twin
        body = {"connector": name, **data}
        twin = data.get("twin_id")
        twins = [twin] if isinstance(twin, str) else list(data.get("twins") or ())
        known = [t for t in twins if isinstance(t, str) and t in self.registry]
        events = [Event(kind, t, body) for t in known] or [Event(kind, None, body)]
        self.writer.queue_events(events)
        self.statuses.refresh()

    def validate(
        self, readings: Iterable[Reading], source: str, need_unit: bool = False
    ) -> tuple[list[Point], list[Rejection]]:
        return self.intake.validator.validate(readings, source, need_unit)

    def submit(
        self, readings: Sequence[Reading], source: str, need_unit: bool = False
    ) -> asyncio.Future[IngestReport]:
        """Validate readings and queue the good ones; the future resolves once they are stored.

        Connectors call this; the MQTT connector with ``ReadingColumns`` (checked as arrays).
        """
        return self.intake.submit(readings, source, need_unit)

    def submit_derived(self, points: Sequence[Point]) -> asyncio.Future[IngestReport]:
        """Queue values computed by models and services (the virtual entity's data).

        They are stored as time series beside the measurements, shown under ``virtual``
        in twin views and published as ``virtual`` messages. Names must not clash with
        declared telemetry; by convention they are ``producer.quantity`` (``ukf.tool_wear``).
        """
        return self.intake.submit_derived(points)

    async def ingest(
        self, readings: Sequence[Reading], source: str = "api", need_unit: bool = False
    ) -> IngestReport:
        """Validate and store readings; return once they are durable."""
        return await self.submit(readings, source, need_unit)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Keep a payload that never became readings (connectors call this), and count it."""
        self.intake.dead_letter(letter)

    def _on_stored(self, chunks: list[Chunk], counts: list[int], stored: list[StoredEvent]) -> None:
        """A batch is durable: update state, tell subscribers, refresh statuses."""
        publish = self.bus.subscriber_count > 0
        applied = self.state.apply(chunks, time.time(), publish)
        if publish:
            self.bus.publish_values("telemetry", applied.changes)
            self.bus.publish_values("virtual", applied.derived)
            self.bus.publish_events(stored)
        if applied.state_events:
            self.writer.queue_events(applied.state_events)
        self.statuses.after_data(applied.touched, applied.restated)

    async def record(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Store events now (serialised with telemetry writes) and publish them."""
        stored = await self.writer.record(events)
        self.bus.publish_events(stored)
        return stored

    async def flush(self) -> None:
        """Wait until everything queued so far is stored or buffered (for tests and shutdown)."""
        while self.writer.busy:
            await asyncio.sleep(0.005)

    def refresh_statuses(self, changed: Iterable[str] | None = None) -> None:
        """Recompute statuses now (all twins, or ``changed`` and their ancestors)."""
        self.statuses.refresh(changed)

    def set_condition(self, twin_id: str, name: str, active: bool) -> None:
        """Hold (or release) a named condition such as an active alarm on a twin.

        While a twin holds any condition its status is ``alarm`` (unless it is
        faulted, disconnected, stale or offline, which say more).
        """
        self.statuses.set_condition(twin_id, name, active)

    def subscribe(self, twin_ids: Iterable[str] | None = None) -> Subscription:
        return self.bus.subscribe_twins(twin_ids)

    def twin_view(self, twin_id: str, as_of: float | None = None) -> dict[str, Any]:
        """A twin's document, reported and desired state; as it was at ``as_of`` if given."""
        return self.views.twin_view(twin_id, as_of)

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
        return self.views.history(twin_id, signal, start, end, limit, newest_first)

    def is_virtual(self, twin_id: str, signal: str) -> bool:
        return self.views.is_virtual(twin_id, signal)

    def stats(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "counters": dict(self.counters),
            "rejected_by_twin": {t: dict(c) for t, c in self.rejections.items()},
            "pending_points": self.writer.pending_points,
            "store_down_since": self.writer.store_down_since,
            "spool": self.spool.status() if self.spool is not None else None,
            "subscribers": self.bus.subscriber_count,
            "connectors": {n: c.status.as_dict() for n, c in self.connectors.items()},
        }

    async def set_desired(
        self, twin_id: str, name: str, value: Any, *, by: str = "api"
    ) -> CommandRecord:
        """Record a desired value and send it to the asset. Raises on invalid input."""
        return await self.dispatcher.set_desired(twin_id, name, value, by=by)

    async def call_command(
        self, twin_id: str, name: str, args: dict[str, Any] | None = None, *, by: str = "api"
    ) -> CommandRecord:
        """Validate a command and send it to the asset. Raises on invalid input."""
        return await self.dispatcher.call_command(twin_id, name, args, by=by)

    async def wait_command(self, record: CommandRecord, timeout: float) -> CommandRecord:
        return await self.dispatcher.wait(record, timeout)
