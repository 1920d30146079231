"""The twin store interface and the records it holds.

A store keeps three kinds of twin data (the DD dimension):

- **telemetry**: time series of ``(twin, signal, time) → value``, appended in batches;
  the triple is the idempotency key, so a point delivered twice is stored once;
- **documents**: every revision of each twin's document (attributes, relationships,
  desired state), so a twin can be read back as it was at any past time;
- **events**: an append-only log of what happened (commands, rejections, model
  updates), each with a monotonically increasing id;
- **dead letters**: payloads that could not be ingested (not JSON, wrong fields,
  bad values, unknown twin, oversized), each with its reason and the raw bytes, and
  exact counts per (twin, reason) that outlive the letters themselves.
- **model registry**: numbered versions of each twin's models (parameters, their
  uncertainty, validation scores) and the history of which version was active.

Times cross this interface as float seconds since the Unix epoch (UTC); backends
may store them with microsecond resolution. ``append`` returning means the points
are durable: they survive a crash of the process.
"""

from __future__ import annotations

import abc
import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, overload

import numpy as np

__all__ = [
    "Bucket",
    "Columns",
    "DeadLetter",
    "Event",
    "ModelVersion",
    "Point",
    "Revision",
    "StoredDeadLetter",
    "StoredEvent",
    "TwinStore",
    "Value",
    "from_us",
    "to_us",
]

Value = float | int | bool | str


class Point(NamedTuple):
    """One telemetry sample. A tuple, because millions of them cross the ingestion path."""

    twin_id: str
    signal: str
    ts: float  # seconds since the Unix epoch, UTC
    value: Value


class Columns(Sequence[Point]):
    """Numeric samples of many series as three arrays: the fast ingestion path's batch.

    Telemetry arrives in batches of thousands of samples a second; as arrays it is
    validated, deduplicated and written with NumPy instead of one Python tuple per
    sample. ``names`` is a table of (twin, signal) pairs shared by many batches (a
    connector's bindings, the runtime's registry); ``series[i]`` is the row of
    sample ``i`` in it, ``ts[i]`` its time (float seconds since the epoch, UTC) and
    ``values[i]`` its value (float64: float signals only).

    It is also a sequence of :class:`Point`, so that code written for point lists
    (the in-memory store, the on-disk buffer) takes it unchanged, one tuple at a time.
    """

    __slots__ = ("names", "series", "ts", "values")

    def __init__(
        self,
        names: Sequence[tuple[str, str]],
        series: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
    ) -> None:
        self.names = names
        self.series = series
        self.ts = ts
        self.values = values

    def __len__(self) -> int:
        return len(self.ts)

    @overload
    def __getitem__(self, i: int) -> Point: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Point]: ...
    def __getitem__(self, i: int | slice) -> Point | Sequence[Point]:
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        twin, signal = self.names[int(self.series[i])]
        return Point(twin, signal, float(self.ts[i]), float(self.values[i]))

    def __iter__(self) -> Iterator[Point]:
        names, new = self.names, tuple.__new__
        for s, t, v in zip(
            self.series.tolist(), self.ts.tolist(), self.values.tolist(), strict=True
        ):
            twin, signal = names[s]
            yield new(Point, (twin, signal, t, v))

    def take(self, which: np.ndarray) -> Columns:
        """The samples selected by a boolean mask or an index array, in a new batch."""
        return Columns(self.names, self.series[which], self.ts[which], self.values[which])

    def __repr__(self) -> str:
        return f"Columns({len(self)} samples of {len(np.unique(self.series))} series)"


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of one time bucket of a numeric signal."""

    start: float  # seconds since epoch, start of the bucket
    count: int
    min: float
    mean: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "start": self.start,
            "count": self.count,
            "min": self.min,
            "mean": self.mean,
            "max": self.max,
        }


@dataclass(frozen=True, slots=True)
class Revision:
    twin_id: str
    rev: int
    ts: float
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, named in the past tense (``CommandAcknowledged``)."""

    kind: str
    twin_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float | None = None  # None: stamped with the time it is appended


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    ts: float
    kind: str
    twin_id: str | None
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "kind": self.kind,
            "twin_id": self.twin_id,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload that could not be ingested, wholly or in part, kept with the reason why.

    ``reason`` is a short code (``not_json``, ``missing_fields``, ``unknown_twin``,
    ``out_of_range``, ``oversized``, ...); ``message`` says what was wrong, where, and
    what was expected. ``payload`` holds the raw bytes as received (cut to a limit for
    oversized ones; ``size`` keeps the original length).
    """

    source: str  # the connector's name, or "http"
    reason: str
    message: str
    payload: bytes
    twin_id: str | None = None  # the twin the payload claimed to be for, if it said
    topic: str | None = None  # where it arrived: MQTT topic, register, URL path
    size: int | None = None  # None: len(payload)
    ts: float | None = None  # None: stamped with the time it is appended


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    id: int
    ts: float
    source: str
    reason: str
    message: str
    payload: bytes
    twin_id: str | None
    topic: str | None
    size: int

    def as_dict(self) -> dict[str, Any]:
        try:
            text, encoding = self.payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(self.payload).decode("ascii"), "base64"
        return {
            "id": self.id,
            "ts": self.ts,
            "source": self.source,
            "twin_id": self.twin_id,
            "topic": self.topic,
            "reason": self.reason,
            "message": self.message,
            "payload": text,
            "payload_encoding": encoding,
            "size": self.size,
            "truncated": self.size > len(self.payload),
        }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a twin's model: its parameters, their uncertainty and its scores.

    ``status`` is ``candidate`` until judged, then ``accepted`` or ``rejected``;
    which version is *active* is kept separately, as a history of activations.
    """

    twin_id: str
    model: str
    version: int
    created: float
    parameters: dict[str, float]
    std: dict[str, float]
    scores: dict[str, float]
    source: str  # prior, calibration or manual
    parent: int | None
    status: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "twin_id": self.twin_id,
            "model": self.model,
            "version": self.version,
            "created": self.created,
            "parameters": self.parameters,
            "std": self.std,
            "scores": self.scores,
            "source": self.source,
            "parent": self.parent,
            "status": self.status,
            "note": self.note,
        }


