"""From a message on a topic to readings: topic templates and JSON payload mappings.

A binding declares a topic template (``plant/{twin_id}/telemetry``) and where each
telemetry value sits in the JSON payload (a dotted field path, a scale and offset,
or a table of state codes), and where the timestamp is and in which unit. This
module compiles those declarations once and applies them to each message; it
knows nothing of MQTT itself, so it is tested on plain bytes.

Everything that goes wrong with a payload is a :class:`PayloadError` with a reason
code and a message that says what was wrong, where, and what was expected; the
connector keeps such payloads as dead letters.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from twinworks.connect.base import Origin, Reading
from twinworks.spec.schema import MqttBinding, MqttField

__all__ = ["Columnar", "JsonMapping", "PayloadError", "TopicTemplate", "parse_json"]

_MISSING = object()
_TS_FACTOR = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
MAX_RECORDS = 10_000  # records in one JSON array (a gateway's batch)


class PayloadError(Exception):
    """A payload that cannot be turned into readings; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def parse_json(payload: bytes, where: str) -> Any:
    """Parse a JSON payload; orjson first (fast), Python's parser for NaN/Infinity."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        fast_error = exc
    # orjson refuses NaN and Infinity, which devices do send; Python's json reads
    # them, so that they are rejected as what they are (a NaN value), not as "not JSON"
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        pass
    raise PayloadError("not_json", f"{where}: the payload is not JSON ({fast_error})")


class TopicTemplate:
    """``plant/{twin_id}/telemetry``: the subscription filter and the twin id of a topic.

    >>> t = TopicTemplate("plant/{twin_id}/telemetry")
    >>> t.filter, t.twin_of("plant/cnc1/telemetry"), t.twin_of("plant/cnc1/other")
    ('plant/+/telemetry', 'cnc1', None)
    >>> t.topic_for("cnc2")
    'plant/cnc2/telemetry'
    """

    __slots__ = ("filter", "levels", "text", "twin_level")

    def __init__(self, text: str) -> None:
        self.text = text
        self.levels = text.split("/")
        self.twin_level = self.levels.index("{twin_id}") if "{twin_id}" in self.levels else None
        self.filter = "/".join("+" if lv == "{twin_id}" else lv for lv in self.levels)

    def topic_for(self, twin_id: str) -> str:
        return self.text.replace("{twin_id}", twin_id)

    def matches(self, topic: str) -> bool:
        return (
            self.twin_of(topic) is not None if self.twin_level is not None else topic == self.text
        )

    def twin_of(self, topic: str) -> str | None:
        """The twin id a topic names, or None when the topic does not fit the template."""
        if self.twin_level is None:
            return None
        levels = topic.split("/")
        if len(levels) != len(self.levels):
            return None
        for i, (have, want) in enumerate(zip(levels, self.levels, strict=True)):
            if i != self.twin_level and have != want:
                return None
        twin = levels[self.twin_level]
        return twin or None


def _path(text: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def _get(doc: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(doc, dict):
            doc = doc.get(part if isinstance(part, str) else str(part), _MISSING)
        elif isinstance(doc, list) and isinstance(part, int):
            doc = doc[part] if -len(doc) <= part < len(doc) else _MISSING
        else:
            return _MISSING
        if doc is _MISSING:
            return _MISSING
    return doc


class _Field:
    __slots__ = ("enum", "key", "linear", "offset", "path", "scale", "signal", "text")

    def __init__(self, signal: str, spec: MqttField) -> None:
        self.signal = signal
        self.text = spec.path
        self.path = _path(spec.path)
        # one plain key is by far the common case; it skips the walk
        self.key = spec.path if len(self.path) == 1 and isinstance(self.path[0], str) else None
        self.scale = spec.scale
        self.offset = spec.offset
        self.linear = spec.scale != 1.0 or spec.offset != 0.0
        self.enum = spec.enum

    @property
    def plain(self) -> bool:
        """One key, taken as it is: the common case, mapped without any checks."""
        return self.key is not None and not self.linear and self.enum is None


class Columnar:
    """How records of a plain mapping become arrays: one C call picks all their fields.

    ``get(record)`` gives the tuple (timestamp, field 1, field 2, ...) -- without the
    timestamp when the binding has none -- or raises KeyError when one is missing.
    Mappings with the same ``shape`` (one binding template over many twins) are read
    into the same arrays.
    """

    __slots__ = ("get", "has_ts", "linear", "shape", "ts_factor", "width")

    def __init__(self, mapping: JsonMapping) -> None:
        keys: list[str] = [f.key for f in mapping.fields if f.key is not None]
        self.has_ts = mapping.ts_key is not None
        if mapping.ts_key is not None:
            keys.insert(0, mapping.ts_key)
        # itemgetter of one key gives the value, not a 1-tuple: ask for it twice
        self.get = operator.itemgetter(*keys) if len(keys) > 1 else operator.itemgetter(*keys * 2)
        self.width = max(2, len(keys))  # items in what get() gives
        self.ts_factor = mapping.ts_factor
        # (column, scale, offset) of the scaled fields; the others are taken as they are
        self.linear = [
            (i + self.has_ts, f.scale, f.offset) for i, f in enumerate(mapping.fields) if f.linear
        ]
        self.shape = (
            tuple(keys),
            self.has_ts,
            self.ts_factor,
            tuple((f.scale, f.offset) for f in mapping.fields),
        )


def columns_of(
    plan: Columnar, rows: list[tuple[Any, ...]], arrival: float
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Rows picked by ``plan.get`` as arrays: (rows taken, times, values rows × fields).

    A row is taken when all its items are numbers (not booleans) that a float holds
    exactly; the others (``None`` in the first item: all taken) are left for the
    per-record path, which says what is wrong with them. Times and scaled values are
    computed as :meth:`JsonMapping.readings` computes them, operation for operation.
    """
    kinds = set(map(type, itertools.chain.from_iterable(rows)))
    taken: np.ndarray | None = None
    if not kinds <= _NUMBER_TYPES:
        picked = [i for i, row in enumerate(rows) if all(x.__class__ in _NUMBER_TYPES for x in row)]
        taken = np.array(picked, dtype=np.int64)
        rows = [rows[i] for i in picked]
    table = np.array(rows, dtype=np.float64).reshape(len(rows), plan.width)
    if plan.width > len(plan.shape[0]):
        table = table[:, :1]  # the one key asked for twice
    if int in kinds:
        # an integer beyond 2**53 would change in a float64: leave it to the per-record path
        exact = np.asarray((np.abs(table) < _FLOAT_EXACT).all(axis=1))
        if not exact.all():
            taken = (taken if taken is not None else np.arange(len(table)))[exact]
            table = table[exact]
    if plan.has_ts:
        ts = table[:, 0] * plan.ts_factor if plan.ts_factor != 1.0 else table[:, 0].copy()
        values = table[:, 1:]
    else:
        ts = np.full(len(table), arrival)
        values = table
    for column, scale, offset in plan.linear:
        table[:, column] = table[:, column] * scale + offset
    return taken, ts, values


