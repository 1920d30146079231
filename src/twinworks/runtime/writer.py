"""Write-behind: accepted points, events and dead letters go to the store in batches.

A single writer task takes what is queued and appends it to the store on a
dedicated thread, so the event loop never waits on a disk. Only after a batch is
durable does it hand the batch to ``on_stored`` (the twin state), so whatever a
client sees is also in the store.

While the store is down, points go to the on-disk buffer (``spool``) if there is
one, else they wait in memory; events and dead letters wait in memory (bounded).
The store is tried again with doubling delays, and once it answers the buffer is
drained into it in the same transactions as new data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from twinworks.errors import StoreError
from twinworks.runtime.reports import IngestReport
from twinworks.runtime.spool import DiskSpool, SpoolFull
from twinworks.store.base import Columns, DeadLetter, Event, Point, StoredEvent, TwinStore

__all__ = ["Chunk", "WriteBehind"]

log = logging.getLogger(__name__)

# waiting between attempts at a store that is down (doubling from min to max)
_RETRY_MIN_S = 0.1
_RETRY_MAX_S = 5.0
# kept in memory while the store is down; beyond these the oldest are dropped (counted)
_MAX_PENDING_EVENTS = 100_000
_MAX_PENDING_LETTERS = 10_000


@dataclass
class Chunk:
    """Points queued together, and the future of whoever waits for them to be stored."""

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


def _drained_chunks(rows: list[tuple[Point, bool]]) -> list[Chunk]:
    """Points from the on-disk buffer as chunks nobody waits for (their sources were told)."""
    measured = [p for p, derived in rows if not derived]
    derived = [p for p, is_derived in rows if is_derived]
    chunks = []
    if measured:
        chunks.append(Chunk(measured, None, IngestReport(len(measured)), drained=True))
    if derived:
        chunks.append(Chunk(derived, None, IngestReport(len(derived)), derived=True, drained=True))
    return chunks


OnStored = Callable[[list[Chunk], list[int], list[StoredEvent]], None]


class WriteBehind:
    """Queues for the store, the writer task that empties them, and outage handling."""

    def __init__(
        self,
        store: TwinStore,
        on_stored: OnStored,
        counters: Counter[str],
        *,
        spool: DiskSpool | None = None,
        max_batch: int = 20_000,
        max_pending: int = 2_000_000,
        max_dead_letters: int = 100_000,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        self.counters = counters
        self.spool = spool
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.max_dead_letters = max_dead_letters  # kept in the store; older ones are trimmed
        self.stop_timeout_s = stop_timeout_s
        # called on the writer thread with events once they are stored and before they are
        # published (the audit trail); an exception fails the action that recorded them
        self.event_hooks: list[Callable[[list[StoredEvent]], None]] = []
        self.running = False
        self.pending_points = 0
        self.store_down_since: float | None = None  # wall-clock time of the first failure
        self._chunks: list[Chunk] = []
        self._events: list[Event] = []
        self._letters: list[DeadLetter] = []
        self._letters_since_trim = 0
        self._next_probe = 0.0  # monotonic time of the next attempt at a store that is down
        self._retry_delay = _RETRY_MIN_S
        self._stop_deadline: float | None = None
        self._writing = False  # a batch taken off the queues is being written
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Start the store thread; store calls (:meth:`call`) work from now on."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="twinworks-store")
        self.running = True

    def start(self) -> None:
        """Start the writer task that empties the queues."""
        self._task = asyncio.create_task(self._loop(), name="twinworks-writer")

    async def close(self) -> None:
        """Stop taking points; write what is queued (up to ``stop_timeout_s`` if the store is
        down) and stop the store thread."""
        self.running = False
        self._stop_deadline = time.monotonic() + self.stop_timeout_s
        self._wake.set()
        if self._task is not None:
            await self._task  # drains what is queued before it returns
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run a store call on the writer thread, serialised with the batch appends."""
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------------ queues

    def queue(self, chunk: Chunk) -> None:
        """Queue a chunk; its future resolves once stored (or fails with the reason)."""
        assert chunk.future is not None
        if not self.running:
            chunk.future.set_exception(StoreError("the runtime is not running"))
            return
        size = chunk.size
        if not chunk.derived and self.pending_points + size > self.max_pending:
            self.counters["dropped_backlog"] += size
            log.error("ingest backlog full (%d points); dropping %d", self.max_pending, size)
            chunk.future.set_exception(
                StoreError("ingest backlog is full; the store is not keeping up")
            )
            return
        self._chunks.append(chunk)
        self.pending_points += size
        self._wake.set()

    def queue_events(self, events: Sequence[Event]) -> None:
        self._events.extend(events)
        self._wake.set()

    def queue_letter(self, letter: DeadLetter) -> None:
        self.counters["dead_letters"] += 1
        if len(self._letters) >= _MAX_PENDING_LETTERS:
            # only while the store is down; the counts above stay exact
            self._letters.pop(0)
            self.counters["dead_letters_not_kept"] += 1
        self._letters.append(letter)
        self._wake.set()

    async def record(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Store events now (serialised with telemetry writes); the hooks see them first."""
        stored: list[StoredEvent] = await self.call(self._append_events, list(events))
        return stored

    def _append_events(self, events: list[Event]) -> list[StoredEvent]:
        stored = self.store.append_events(events)
        for hook in self.event_hooks:
            hook(stored)
        return stored

    @property
    def busy(self) -> bool:
        """Anything queued or being written (``flush`` waits for this to end)."""
        return bool(
            self._chunks or self._events or self._letters or self.pending_points or self._writing
        )

    # ------------------------------------------------------------------ the writer task

    def _has_work(self) -> bool:
        # a buffer left while stopping with the store down is drained at the next start
        backlog = self.spool is not None and len(self.spool) > 0
        return bool(
            self._chunks
            or self._events
            or self._letters
            or (backlog and (self.running or self.store_down_since is None))
        )

    async def _loop(self) -> None:
        while True:
            if not self._has_work():
                if not self.running:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            self._writing = True
            try:
                progressed = await self._step()
            finally:
                self._writing = False
            if progressed:
                continue
            if not self.running and self._give_up_on_stop():
                return
            delay = max(0.0, self._next_probe - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    def _take_chunks(self) -> tuple[list[Chunk], int]:
        chunks: list[Chunk] = []
        size = 0
        while self._chunks and (not chunks or size + self._chunks[0].size <= self.max_batch):
            chunk = self._chunks.pop(0)
            chunks.append(chunk)
            size += chunk.size
        return chunks, size

    async def _step(self) -> bool:
        """Write one batch; False when nothing could be written (the store is down)."""
        if self.store_down_since is not None and time.monotonic() < self._next_probe:
            if self.spool is not None and self._chunks:
                chunks, size = self._take_chunks()
                return await self._spool_chunks(chunks, size)
            return False
        chunks, size = self._take_chunks()
        events, self._events = self._events, []
        letters, self._letters = self._letters, []
        drain_id, drained = 0, []
        if self.spool is not None and len(self.spool) and size < self.max_batch:
            try:
                drain_id, rows = await self.call(self.spool.take, self.max_batch - size)
            except StoreError as exc:
                log.error("cannot read the on-disk buffer: %s", exc)
                rows = []
            drained = _drained_chunks(rows)
        try:
            stored, counts = await self.call(self._store_batch, chunks + drained, events, letters)
        except StoreError as exc:
            self._mark_down(exc)
            self._events[:0] = events[-_MAX_PENDING_EVENTS:]
            self._letters[:0] = letters[-_MAX_PENDING_LETTERS:]
            del self._events[:-_MAX_PENDING_EVENTS]
            del self._letters[:-_MAX_PENDING_LETTERS]
            if chunks and self.spool is not None:
                await self._spool_chunks(chunks, size)
            else:
                # keep them queued and try again; nothing acknowledged is lost
                self._chunks[:0] = chunks
            return False
        if drain_id:
            assert self.spool is not None
            try:
                await self.call(self.spool.ack, drain_id)
            except StoreError as exc:
                # drained again later; the store's key drops the repeats
                log.error("cannot trim the on-disk buffer: %s", exc)
            self.counters["drained"] += sum(len(c.points) for c in drained)
        if self.store_down_since is not None:
            self._mark_up()
        self.pending_points -= size
        all_chunks = chunks + drained
        added = sum(counts)
        for chunk, new in zip(all_chunks, counts, strict=True):
            chunk.report.stored = new  # exact: the store counted each chunk's new points
        self.counters["accepted"] += sum(c.size for c in all_chunks if not c.derived)
        self.counters["stored"] += added  # measurements and derived values
        self.counters["duplicates"] += sum(c.size for c in all_chunks) - added
        self.counters["derived"] += sum(c.size for c in all_chunks if c.derived)
        self.on_stored(all_chunks, counts, stored)
        for chunk in all_chunks:
            if chunk.future is not None and not chunk.future.done():
                chunk.future.set_result(chunk.report)
        return True

    def _mark_down(self, exc: Exception) -> None:
        self.counters["store_errors"] += 1
        if self.store_down_since is None:
            self.store_down_since = time.time()
            self._retry_delay = _RETRY_MIN_S
            where = "buffering on disk" if self.spool is not None else "holding points in memory"
            log.error("store unavailable (%s); %s and retrying", exc, where)
        else:
            self._retry_delay = min(_RETRY_MAX_S, self._retry_delay * 2)
            log.warning("store still unavailable (%s); next try in %.1f s", exc, self._retry_delay)
        self._next_probe = time.monotonic() + self._retry_delay

    def _mark_up(self) -> None:
        assert self.store_down_since is not None
        log.warning("store available again after %.1f s", time.time() - self.store_down_since)
        self.store_down_since = None
        self._retry_delay = _RETRY_MIN_S

    async def _spool_chunks(self, chunks: list[Chunk], size: int) -> bool:
        """Put points in the on-disk buffer; their sources learn they are safe."""
        assert self.spool is not None
        measured = [p for c in chunks if not c.derived for p in c.all_points()]
        derived = [p for c in chunks if c.derived for p in c.all_points()]
        try:
            if measured:
                await self.call(self.spool.put, measured, False)
            if derived:
                await self.call(self.spool.put, derived, True)
        except SpoolFull as exc:
            # refused, not lost: the sources are not told the points are safe
            self.counters["spool_rejected"] += size
            self.pending_points -= size
            for chunk in chunks:
                if chunk.future is not None and not chunk.future.done():
                    chunk.future.set_exception(SpoolFull(str(exc)))
            return True
        except StoreError as exc:
            log.error("the on-disk buffer failed too (%s); holding points in memory", exc)
            self._chunks[:0] = chunks
            return False
        self.counters["spooled"] += size
        self.pending_points -= size
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
        if unsaved or self._events or self._letters:
            # none of these points was acknowledged to its source, so a broker resends them
            log.error(
                "stopped with the store unavailable: %d points (not acknowledged), %d events "
                "and %d dead letters were not stored",
                unsaved,
                len(self._events),
                len(self._letters),
            )
        self._chunks.clear()
        self.pending_points = 0
        self._events.clear()
        self._letters.clear()
        return True

    def _store_batch(
        self, chunks: list[Chunk], events: list[Event], letters: list[DeadLetter]
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
