"""Production data of a definition: what the line makes, where, and how long it takes.

An optional ``production:`` section of a twin definition declares what the
discrete-event model, what-if and scheduling services need and the twins alone
do not say: per station (a machine twin) its processing capacity, input buffer,
failures and repairs, tool life, setups between product families and power;
per conveyor twin its transit time and capacity; per product its routing (the
operations in order, each on eligible stations, with a processing time); how
work arrives (release rate, product mix, due-date allowance); and the shifts.

Durations are seconds or strings such as ``90s``, ``4m``, ``2h``. Random
durations are ``{mean, cv, dist}``. Cross-references (stations are declared
twins, routings use declared stations, consecutive stations are joined by the
twins' ``feeds`` relationships) are checked in :func:`check_production`.

>>> from twinworks.spec import parse_definition
>>> d = parse_definition('''
... types: {machine: {properties: {operation: {dtype: string}}}}
... twins: [{id: m1, type: machine, attributes: {operation: cut}}]
... production:
...   stations: {m1: {}}
...   products: {p: {routing: [{operation: cut, time: 2m}]}}
... ''')
>>> d.production.products["p"].routing[0].time.mean
120.0
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "DistSpec",
    "FailureSpec",
    "OperationSpec",
    "PowerSpec",
    "ProductSpec",
    "ProductionSpec",
    "ReleaseSpec",
    "SetupSpec",
    "ShiftSpec",
    "StationSpec",
    "ToolSpec",
    "TransportSpec",
    "check_production",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def to_seconds(value: Any) -> Any:
    """A number (seconds) or a string such as ``4m``; anything else is left for pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; use seconds or e.g. 90s, 4m, 2h")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(to_seconds), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(to_seconds), Field(gt=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistSpec(_Spec):
    """A random duration: its mean, coefficient of variation and distribution family."""

    mean: Seconds
    cv: float = Field(default=0.0, ge=0, le=5)
    dist: Literal["fixed", "lognormal", "gamma", "exponential", "normal", "uniform"] = "lognormal"

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: Any) -> Any:
        if isinstance(data, int | float | str) and not isinstance(data, bool):
            return {"mean": data, "cv": 0.0, "dist": "fixed"}
        return data


class FailureSpec(_Spec):
    """Breakdowns: time between failures (exponential, or Weibull with ``shape``) and repair."""

    mtbf: PositiveSeconds
    mttr: DistSpec
    shape: float = Field(default=1.0, gt=0, description="Weibull shape of time to failure")
    basis: Literal["busy", "calendar"] = Field(
        default="busy", description="whether time to failure counts busy time or all time"
    )


class ToolSpec(_Spec):
    """Tool wear: life in parts at 100 % feed, and the change time."""

    life_parts: float = Field(gt=0, description="parts a new tool cuts at 100 % feed")
    change: DistSpec
    feed_exponent: float = Field(
        default=1.5, ge=0, description="wear per part grows with (feed/100) ** exponent"
    )


class SetupSpec(_Spec):
    default: Seconds = 0.0
    matrix: dict[str, dict[str, Seconds]] = Field(
        default_factory=dict, description="from family → to family → time"
    )


class PowerSpec(_Spec):
    """Electrical power by state, kW."""

    busy: float = Field(default=0.0, ge=0)
    idle: float = Field(default=0.0, ge=0)
    setup: float | None = Field(default=None, ge=0, description="default: idle")
    down: float = Field(default=0.0, ge=0)


class StationSpec(_Spec):
    capacity: int = Field(default=1, ge=1, le=1000, description="parts processed at once")
    buffer: int | None = Field(
        default=None, ge=0, description="input buffer places; none: unbounded"
    )
    failures: FailureSpec | None = None
    tool: ToolSpec | None = None
    setup: SetupSpec = SetupSpec()
    power: PowerSpec = PowerSpec()
    feed_signal: str | None = Field(
        default="feed_override",
        description="desired/telemetry setting (percent) that scales processing time; none: fixed",
    )


class TransportSpec(_Spec):
    """A conveyor twin: how long a part rides and how many fit on it."""

    time: DistSpec
    capacity: int | None = Field(default=None, ge=1)
    power: PowerSpec = PowerSpec()