MODEL_STATUSES = ("candidate", "accepted", "rejected")


def to_us(ts: float) -> int:
    """Seconds to integer microseconds; doubles near today resolve ~0.2 µs, so this is stable."""
    return round(ts * 1_000_000)


def from_us(us: int) -> float:
    return us / 1_000_000


class TwinStore(abc.ABC):
    """What every backend provides. Use it as a context manager to close it reliably."""

    # --------------------------------------------------------------- telemetry

    @abc.abstractmethod
    def append(self, points: Sequence[Point]) -> int:
        """Store a batch durably; return how many were new (duplicates are ignored)."""

    @abc.abstractmethod
    def range(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        """Raw samples with ``start <= ts < end``."""

    @abc.abstractmethod
    def buckets(
        self, twin_id: str, signal: str, start: float, end: float, width_s: float
    ) -> list[Bucket]:
        """min/mean/max/count of a numeric signal per bucket of ``width_s`` from ``start``.

        Buckets without samples are left out, so gaps in the data stay visible.
        """

    @abc.abstractmethod
    def latest(self, twin_id: str, as_of: float | None = None) -> dict[str, tuple[float, Value]]:
        """The newest sample of every signal of a twin, at or before ``as_of``."""

    @abc.abstractmethod
    def count(self, twin_id: str | None = None, signal: str | None = None) -> int:
        """Number of stored samples (of one twin, or one signal of it)."""

    # --------------------------------------------------------------- documents

    @abc.abstractmethod
    def put_document(self, twin_id: str, doc: dict[str, Any], ts: float | None = None) -> int:
        """Store a new revision of a twin's document; return its revision number (from 1)."""

    @abc.abstractmethod
    def get_document(self, twin_id: str, as_of: float | None = None) -> Revision | None:
        """The revision in force at ``as_of`` (default: now), or None."""

    @abc.abstractmethod
    def revisions(self, twin_id: str) -> list[Revision]:
        """Every revision of a twin, oldest first."""

    @abc.abstractmethod
    def twin_ids(self) -> list[str]:
        """Ids of the twins that have a document."""

    # --------------------------------------------------------------- events

    @abc.abstractmethod
    def append_events(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append events durably; return them with their ids and times."""

    @abc.abstractmethod
    def events(
        self,
        twin_id: str | None = None,
        kinds: Iterable[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredEvent]:
        """Events filtered by twin, kind and time; ``after_id`` pages forward."""

    def append_many(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        """Store several batches durably; return how many points of each were new.

        The runtime hands over the points of many sources at once and tells each
        source exactly how many of its points were duplicates. Backends override this
        to do it in one transaction; the default stores the batches one by one.
        """
        return [self.append(batch) for batch in batches]

    # --------------------------------------------------------------- dead letters

    @abc.abstractmethod
    def append_dead_letters(self, letters: Sequence[DeadLetter]) -> list[StoredDeadLetter]:
        """Keep letters durably and add them to the counts per (twin, reason)."""

    @abc.abstractmethod
    def dead_letters(
        self,
        twin_id: str | None = None,
        source: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredDeadLetter]:
        """Kept letters filtered by twin, source, reason and time; ``after_id`` pages forward."""

    @abc.abstractmethod
    def dead_letter_counts(self) -> dict[str | None, dict[str, int]]:
        """How many letters arrived per twin (None: no twin named) and reason, ever."""

    @abc.abstractmethod
    def delete_dead_letters(
        self, before: float | None = None, keep_newest: int | None = None
    ) -> int:
        """Drop kept letters older than ``before`` and beyond the newest ``keep_newest``.

        The counts are not reduced: they say how much bad data arrived, not how much
        is still kept. Returns the number of letters dropped.
        """

    # --------------------------------------------------------------- model registry

    @abc.abstractmethod
    def add_model_version(
        self,
        twin_id: str,
        model: str,
        parameters: dict[str, float],
        *,
        std: dict[str, float] | None = None,
        scores: dict[str, float] | None = None,
        source: str = "calibration",
        parent: int | None = None,
        status: str = "candidate",
        note: str = "",
        ts: float | None = None,
    ) -> ModelVersion:
        """Store a new version of a twin's model, numbered from 1 per (twin, model)."""

    @abc.abstractmethod
    def model_versions(self, twin_id: str, model: str | None = None) -> list[ModelVersion]:
        """Versions of a twin's models (or of one), by model then version."""

    @abc.abstractmethod
    def set_model_version_status(
        self,
        twin_id: str,
        model: str,
        version: int,
        status: str,
        scores: dict[str, float] | None = None,
    ) -> ModelVersion:
        """Record the verdict on a version (and scores added with it); KeyError if unknown."""

    @abc.abstractmethod
    def activate_model_version(
        self, twin_id: str, model: str, version: int, ts: float | None = None, reason: str = ""
    ) -> None:
        """Make a version the active one from ``ts`` on; KeyError if it does not exist."""

    @abc.abstractmethod
    def model_activations(self, twin_id: str, model: str) -> list[tuple[float, int, str]]:
        """Every activation of a twin's model, oldest first: (time, version, reason)."""

    def get_model_version(self, twin_id: str, model: str, version: int) -> ModelVersion | None:
        for item in self.model_versions(twin_id, model):
            if item.version == version:
                return item
        return None

    def active_model_version(
        self, twin_id: str, model: str, as_of: float | None = None
    ) -> ModelVersion | None:
        """The version active at ``as_of`` (default: now), or None."""
        chosen = None
        for ts, version, _ in self.model_activations(twin_id, model):
            if as_of is None or ts <= as_of:
                chosen = version
        return None if chosen is None else self.get_model_version(twin_id, model, chosen)

    # --------------------------------------------------------------- lifecycle

    def close(self) -> None:  # noqa: B027 - backends without resources need not override
        """Release connections and files."""

    def __enter__(self) -> TwinStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
