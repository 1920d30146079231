"""From a message on a topic to readings: topic templates and payload mappings.

A binding declares a topic template (``plant/{twin_id}/telemetry``,
``plant/+/{twin_id}/{signal}``) and where each telemetry value sits in the payload
(a path such as ``data.p`` or ``data.sensors[2].value``, a scale and offset, a table
of state codes, a number with its unit as text), where the timestamp is and in
which unit, and -- for gateways that send many devices in one message -- which
payload fields name the twin and the signal of each record. This module compiles
those declarations once and applies them to each message; it knows nothing of
MQTT itself, so it is tested on plain bytes.

Everything that goes wrong with a payload is a :class:`PayloadError` with a reason
code and a message that says what was wrong, where, and what was expected; the
connector keeps such payloads as dead letters. A message with some bad records
keeps its good ones: :meth:`Route.map` returns the readings and the problems.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import operator
import re
import time
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import orjson

from twinworks.connect.base import Origin, Reading
from twinworks.spec.schema import MqttBinding, MqttField
from twinworks.spec.units import registry

__all__ = [
    "ArrivalClock",
    "Columnar",
    "JsonMapping",
    "PayloadError",
    "Route",
    "TopicTemplate",
    "columns_of",
    "parse_json",
    "parse_path",
    "summary",
]

log = logging.getLogger(__name__)

_MISSING = object()
_TS_FACTOR = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
MAX_RECORDS = 10_000  # records in one JSON array (a gateway's batch)
_SHOWN_PROBLEMS = 5  # problems of one message spelled out in its dead letter


class PayloadError(Exception):
    """A payload that cannot be turned into readings; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str, twin_id: str | None = None) -> None:
        self.reason = reason
        self.twin_id = twin_id
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


class ArrivalClock:
    """Arrival stamps for readings without a time of their own: distinct and increasing.

    Messages read in one burst arrive within the same microsecond as far as the
    clock can tell; the store keys points by (twin, signal, time) to the
    microsecond, so equal stamps would make distinct readings look like repeats.
    Each call gives the current time, or one microsecond after the previous stamp
    when the clock has not moved on: the broker's order is kept.
    """

    __slots__ = ("_last", "_now")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last = 0

    def __call__(self) -> float:
        us = int(self._now() * 1_000_000)
        if us <= self._last:
            us = self._last + 1
        self._last = us
        return us / 1_000_000

    def block(self, n: int) -> np.ndarray:
        """``n`` stamps at once (for the columnar path)."""
        first = int(self._now() * 1_000_000)
        if first <= self._last:
            first = self._last + 1
        self._last = first + n - 1
        return np.arange(first, first + n, dtype=np.int64) / 1_000_000


class TopicTemplate:
    """A topic template: its subscription filter, and what a topic's levels name.

    Levels are literal, ``{twin_id}`` (the twin, or its ``device`` name), ``{signal}``
    (the signal the message carries), ``+`` (any one level) or a last ``#`` (any).

    >>> t = TopicTemplate("plant/{twin_id}/telemetry")
    >>> t.filter, t.twin_of("plant/cnc1/telemetry"), t.twin_of("plant/cnc1/other")
    ('plant/+/telemetry', 'cnc1', None)
    >>> t.topic_for("cnc2")
    'plant/cnc2/telemetry'
    >>> TopicTemplate("plant/+/{twin_id}/{signal}").match("plant/l1/press1/pressure")
    ('press1', 'pressure')
    """

    __slots__ = ("filter", "levels", "literal", "signal_level", "tail", "text", "twin_level")

    def __init__(self, text: str) -> None:
        self.text = text
        levels = text.split("/")
        self.tail = levels[-1] == "#"  # any number of further levels
        self.levels = levels[:-1] if self.tail else levels
        self.twin_level = self.levels.index("{twin_id}") if "{twin_id}" in self.levels else None
        self.signal_level = self.levels.index("{signal}") if "{signal}" in self.levels else None
        self.filter = "/".join("+" if lv in ("{twin_id}", "{signal}") else lv for lv in levels)
        self.literal = self.filter == text and "+" not in levels and not self.tail

    def topic_for(self, twin_id: str) -> str:
        return self.text.replace("{twin_id}", twin_id)

    def matches(self, topic: str) -> bool:
        return self.match(topic) is not None

    def match(self, topic: str) -> tuple[str | None, str | None] | None:
        """(twin named by the topic, signal named by the topic), or None if it does not fit."""
        if self.literal:
            return (None, None) if topic == self.text else None
        levels = topic.split("/")
        n = len(self.levels)
        if len(levels) < n or (len(levels) > n and not self.tail):
            return None
        twin = signal = None
        for i, want in enumerate(self.levels):
            have = levels[i]
            if i == self.twin_level:
                if not have:
                    return None
                twin = have
            elif i == self.signal_level:
                if not have:
                    return None
                signal = have
            elif want != "+" and have != want:
                return None
        return twin, signal

    def twin_of(self, topic: str) -> str | None:
        """The twin id a topic names, or None when the topic does not fit the template."""
        if self.twin_level is None:
            return None
        found = self.match(topic)
        return found[0] if found is not None else None


