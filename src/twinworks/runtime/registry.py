"""The twin registry: the loaded definition, indexed for the hot path.

Each (twin, signal) pair gets a compiled :class:`SignalRule` that checks one value
in a few comparisons: dtype, NaN/infinity, allowed values, range and unit. The
rules are built once when a definition loads, so ingestion does dictionary look-ups
and comparisons only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twinworks.errors import RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.spec.codes import is_unknown_code
from twinworks.spec.schema import (
    ArgumentSpec,
    CommandSpec,
    DesiredSpec,
    SignalSpec,
    TwinDefinition,
    TwinSpec,
    TwinTypeSpec,
)
from twinworks.spec.units import UnitError, check_unit, conversion
from twinworks.spec.validate import check_value
from twinworks.store.base import Value

__all__ = ["TS_MAX", "TS_MIN", "SignalRule", "TwinRegistry", "check_arguments"]

# timestamps outside this window are almost certainly unit errors (ms sent as s)
TS_MIN = _TS_MIN = 0.0
TS_MAX = _TS_MAX = 7_258_118_400.0  # 2200-01-01


class SignalRule:
    """Validates and normalises values of one telemetry signal of one twin."""

    __slots__ = ("dims", "dtype", "hi", "lo", "signal", "twin_id", "unit", "values")

    def __init__(self, twin_id: str, signal: str, spec: SignalSpec) -> None:
        self.twin_id = twin_id
        self.signal = signal
        self.dtype = spec.dtype
        self.lo = spec.min if spec.min is not None else -math.inf
        self.hi = spec.max if spec.max is not None else math.inf
        self.values = frozenset(spec.values) if spec.values is not None else None
        self.unit = spec.unit
        self.dims = spec.unit is not None and check_unit(spec.unit) != "dimensionless"

    def _reject(self, reason: str, detail: str) -> RejectedValueError:
        return RejectedValueError(reason, f"{self.twin_id}.{self.signal}: {detail}")

    def check(
        self, value: Any, ts: float, unit: str | None = None, need_unit: bool = False
    ) -> Value:
        """Return the value as stored, or raise :class:`RejectedValueError` saying why."""
        if not (_TS_MIN < ts < _TS_MAX):  # also false for NaN
            raise self._reject(
                "bad_timestamp", f"timestamp {ts!r} is not seconds since 1970 (before 2200)"
            )
        dtype = self.dtype
        if dtype == "float":
            if value.__class__ is not float:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise self._reject("wrong_type", f"{_show(value)} is not a number")
                value = float(value)
            if value != value:
                raise self._reject("nan", "NaN is not a measurement")
            if value in (math.inf, -math.inf):
                raise self._reject("not_finite", f"{value} is not a finite number")
        elif dtype == "int":
            if value.__class__ is not int:
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise self._reject("wrong_type", f"{_show(value)} is not an integer")
        elif dtype == "bool":
            if value.__class__ is not bool:
                raise self._reject("wrong_type", f"{_show(value)} is not true or false")
            return value
        else:
            if value.__class__ is not str:
                raise self._reject("wrong_type", f"{_show(value)} is not a string")
            # an undeclared state code ("unknown(7)", see spec.codes) is shown, not dropped
            if self.values is not None and value not in self.values and not is_unknown_code(value):
                raise self._reject(
                    "not_allowed", f"{_show(value)} is not one of {sorted(self.values)}"
                )
            return value
        if unit is not None and unit != self.unit:
            try:
                a, b = conversion(unit, self.unit)
            except UnitError as exc:
                raise self._reject(
                    "unit_mismatch", f"{exc}; declared unit is {self.unit}"
                ) from None
            value = a * value + b
            if dtype == "int":
                value = round(value)
        elif unit is None and need_unit and self.dims:
            raise self._reject("missing_unit", f"value {value} has no unit; send it in {self.unit}")
        if value < self.lo or value > self.hi:
            raise self._reject(
                "out_of_range", f"{value} is outside the valid range [{self.lo}, {self.hi}]"
            )
        return value

    def restore(self, value: Value) -> Value:
        """Undo storage encodings (SQLite keeps booleans as 0/1)."""
        if self.dtype == "bool" and not isinstance(value, bool):
            return bool(value)
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_arguments(
    twin_id: str, name: str, command: CommandSpec, args: dict[str, Any]
) -> dict[str, Any]:
    """Validate command arguments; return them complete, in declared order."""
    unknown = sorted(set(args) - set(command.args))
    if unknown:
        raise RejectedValueError(
            "unknown_argument",
            f"{twin_id}.{name}: unknown argument(s) {unknown}; "
            f"declared: {sorted(command.args) or 'none'}",
        )
    out: dict[str, Any] = {}
    for aname, spec in command.args.items():
        if aname not in args:
            if spec.required and spec.default is None:
                raise RejectedValueError(
                    "missing_argument", f"{twin_id}.{name}: argument {aname!r} is required"
                )
            out[aname] = spec.default
            continue
        why = check_value(spec, _as_dtype(spec, args[aname]))
        if why:
            raise RejectedValueError("bad_argument", f"{twin_id}.{name}({aname}): {why}")
        out[aname] = _as_dtype(spec, args[aname])
    return out


def _as_dtype(spec: ArgumentSpec | DesiredSpec, value: Any) -> Any:
    if spec.dtype == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.dtype == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class _TwinEntry:
    spec: TwinSpec
    type: TwinTypeSpec


class TwinRegistry:
    """Looks up twins, their types and the compiled rules of their signals."""

    def __init__(self, definition: TwinDefinition) -> None:
        self.definition = definition
        self._twins: dict[str, _TwinEntry] = {
            t.id: _TwinEntry(t, definition.types[t.type]) for t in definition.twins
        }
        self.rules: dict[tuple[str, str], SignalRule] = {
            (t.id, signal): SignalRule(t.id, signal, sspec)
            for t in definition.twins
            for signal, sspec in definition.types[t.type].telemetry.items()
        }
        # the rules as arrays, to check a columnar batch in a few NumPy operations
        # (Runtime.submit); row i of each array belongs to keys[i]
        self.keys: tuple[tuple[str, str], ...] = tuple(self.rules)
        self.key_index: dict[tuple[str, str], int] = {k: i for i, k in enumerate(self.keys)}
        rules = list(self.rules.values())
        self.float_rule = np.array([r.dtype == "float" for r in rules], dtype=bool)
        self.lo = np.array([r.lo for r in rules], dtype=np.float64)
        self.hi = np.array([r.hi for r in rules], dtype=np.float64)
        self.dims = np.array([r.dims for r in rules], dtype=bool)
        # the plant hierarchy both ways, so that walking it never scans the whole fleet
        self._children: dict[str, list[str]] = {t: [] for t in self._twins}
        for t in definition.twins:
            parent = t.relationships.get("partOf")
            if isinstance(parent, str) and parent in self._children:
                self._children[parent].append(t.id)
        # per twin: its status signal and what the signal's values mean (the type's policy)
        self.status_policies: dict[str, tuple[str, dict[Any, str]]] = {}
        for t in definition.twins:
            policy = definition.types[t.type].status_policy()
            if policy is not None:
                self.status_policies[t.id] = (policy.signal, policy.statuses())

    def __contains__(self, twin_id: object) -> bool:
        return twin_id in self._twins

    def ids(self) -> list[str]:
        return list(self._twins)

    def twin(self, twin_id: str) -> TwinSpec:
        try:
            return self._twins[twin_id].spec
        except KeyError:
            raise UnknownTwinError(twin_id) from None

    def type_of(self, twin_id: str) -> TwinTypeSpec:
        try:
            return self._twins[twin_id].type
        except KeyError:
            raise UnknownTwinError(twin_id) from None

    def rule(self, twin_id: str, signal: str) -> SignalRule:
        rule = self.rules.get((twin_id, signal))
        if rule is None:
            ttype = self.type_of(twin_id)
            raise UnknownSignalError(twin_id, "telemetry signal", signal, list(ttype.telemetry))
        return rule

    def desired_spec(self, twin_id: str, name: str) -> DesiredSpec:
        ttype = self.type_of(twin_id)
        try:
            return ttype.desired[name]
        except KeyError:
            raise UnknownSignalError(
                twin_id, "desired setting", name, list(ttype.desired)
            ) from None

    def command_spec(self, twin_id: str, name: str) -> CommandSpec:
        ttype = self.type_of(twin_id)
        try:
            return ttype.commands[name]
        except KeyError:
            raise UnknownSignalError(twin_id, "command", name, list(ttype.commands)) from None

    def parent(self, twin_id: str) -> str | None:
        parent = self.twin(twin_id).relationships.get("partOf")
        return parent if isinstance(parent, str) else None

    def children(self, twin_id: str) -> list[str]:
        """The twins that are ``partOf`` this one, in definition order."""
        return self._children.get(twin_id, [])

    def ancestors(self, twin_id: str) -> list[str]:
        """Parents up to the root, nearest first."""
        out: list[str] = []
        node = self.parent(twin_id)
        while node is not None and node not in out:
            out.append(node)
            node = self.parent(node) if node in self._twins else None
        return out

    def connector_for(self, twin_id: str, group: str, name: str) -> str | None:
        """The connector that carries a twin's telemetry/desired/command ``name``."""
        for binding in self.twin(twin_id).bindings:
            if name in getattr(binding, group, {}):
                return binding.connector
        return None

    def document(self, twin_id: str) -> dict[str, Any]:
        """The static part of a twin's document, as the definition declares it."""
        entry = self._twins[twin_id]
        attributes = {
            name: prop.default
            for name, prop in entry.type.properties.items()
            if prop.default is not None
        }
        attributes.update(entry.spec.attributes)
        return {
            "id": twin_id,
            "type": entry.spec.type,
            "name": entry.spec.name or twin_id,
            "attributes": attributes,
            "relationships": entry.spec.relationships,
            "connectors": sorted({b.connector for b in entry.spec.bindings}),
        }
