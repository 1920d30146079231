"""The connector contract (CN: physical entity ↔ twin data).

A connector owns the conversation with one source (an OPC UA server, a broker, a
PLC). It turns what the source reports into :class:`Reading` batches handed to an
:class:`IngestSink`, and carries desired values and commands back to the source.

Lifecycle: ``await connector.start()`` returns at once and keeps (re)connecting in
the background with exponential back-off; ``await connector.stop()`` ends it. Use
``async with connector:`` to get both. ``status`` tells whether it is connected.

To add a protocol: subclass :class:`Connector`, set ``protocol``, implement
``_run`` (connect, stream, return or raise when the link drops), ``write`` and
``call``, and register the class with :func:`register_connector`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, overload

import numpy as np

from twinworks.spec.schema import BindingSpec, ReconnectSpec
from twinworks.store.base import Columns, DeadLetter

__all__ = [
    "Backoff",
    "Connector",
    "ConnectorStatus",
    "DeadLetterSink",
    "IngestSink",
    "Origin",
    "QualityListener",
    "Reading",
    "ReadingColumns",
    "connector_class",
    "connector_protocols",
    "register_connector",
]

log = logging.getLogger(__name__)


class Origin(NamedTuple):
    """The raw message some readings came from, kept as a dead letter if they are rejected."""

    payload: bytes
    topic: str | None = None  # where it arrived: an MQTT topic, a register, a URL path


class Reading(NamedTuple):
    """A value as a source reported it, before validation."""

    twin_id: str
    signal: str
    ts: float  # seconds since epoch (UTC), source time when the source gives one
    value: Any
    unit: str | None = None  # None: the signal's declared unit
    origin: Origin | None = None  # readings of one message share it (one dead letter per message)


class ReadingColumns(Sequence[Reading]):
    """Numeric readings of many messages as arrays: what a connector's fast path hands over.

    ``columns`` holds the samples (see :class:`~twinworks.store.base.Columns`: float
    values of (twin, signal) rows of the connector's own names table) and
    ``message[i]`` the number of the message sample ``i`` came from. ``exact(ms)``
    returns the readings of messages ``ms`` as the per-reading path makes them
    (original value types, the raw payload as origin). The runtime checks the arrays
    against the twins' rules at once and sends only the messages with a sample that
    fails through the per-reading checks, so their dead letters say exactly what the
    per-reading path says. As a sequence it is the readings of every message, for
    sinks that want them one by one.
    """

    __slots__ = ("_all", "_messages", "columns", "exact", "message")

    def __init__(
        self,
        columns: Columns,
        message: np.ndarray,
        exact: Callable[[Sequence[int]], list[Reading]],
        messages: int,
    ) -> None:
        self.columns = columns
        self.message = message
        self.exact = exact
        self._all: list[Reading] | None = None
        self._messages = messages

    def _readings(self) -> list[Reading]:
        if self._all is None:
            self._all = self.exact(range(self._messages))
        return self._all

    def __len__(self) -> int:
        return len(self.columns)

    @overload
    def __getitem__(self, i: int) -> Reading: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Reading]: ...
    def __getitem__(self, i: int | slice) -> Reading | Sequence[Reading]:
        return self._readings()[i]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self._readings())


class IngestSink(Protocol):
    def __call__(self, readings: Sequence[Reading], source: str) -> Awaitable[Any]:
        """Hand readings over; the awaitable resolves once they are durably stored.

        Connectors that need at-least-once delivery await it before acknowledging
        to their source; the others may drop it.
        """
        ...


@dataclass
class ConnectorStatus:
    name: str
    protocol: str
    connected: bool = False
    since: float | None = None
    reconnects: int = 0
    last_error: str | None = None
    readings: int = 0
    last_activity: float | None = None  # wall-clock time the source was last heard from
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "connected": self.connected,
            "since": self.since,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "readings": self.readings,
            "last_activity": self.last_activity,
            **self.details,
        }


class Backoff:
    """Exponential back-off with jitter: delays grow by ``multiplier`` up to ``max_s``.

    Jitter spreads reconnecting clients apart so that a restarted server is not hit
    by all of them at the same instant. ``max_s`` is a hard ceiling: jitter never
    pushes a delay above it (at the ceiling it only shortens delays), because an
    operator who configures "at most 4 s" must be able to rely on it.
    """

    def __init__(self, spec: ReconnectSpec, rng: random.Random | None = None) -> None:
        self.spec = spec
        self._rng = rng or random.Random()
        self._next = min(spec.initial_s, spec.max_s)

    def reset(self) -> None:
        self._next = min(self.spec.initial_s, self.spec.max_s)

    def next_delay(self) -> float:
        base = self._next
        self._next = min(self.spec.max_s, self._next * self.spec.multiplier)
        spread = base * self.spec.jitter
        low, high = max(0.0, base - spread), min(self.spec.max_s, base + spread)
        return self._rng.uniform(low, high) if high > low else high


# called with (event kind, connector name, data) for connection changes
StatusListener = Callable[[str, str, dict[str, Any]], None]

# called with a payload that could not be ingested (not JSON, unknown twin, ...)
DeadLetterSink = Callable[[DeadLetter], None]

# called with (twin id, signal, source time, quality, detail) when a signal's quality
# changes: "good", "uncertain" or "bad" (OPC UA status codes; detail names the code)
QualityListener = Callable[[str, str, float, str, "str | None"], None]


class Connector(abc.ABC):
    protocol: ClassVar[str]
    # True when the source reports changes only (OPC UA subscriptions): an unchanged
    # value is then still current while the link is alive, so freshness is judged by
    # the link's activity, not by the age of the newest value.
    by_exception: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        spec: Any,
        bindings: Sequence[tuple[str, BindingSpec]],
        sink: IngestSink,
        on_status: StatusListener | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.bindings = list(bindings)
        self.sink = sink
        self.status = ConnectorStatus(name, self.protocol)
        self._on_status = on_status
        self._on_dead_letter: DeadLetterSink | None = None
        # set by the runtime; connectors whose protocol has a quality report through it
        self.on_quality: QualityListener | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        reconnect = getattr(spec, "reconnect", None) or ReconnectSpec()
        self.backoff = Backoff(reconnect)

    def attach(
        self,
        sink: IngestSink,
        on_status: StatusListener | None,
        on_dead_letter: DeadLetterSink | None = None,
    ) -> None:
        """Point the connector at a runtime (for connectors built before it)."""
        self.sink = sink
        self._on_status = on_status
        self._on_dead_letter = on_dead_letter

    def dead_letter(
        self,
        reason: str,
        message: str,
        payload: bytes,
        *,
        twin_id: str | None = None,
        topic: str | None = None,
        size: int | None = None,
    ) -> None:
        """Hand over a payload that cannot be ingested, with why (see ``DeadLetter``)."""
        self.status.details["dead_letters"] = self.status.details.get("dead_letters", 0) + 1
        letter = DeadLetter(self.name, reason, message, payload, twin_id, topic, size)
        if self._on_dead_letter is None:
            log.warning("%s: dead letter (%s): %s", self.name, reason, message)
        else:
            self._on_dead_letter(letter)

    def report_quality(
        self, twin_id: str, signal: str, ts: float, quality: str, detail: str | None = None
    ) -> None:
        """Tell the runtime that a signal turned good, uncertain or bad (call on changes only)."""
        if self.on_quality is None:
            log.info("%s: %s.%s is %s (%s)", self.name, twin_id, signal, quality, detail)
        else:
            self.on_quality(twin_id, signal, ts, quality, detail)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._supervise(), name=f"connector:{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_connected(False, None)

    async def __aenter__(self) -> Connector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.status.connected:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _supervise(self) -> None:
        """Run the link; when it drops, wait a back-off delay and run it again."""
        while not self._stopping.is_set():
            error: str | None = None
            try:
                await self._run()
                error = "link closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the link means: reconnect
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._stopping.is_set():
                break
            self._set_connected(False, error)
            self.status.reconnects += 1
            delay = self.backoff.next_delay()
            log.warning("%s: %s; reconnecting in %.1f s", self.name, error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def _set_connected(self, connected: bool, error: str | None) -> None:
        if connected == self.status.connected:
            if error:
                self.status.last_error = error
            return
        self.status.connected = connected
        self.status.since = time.time()
        if connected:
            self.status.last_activity = self.status.since
            # recovered: an error shown next to "connected" would send operators looking
            # for a problem that is gone (``reconnects`` still counts what happened)
            self.status.last_error = None
        if error:
            self.status.last_error = error
        if connected:
            self.backoff.reset()
        if self._on_status is not None:
            kind = "ConnectorConnected" if connected else "ConnectorDisconnected"
            self._on_status(kind, self.name, {"protocol": self.protocol, "error": error})

    # ----------------------------------------------------------------- protocol

    @abc.abstractmethod
    async def _run(self) -> None:
        """Connect, call ``self._set_connected(True, None)``, stream until the link drops."""

    @abc.abstractmethod
    async def write(self, twin_id: str, name: str, value: Any) -> Any:
        """Write a desired value to the source. Raises CommandError when refused.

        Returns None, or a note for the acknowledgement (e.g. that the value was rounded).
        """

    @abc.abstractmethod
    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        """Call a command on the source. Raises CommandError when refused."""

    def reachable(self, twin_id: str) -> bool:
        """Whether the asset of ``twin_id`` can be heard: by default, whether the link is up.

        Protocols whose assets come and go behind a link that stays up (a Sparkplug
        edge node or device that dies while the broker runs) answer per twin.
        """
        return self.status.connected

    def binding(self, twin_id: str) -> BindingSpec | None:
        for tid, binding in self.bindings:
            if tid == twin_id:
                return binding
        return None


_REGISTRY: dict[str, type[Connector]] = {}


def register_connector(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make a connector available for its ``protocol``."""
    _REGISTRY[cls.protocol] = cls
    return cls


def connector_class(protocol: str) -> type[Connector]:
    try:
        return _REGISTRY[protocol]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"no connector for protocol {protocol!r}; known: {known}") from None


def connector_protocols() -> list[str]:
    """The protocols with a registered connector (for conformance tests and messages)."""
    return sorted(_REGISTRY)