_BRACKET = re.compile(r"\[(\d+)\]")


def parse_path(text: str) -> tuple[str | int, ...]:
    """``data.sensors[2].value`` (or ``data.sensors.2.value``) as keys and list indexes."""
    parts: list[str | int] = []
    for part in text.split("."):
        head, _, rest = part.partition("[")
        parts.append(int(head) if head.isdigit() else head)
        if rest:
            parts += [int(i) for i in _BRACKET.findall("[" + rest)]
    return tuple(parts)


_path = parse_path


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


_NUMBER_WITH_UNIT = {
    # the number may not run on into another separator or digit: "12,5" is not 12 ",5"
    ".": re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\d.,])\s*(.*?)\s*$"),
    ",": re.compile(r"^\s*([+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?)(?![\d.,])\s*(.*?)\s*$"),
}
_EXPONENT = re.compile(r"([A-Za-zµ])(\d)(?![\d.])")  # m3 -> m^3, cm2 -> cm^2


@functools.lru_cache(maxsize=1024)  # bounded: unit texts come from devices
def _device_unit(text: str) -> str | None:
    """A unit as devices write it (``m3/h``), in pint's name (``meter ** 3 / hour``).

    None when pint does not know it. The canonical name keeps the set of units the
    runtime converts from small, however the devices space or spell them.
    """
    ureg = registry()
    for candidate in (text, _EXPONENT.sub(r"\1^\2", text)):
        try:
            return str(ureg.Unit(candidate))
        except Exception:  # pint raises several unrelated types for bad strings
            continue
    return None