_NUMBER_TYPES = frozenset((int, float))
_FLOAT_EXACT = 2.0**53


class JsonMapping:
    """Applies one twin's binding to parsed JSON documents (one object, or a list of them).

    >>> from twinworks.spec.schema import MqttBinding
    >>> b = MqttBinding(connector="broker", topic="plant/{twin_id}/telemetry",
    ...                 timestamp={"path": "ts", "unit": "ms"},
    ...                 telemetry={"pressure": {"path": "data.p", "scale": 0.01}})
    >>> m = JsonMapping("c1", b)
    >>> m.readings({"ts": 1700000000000, "data": {"p": 512}}, 0.0, "t", None)
    [Reading(twin_id='c1', signal='pressure', ts=1700000000.0, value=5.12, unit=None, origin=None)]
    """

    def __init__(self, twin_id: str, binding: MqttBinding) -> None:
        self.twin_id = twin_id
        self.fields = [_Field(signal, spec) for signal, spec in binding.telemetry.items()]
        plain = all(f.plain for f in self.fields)
        self._plain = [(f.key, f.signal) for f in self.fields] if plain else None
        stamp = binding.timestamp
        self.ts_path = _path(stamp.path) if stamp is not None else None
        self.ts_text = stamp.path if stamp is not None else ""
        self.ts_key = (
            stamp.path
            if stamp is not None and len(self.ts_path or ()) == 1 and "." not in stamp.path
            else None
        )
        self.ts_iso = stamp is not None and stamp.unit == "iso"
        self.ts_factor = _TS_FACTOR.get(stamp.unit, 1.0) if stamp is not None else 1.0
        self.columnar = self._columnar()
        self.column_base = -1  # first row of this mapping's fields in its connector's names

    def _columnar(self) -> Columnar | None:
        """The plan for reading records of this mapping as arrays, if it is plain enough.

        Plain: every field and the timestamp are one key each, no state codes, a
        numeric timestamp. Other bindings are read record by record.
        """
        if not self.fields or any(f.key is None or f.enum is not None for f in self.fields):
            return None
        if self.ts_path is not None and (self.ts_key is None or self.ts_iso):
            return None
        return Columnar(self)

    def expected(self) -> str:
        return ", ".join(f.text for f in self.fields)

    def _timestamp(self, record: dict[str, Any], arrival: float, where: str) -> float:
        if self.ts_path is None:
            return arrival
        raw = record.get(self.ts_key, _MISSING) if self.ts_key else _get(record, self.ts_path)
        if raw is _MISSING:
            raise PayloadError(
                "missing_timestamp", f"{where}: no timestamp at '{self.ts_text}' in the payload"
            )
        if self.ts_iso:
            if not isinstance(raw, str):
                raise PayloadError(
                    "bad_timestamp", f"{where}: timestamp {raw!r} is not an ISO 8601 string"
                )
            try:
                return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise PayloadError(
                    "bad_timestamp", f"{where}: timestamp {raw!r} is not an ISO 8601 time"
                ) from None
        if raw.__class__ is not int and raw.__class__ is not float:
            raise PayloadError(
                "bad_timestamp",
                f"{where}: timestamp {raw!r} at '{self.ts_text}' is not a number "
                f"(expected epoch time in {self._unit_name()})",
            )
        return float(raw * self.ts_factor)

    def _unit_name(self) -> str:
        for unit, factor in _TS_FACTOR.items():
            if factor == self.ts_factor:
                return unit
        return "s"

    def readings(
        self, doc: Any, arrival: float, where: str, origin: Origin | None
    ) -> list[Reading]:
        """Readings of a parsed payload; raises :class:`PayloadError` for a bad one.

        A record that holds some of the mapped fields gives those readings; one that
        holds none of them is refused (``missing_fields``), as it means the device
        and the definition disagree about the payload.
        """
        records: Iterable[Any]
        if doc.__class__ is dict:
            records = (doc,)
        elif isinstance(doc, list):
            if len(doc) > MAX_RECORDS:
                raise PayloadError(
                    "too_many_records", f"{where}: {len(doc)} records (at most {MAX_RECORDS})"
                )
            records = doc
        else:
            raise PayloadError(
                "not_an_object",
                f"{where}: the payload is a JSON {type(doc).__name__}, "
                "expected an object (or a list of objects)",
            )
        out: list[Reading] = []
        twin = self.twin_id
        new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
        for record in records:
            if record.__class__ is not dict:
                raise PayloadError(
                    "not_an_object", f"{where}: a record is a {type(record).__name__}"
                )
            ts = self._timestamp(record, arrival, where)
            found = 0
            if self._plain is not None:
                get = record.get
                for key, signal in self._plain:
                    value = get(key, _MISSING)
                    if value is not _MISSING:
                        found += 1
                        out.append(new(Reading, (twin, signal, ts, value, None, origin)))
                if not found:
                    raise self._no_fields(record, where)
                continue
            for f in self.fields:
                value = record.get(f.key, _MISSING) if f.key else _get(record, f.path)
                if value is _MISSING:
                    continue
                found += 1
                if f.enum is not None:
                    code = str(value).lower() if value.__class__ is bool else str(value)
                    mapped = f.enum.get(code)
                    if mapped is None:
                        raise PayloadError(
                            "unknown_code",
                            f"{where}: {twin}.{f.signal}: code {value!r} at '{f.text}' is not "
                            f"one of the declared codes {sorted(f.enum)}",
                        )
                    value = mapped
                elif f.linear and (value.__class__ is int or value.__class__ is float):
                    value = value * f.scale + f.offset
                out.append(new(Reading, (twin, f.signal, ts, value, None, origin)))
            if not found:
                raise self._no_fields(record, where)
        return out

    def _no_fields(self, record: dict[str, Any], where: str) -> PayloadError:
        keys = ", ".join(sorted(map(str, record))[:20]) or "none"
        return PayloadError(
            "missing_fields",
            f"{where}: none of the mapped fields ({self.expected()}) is in the "
            f"payload; its keys are: {keys}",
        )