class OperationSpec(_Spec):
    """One step of a routing. ``stations`` or ``operation`` (matched to the twins'
    ``operation`` attribute) names where it can run; ``times`` overrides ``time`` per station."""

    operation: str | None = None
    stations: list[str] | None = None
    time: DistSpec
    times: dict[str, DistSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _where(self) -> OperationSpec:
        if self.operation is None and not self.stations:
            raise ValueError("an operation needs 'stations' or an 'operation' the twins declare")
        return self


class ProductSpec(_Spec):
    family: str | None = None
    routing: list[OperationSpec] = Field(min_length=1)
    due_in: Seconds | None = Field(default=None, description="due date allowance from release")


class ReleaseSpec(_Spec):
    """How new work enters the line."""

    interarrival: DistSpec | None = Field(default=None, description="none: no new work arrives")
    mix: dict[str, float] = Field(default_factory=dict, description="product → share")
    due_in: Seconds | None = Field(default=None, description="default due date allowance")
    wip_limit: int | None = Field(
        default=None, ge=1, description="CONWIP: release new work only while fewer parts are in"
    )
    queue_cap: int | None = Field(
        default=None, ge=1, description="CONWIP: and while the first station's queue is shorter"
    )

    @model_validator(mode="after")
    def _one_policy(self) -> ReleaseSpec:
        if self.queue_cap is not None and self.wip_limit is None:
            raise ValueError("queue_cap belongs to CONWIP release: set wip_limit too")
        return self


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ShiftSpec(_Spec):
    name: str = ""
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM; earlier than start: the shift ends the next day")
    days: list[Day] = Field(default_factory=lambda: list(_DAYS))

    @model_validator(mode="after")
    def _clock(self) -> ShiftSpec:
        for name in ("start", "end"):
            if not _CLOCK.match(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not a time of day (HH:MM)")
        return self

    def minutes(self) -> tuple[int, int]:
        h0, m0 = map(int, self.start.split(":"))
        h1, m1 = map(int, self.end.split(":"))
        return h0 * 60 + m0, h1 * 60 + m1


class ProductionSpec(_Spec):
    stations: dict[str, StationSpec] = Field(description="machine twin id → station data")
    transport: dict[str, TransportSpec] = Field(default_factory=dict, description="conveyor twins")
    products: dict[str, ProductSpec] = Field(min_length=1)
    release: ReleaseSpec = ReleaseSpec()
    shifts: list[ShiftSpec] = Field(default_factory=list, description="none: always working")
    timezone: str = Field(default="UTC", description="of the shift times, e.g. Europe/Berlin")


def _choices(names: Any) -> str:
    names = sorted(names)
    return "one of: " + ", ".join(names) if names else "a declared one (none are declared)"


def check_production(definition: Any) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """Cross-reference problems of ``definition.production`` (see the module docstring)."""
    prod: ProductionSpec | None = getattr(definition, "production", None)
    if prod is None:
        return []
    problems: list[tuple[tuple[str | int, ...], str, str | None]] = []
    twins = {t.id: t for t in definition.twins}
    base: tuple[str | int, ...] = ("production",)
    for sid in prod.stations:
        if sid not in twins:
            problems.append(((*base, "stations", sid), f"unknown twin {sid!r}", _choices(twins)))
    for cid in prod.transport:
        if cid not in twins:
            problems.append(((*base, "transport", cid), f"unknown twin {cid!r}", _choices(twins)))
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(prod.timezone)
    except Exception:
        problems.append(((*base, "timezone"), f"unknown time zone {prod.timezone!r}", "e.g. UTC"))

    def feeds(twin_id: str) -> list[str]:
        twin = twins.get(twin_id)
        if twin is None:
            return []
        target = twin.relationships.get("feeds", [])
        return [target] if isinstance(target, str) else list(target)

    for pname, product in prod.products.items():
        previous: list[str] = []
        for k, op in enumerate(product.routing):
            where = (*base, "products", pname, "routing", k)
            stations = resolve_stations(definition, op)
            if op.stations:
                for s in op.stations:
                    if s not in prod.stations:
                        problems.append(
                            (
                                (*where, "stations"),
                                f"{s!r} is not a station",
                                _choices(prod.stations),
                            )
                        )
            elif not stations:
                ops = sorted(
                    {
                        str(t.attributes.get("operation"))
                        for t in definition.twins
                        if t.id in prod.stations and "operation" in t.attributes
                    }
                )
                problems.append(
                    (
                        (*where, "operation"),
                        f"no station performs operation {op.operation!r}",
                        _choices(ops),
                    )
                )
            for s in op.times:
                if s not in stations:
                    problems.append(
                        (
                            (*where, "times", s),
                            f"{s!r} is not a station of this operation",
                            _choices(stations),
                        )
                    )
            for here in stations:
                for before in previous:
                    if transport_between(definition, before, here) is None and before != here:
                        problems.append(
                            (
                                where,
                                f"no path from {before} to {here}: {before} feeds "
                                f"{feeds(before) or 'nothing'}",
                                f"{before} feeds {here}, or feeds a conveyor (declared under "
                                "production.transport) that feeds it",
                            )
                        )
            previous = [s for s in stations if s in prod.stations]
    for pname, share in prod.release.mix.items():
        if pname not in prod.products:
            problems.append(
                (
                    (*base, "release", "mix", pname),
                    f"unknown product {pname!r}",
                    _choices(prod.products),
                )
            )
        if share < 0:
            problems.append(
                ((*base, "release", "mix", pname), f"share {share} is negative", ">= 0")
            )
    if prod.release.mix and sum(prod.release.mix.values()) <= 0:
        problems.append(((*base, "release", "mix"), "shares add up to 0", "positive shares"))
    return problems


def resolve_stations(definition: Any, op: OperationSpec) -> list[str]:
    """The stations an operation may run on, by name or by the twins' ``operation`` attribute."""
    prod = definition.production
    if op.stations:
        return [s for s in op.stations if s in prod.stations]
    return [
        t.id
        for t in definition.twins
        if t.id in prod.stations and t.attributes.get("operation") == op.operation
    ]


def transport_between(definition: Any, a: str, b: str) -> str | None:
    """``""`` when ``a`` feeds ``b`` directly, the conveyor joining them, or None."""
    twins = {t.id: t for t in definition.twins}

    def feeds(twin_id: str) -> list[str]:
        twin = twins.get(twin_id)
        if twin is None:
            return []
        target = twin.relationships.get("feeds", [])
        return [target] if isinstance(target, str) else list(target)

    if b in feeds(a):
        return ""
    for c in feeds(a):
        if c in definition.production.transport and b in feeds(c):
            return c
    return None