class _Field:
    __slots__ = (
        "decimal",
        "enum",
        "key",
        "linear",
        "offset",
        "path",
        "scale",
        "signal",
        "text",
        "with_unit",
    )

    def __init__(self, signal: str, spec: MqttField, default_path: str | None) -> None:
        self.signal = signal
        self.text = spec.path or default_path or ""
        self.path = parse_path(self.text) if self.text else ()
        # one plain key is by far the common case; it skips the walk
        self.key = self.text if len(self.path) == 1 and self.path[0] == self.text else None
        self.scale = spec.scale
        self.offset = spec.offset
        self.linear = spec.scale != 1.0 or spec.offset != 0.0
        self.enum = spec.enum
        self.with_unit = spec.unit_in_value or spec.decimal != "."
        self.decimal = spec.decimal

    @property
    def plain(self) -> bool:
        """One key, taken as it is: the common case, mapped without any checks."""
        return self.key is not None and not self.linear and self.enum is None and not self.with_unit

    def value(self, value: Any, twin: str, where: str) -> tuple[Any, str | None]:
        """The reading's value and unit (None: the declared one) from the raw value."""
        unit = None
        if self.enum is not None:
            code = str(value).lower() if value.__class__ is bool else str(value)
            mapped = self.enum.get(code)
            if mapped is None:
                raise PayloadError(
                    "unknown_code",
                    f"{where}: {twin}.{self.signal}: code {value!r} at '{self.text}' is not "
                    f"one of the declared codes {sorted(self.enum)}",
                    twin,
                )
            return mapped, None
        if self.with_unit and value.__class__ is str:
            value, unit = self._number_with_unit(value, twin, where)
        if self.linear and (value.__class__ is int or value.__class__ is float):
            value = value * self.scale + self.offset
        return value, unit

    def _number_with_unit(self, text: str, twin: str, where: str) -> tuple[float, str | None]:
        found = _NUMBER_WITH_UNIT[self.decimal].match(text)
        if found is None:
            other = "," if self.decimal == "." else "."
            hint = (
                f"; set decimal: '{other}' on the field if the device writes "
                f"'{other}' before the decimals"
                if _NUMBER_WITH_UNIT[other].match(text)
                else ""
            )
            raise PayloadError(
                "bad_number",
                f"{where}: {twin}.{self.signal}: {text!r} at '{self.text}' is not a number "
                f"(with decimal '{self.decimal}') optionally followed by its unit{hint}",
                twin,
            )
        number, unit_text = found.groups()
        value = float(number.replace(",", "."))
        if not unit_text:
            return value, None
        unit = _device_unit(unit_text)
        if unit is None:
            raise PayloadError(
                "bad_unit",
                f"{where}: {twin}.{self.signal}: unknown unit {unit_text!r} in {text!r} "
                "(expected a unit such as bar, degC, m3/h, l/min)",
                twin,
            )
        return value, unit


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
    plan: Columnar, rows: list[tuple[Any, ...]], arrivals: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Rows picked by ``plan.get`` as arrays: (rows taken, times, values rows × fields).

    A row is taken when all its items are numbers (not booleans) that a float holds
    exactly; the others (``None`` in the first item: all taken) are left for the
    per-record path, which says what is wrong with them. ``arrivals`` holds each
    row's arrival stamp, for bindings without a timestamp of their own. Times and scaled values are
    computed as :meth:`JsonMapping.readings` computes them, operation for operation.
    """
    kinds = set(map(type, itertools.chain.from_iterable(rows)))
    taken: np.ndarray | None = None
    if not kinds <= _NUMBER_TYPES:
        picked = [i for i, row in enumerate(rows) if all(x.__class__ in _NUMBER_TYPES for x in row)]
        taken = np.array(picked, dtype=np.int64)
        rows = [rows[i] for i in picked]
        if arrivals is not None:
            arrivals = arrivals[taken]
    table = np.array(rows, dtype=np.float64).reshape(len(rows), plan.width)
    if plan.width > len(plan.shape[0]):
        table = table[:, :1]  # the one key asked for twice
    if int in kinds:
        # an integer beyond 2**53 would change in a float64: leave it to the per-record path
        exact = np.asarray((np.abs(table) < _FLOAT_EXACT).all(axis=1))
        if not exact.all():
            taken = (taken if taken is not None else np.arange(len(table)))[exact]
            table = table[exact]
            if arrivals is not None:
                arrivals = arrivals[exact]
    if plan.has_ts:
        ts = table[:, 0] * plan.ts_factor if plan.ts_factor != 1.0 else table[:, 0].copy()
        values = table[:, 1:]
    else:
        assert arrivals is not None, "a binding without timestamps needs arrival stamps"
        ts = arrivals
        values = table
    for column, scale, offset in plan.linear:
        table[:, column] = table[:, column] * scale + offset
    return taken, ts, values


_NUMBER_TYPES = frozenset((int, float))
_FLOAT_EXACT = 2.0**53


class JsonMapping:
    """Applies one twin's binding to parsed payloads (one object, a list of them, a value).

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
        self.device = binding.device or twin_id  # what the source calls this twin
        self.twin_text = binding.twin_field
        self.twin_path = parse_path(binding.twin_field) if binding.twin_field else None
        self.signal_text = binding.signal_field
        self.signal_path = parse_path(binding.signal_field) if binding.signal_field else None
        self.signal_routed = binding.signal_routed
        default_path = binding.value if self.signal_routed else None
        self.fields = [
            _Field(signal, spec, default_path) for signal, spec in binding.telemetry.items()
        ]
        # signal-routed bindings: the source's name of each signal -> its field
        self.by_name = {
            (spec.name or signal): f
            for (signal, spec), f in zip(binding.telemetry.items(), self.fields, strict=True)
        }
        plain = all(f.plain for f in self.fields) and not self.signal_routed
        self._plain = [(f.key, f.signal) for f in self.fields] if plain else None
        stamp = binding.timestamp
        self.ts_path = parse_path(stamp.path) if stamp is not None else None
        self.ts_text = stamp.path if stamp is not None else ""
        self.ts_key = (
            stamp.path
            if stamp is not None and self.ts_path is not None and self.ts_path == (stamp.path,)
            else None
        )
        self.ts_iso = stamp is not None and stamp.unit == "iso"
        self.ts_factor = _TS_FACTOR.get(stamp.unit, 1.0) if stamp is not None else 1.0
        self.tz: tzinfo | None = (
            zoneinfo.ZoneInfo(stamp.timezone) if stamp is not None and stamp.timezone else None
        )
        self.warned_zone = False
        self.retained = binding.retained
        self.columnar = self._columnar()
        self.column_base = -1  # first row of this mapping's fields in its connector's names

    def _columnar(self) -> Columnar | None:
        """The plan for reading records of this mapping as arrays, if it is plain enough.

        Plain: every field and the timestamp are one key each, no state codes or text
        numbers, a numeric timestamp, the twin and signals not named in the payload.
        Other bindings are read record by record.
        """
        if self.signal_routed or self.twin_path is not None:
            return None
        if not self.fields or any(
            f.key is None or f.enum is not None or f.with_unit for f in self.fields
        ):
            return None
        if self.ts_path is not None and (self.ts_key is None or self.ts_iso):
            return None
        return Columnar(self)

    def expected(self) -> str:
        return ", ".join(f.text for f in self.fields)

    def timestamp(self, record: Any, where: str) -> float | None:
        """The record's own time, None when the binding has none; PayloadError if bad."""
        if record.__class__ is not dict and not self.signal_routed:
            raise PayloadError(
                "not_an_object",
                f"{where}: a JSON {type(record).__name__}, expected an object "
                "(or a list of objects)",
                self.twin_id,
            )
        if self.ts_path is None:
            return None
        if record.__class__ is not dict:
            raise PayloadError(
                "missing_timestamp",
                f"{where}: the payload is a bare value; no timestamp at '{self.ts_text}'",
                self.twin_id,
            )
        raw = record.get(self.ts_key, _MISSING) if self.ts_key else _get(record, self.ts_path)
        if raw is _MISSING:
            raise PayloadError(
                "missing_timestamp",
                f"{where}: no timestamp at '{self.ts_text}' in the payload",
                self.twin_id,
            )
        if self.ts_iso:
            return self._iso(raw, where)
        if raw.__class__ is not int and raw.__class__ is not float:
            raise PayloadError(
                "bad_timestamp",
                f"{where}: timestamp {raw!r} at '{self.ts_text}' is not a number "
                f"(expected epoch time in {self._unit_name()})",
                self.twin_id,
            )
        return float(raw * self.ts_factor)

    def _iso(self, raw: Any, where: str) -> float:
        if not isinstance(raw, str):
            raise PayloadError(
                "bad_timestamp", f"{where}: timestamp {raw!r} is not an ISO 8601 string"
            )
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError(
                "bad_timestamp", f"{where}: timestamp {raw!r} is not an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            if self.tz is not None:
                when = when.replace(tzinfo=self.tz)
            elif not self.warned_zone:
                # the old behaviour, kept as the default; said once per binding
                self.warned_zone = True
                log.warning(
                    "%s: timestamp %r at '%s' has no time zone; taken as this server's "
                    "local time. Set timestamp.timezone on the binding (e.g. UTC, "
                    "Europe/Berlin) to say which zone the device writes.",
                    self.twin_id,
                    raw,
                    self.ts_text,
                )
        return when.timestamp()

    def _unit_name(self) -> str:
        for unit, factor in _TS_FACTOR.items():
            if factor == self.ts_factor:
                return unit
        return "s"

    def record_readings(
        self,
        record: Any,
        ts: float,
        topic_signal: str | None,
        where: str,
        origin: Origin | None,
        out: list[Reading],
    ) -> None:
        """Append the readings of one record (a JSON object, or a bare value) at ``ts``."""
        twin = self.twin_id
        new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
        if self.signal_routed:
            name = topic_signal
            if name is None:
                assert self.signal_path is not None
                found = _get(record, self.signal_path)
                if found is _MISSING:
                    raise PayloadError(
                        "missing_signal",
                        f"{where}: no signal name at '{self.signal_text}' in the record",
                        twin,
                    )
                name = str(found)
            f = self.by_name.get(name)
            if f is None:
                raise PayloadError(
                    "unknown_signal",
                    f"{where}: signal {name!r} is not bound for twin {twin!r}; "
                    f"expected one of: {', '.join(sorted(self.by_name)) or 'none'}",
                    twin,
                )
            if record.__class__ is dict:
                value = record.get(f.key, _MISSING) if f.key else _get(record, f.path)
                if value is _MISSING:
                    raise self._no_fields(record, where, f.text)
            elif record.__class__ is list:
                raise PayloadError(
                    "not_an_object",
                    f"{where}: the payload is a JSON list, expected a value or an object",
                    twin,
                )
            else:
                value = record  # the payload is the value itself
            value, unit = f.value(value, twin, where)
            out.append(new(Reading, (twin, f.signal, ts, value, unit, origin)))
            return
        if record.__class__ is not dict:
            raise PayloadError(
                "not_an_object",
                f"{where}: the payload is a JSON {type(record).__name__}, "
                "expected an object (or a list of objects)",
                twin,
            )
        found_any = 0
        if self._plain is not None:
            get = record.get
            for key, signal in self._plain:
                value = get(key, _MISSING)
                if value is not _MISSING:
                    found_any += 1
                    out.append(new(Reading, (twin, signal, ts, value, None, origin)))
        else:
            for f in self.fields:
                value = record.get(f.key, _MISSING) if f.key else _get(record, f.path)
                if value is _MISSING:
                    continue
                found_any += 1
                value, unit = f.value(value, twin, where)
                out.append(new(Reading, (twin, f.signal, ts, value, unit, origin)))
        if not found_any:
            raise self._no_fields(record, where, self.expected())

    def readings(
        self, doc: Any, arrival: float, where: str, origin: Origin | None
    ) -> list[Reading]:
        """Readings of a parsed payload with one arrival time; the first problem raised."""
        out, problems, _ = Route([(self, None)]).map(doc, lambda: arrival, where, origin)
        if problems:
            raise problems[0]
        return out

    def _no_fields(self, record: dict[str, Any], where: str, expected: str) -> PayloadError:
        keys = ", ".join(sorted(map(str, record))[:20]) or "none"
        return PayloadError(
            "missing_fields",
            f"{where}: none of the mapped fields ({expected}) is in the "
            f"payload; its keys are: {keys}",
            self.twin_id,
        )


Target = tuple[JsonMapping, str | None]  # a mapping, and the signal its topic names


class Route:
    """Everything bound to one topic: which mappings take which record of a message.

    Mappings without ``twin_field`` take every record; those with one take the
    records whose field holds their twin's name (an index, so a gateway's message
    for hundreds of twins costs one look-up per record).
    """

    __slots__ = ("by_device", "columnar", "plain", "targets", "text_ok", "twin_id")

    def __init__(self, targets: list[Target]) -> None:
        self.targets = targets
        self.twin_id = targets[0][0].twin_id
        self.plain = [t for t in targets if t[0].twin_path is None]
        self.by_device: dict[tuple[str | int, ...], tuple[str, dict[str, list[Target]]]] = {}
        for target in targets:
            m = target[0]
            if m.twin_path is not None:
                entry = self.by_device.setdefault(m.twin_path, (m.twin_text or "", {}))
                entry[1].setdefault(m.device, []).append(target)
        only = targets[0]
        self.columnar = (
            only[0].columnar
            if len(targets) == 1 and only[1] is None and only[0].twin_path is None
            else None
        )
        # a payload that is not JSON is taken as the value itself ("7.2 bar") when the
        # topic names the signal
        self.text_ok = any(s is not None for _, s in targets)

    def map(
        self,
        doc: Any,
        clock: Callable[[], float],
        where: str,
        origin: Origin | None,
        retained: bool = False,
    ) -> tuple[list[Reading], list[PayloadError], int]:
        """(readings, problems, records skipped as retained) of one parsed message."""
        out: list[Reading] = []
        problems: list[PayloadError] = []
        skipped = 0
        records: Iterable[Any]
        if doc.__class__ is dict:
            records = (doc,)
        elif doc.__class__ is list:
            if len(doc) > MAX_RECORDS:
                problems.append(
                    PayloadError(
                        "too_many_records",
                        f"{where}: {len(doc)} records (at most {MAX_RECORDS})",
                        self.twin_id,
                    )
                )
                return out, problems, skipped
            records = doc
        else:
            records = (doc,)
        many = doc.__class__ is list and len(doc) > 1
        for i, record in enumerate(records):
            at = f"{where} record {i}" if many else where
            targets = self._targets(record, at, problems)
            arrival: float | None = None
            for mapping, topic_signal in targets:
                try:
                    ts = mapping.timestamp(record, at)
                    if ts is None:
                        if retained and mapping.retained == "skip":
                            skipped += 1
                            continue
                        if arrival is None:
                            arrival = clock()  # one stamp per record: its values belong together
                        ts = arrival
                    mapping.record_readings(record, ts, topic_signal, at, origin, out)
                except PayloadError as exc:
                    problems.append(exc)
        if many and len(out) > 1:
            out = self._without_conflicts(out, where, problems)
        return out, problems, skipped

    def _targets(self, record: Any, where: str, problems: list[PayloadError]) -> list[Target]:
        if not self.by_device:
            return self.plain
        targets = list(self.plain)
        for path, (text, devices) in self.by_device.items():
            name = _get(record, path) if record.__class__ is dict else _MISSING
            if name is _MISSING:
                problems.append(
                    PayloadError(
                        "missing_twin",
                        f"{where}: no twin name at '{text}' in the record; expected one of: "
                        + ", ".join(sorted(devices)),
                    )
                )
                continue
            found = devices.get(str(name))
            if found is None:
                problems.append(
                    PayloadError(
                        "unknown_twin",
                        f"{where}: {text} {name!r} is bound to no twin on this topic; "
                        f"expected one of: {', '.join(sorted(devices))}",
                        str(name),
                    )
                )
                continue
            targets += found
        return targets

    @staticmethod
    def _without_conflicts(
        out: list[Reading], where: str, problems: list[PayloadError]
    ) -> list[Reading]:
        """One reading per (twin, signal, time) in a message; a second one is a problem.

        Two records that give the same signal of the same twin at the same time mean
        the binding reads the payload wrongly (several devices or signals, and no
        twin_field or signal_field to tell them apart); the store would keep one of
        them silently.
        """
        seen: dict[tuple[str, str, float], Reading] = {}
        kept: list[Reading] = []
        for r in out:
            key = (r.twin_id, r.signal, r.ts)
            first = seen.get(key)
            if first is None:
                seen[key] = r
                kept.append(r)
            elif first.value != r.value:
                problems.append(
                    PayloadError(
                        "conflicting_records",
                        f"{where}: two records give {r.twin_id}.{r.signal} at the same time "
                        f"({first.value!r} and {r.value!r}); does the message carry several "
                        "devices or signals? Name them with twin_field / signal_field",
                        r.twin_id,
                    )
                )
        return kept


def summary(problems: list[PayloadError]) -> tuple[str, str, str | None]:
    """(reason, message, twin) of the one dead letter for a message with ``problems``."""
    first = problems[0]
    message = str(first)
    if len(problems) > 1:
        shown = "; ".join(str(p) for p in problems[1:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        message += (
            f" (and {len(problems) - 1} more: {shown}"
            + (f"; ... {more} more" if more > 0 else "")
            + ")"
        )
    return first.reason, message, first.twin_id
