"""The line as the discrete-event model sees it, compiled from a twin definition.

:func:`line_from_definition` reads the definition's ``production`` section and
the twins' relationships (``feeds`` tells which conveyor joins two stations) and
returns plain, immutable data that the simulation and the scheduler use without
looking at YAML again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from twinworks.errors import SpecError, SpecIssue
from twinworks.spec.production import (
    DistSpec,
    ProductionSpec,
    ShiftSpec,
    resolve_stations,
    transport_between,
)
from twinworks.spec.schema import TwinDefinition

__all__ = [
    "Dist",
    "LineModel",
    "Product",
    "Station",
    "Step",
    "Transport",
    "line_from_definition",
    "merge_windows",
    "open_windows",
]


@dataclass(frozen=True, slots=True)
class Dist:
    """A random duration in seconds; ``sample`` draws with a given stream."""

    mean: float
    cv: float = 0.0
    kind: str = "fixed"

    @classmethod
    def of(cls, spec: DistSpec) -> Dist:
        kind = spec.dist if spec.cv > 0 or spec.dist == "exponential" else "fixed"
        return cls(spec.mean, spec.cv, kind)

    def sample(self, rng: random.Random) -> float:
        m, c = self.mean, self.cv
        if self.kind == "fixed" or m <= 0:
            return m
        if self.kind == "exponential":
            return rng.expovariate(1.0 / m)
        if self.kind == "lognormal":
            s2 = math.log1p(c * c)
            return rng.lognormvariate(math.log(m) - s2 / 2, math.sqrt(s2))
        if self.kind == "gamma":
            return rng.gammavariate(1.0 / (c * c), m * c * c)
        if self.kind == "normal":
            return max(0.0, rng.gauss(m, c * m))
        w = math.sqrt(3.0) * c * m
        return max(0.0, rng.uniform(m - w, m + w))

    def scaled(self, factor: float) -> Dist:
        return Dist(self.mean * factor, self.cv, self.kind)


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    capacity: int = 1
    buffer: int | None = None
    mtbf: float | None = None  # seconds; None: never fails
    failure_shape: float = 1.0
    failure_basis: str = "busy"
    mttr: Dist | None = None
    tool_life_parts: float | None = None
    tool_change: Dist | None = None
    feed_exponent: float = 1.5
    setup_default: float = 0.0
    setup_matrix: dict[tuple[str, str], float] = field(default_factory=dict)
    power_busy: float = 0.0  # kW
    power_idle: float = 0.0
    power_setup: float = 0.0
    power_down: float = 0.0
    feed_signal: str | None = "feed_override"

    def setup_time(self, before: str | None, after: str | None) -> float:
        if before is None or after is None:
            return 0.0
        if (before, after) in self.setup_matrix:
            return self.setup_matrix[(before, after)]
        return 0.0 if before == after else self.setup_default

    def ttf_scale(self) -> float:
        """Weibull scale whose mean is the MTBF."""
        assert self.mtbf is not None
        return self.mtbf / math.gamma(1.0 + 1.0 / self.failure_shape)


@dataclass(frozen=True, slots=True)
class Transport:
    id: str
    time: Dist
    capacity: int | None = None
    power_busy: float = 0.0
    power_idle: float = 0.0


@dataclass(frozen=True, slots=True)
class Step:
    operation: str
    stations: tuple[str, ...]
    times: tuple[Dist, ...]  # per station, same order

    def time_on(self, station: str) -> Dist:
        return self.times[self.stations.index(station)]


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    steps: tuple[Step, ...]
    family: str | None = None
    due_in: float | None = None


@dataclass(frozen=True)
class LineModel:
    name: str
    stations: dict[str, Station]
    transports: dict[str, Transport]
    products: dict[str, Product]
    interarrival: Dist | None = None
    mix: dict[str, float] = field(default_factory=dict)
    due_in: float | None = None
    wip_limit: int | None = None  # CONWIP release when set
    queue_cap: int | None = None
    shifts: tuple[ShiftSpec, ...] = ()
    timezone: str = "UTC"
    # conveyor joining two stations ("" when one feeds the other directly)
    links: dict[tuple[str, str], str] = field(default_factory=dict)

    def link(self, a: str, b: str) -> str | None:
        return self.links.get((a, b))

    def mix_table(self) -> tuple[list[str], list[float]]:
        names = list(self.mix) if self.mix else list(self.products)
        weights = [self.mix[n] for n in names] if self.mix else [1.0] * len(names)
        return names, weights


def line_from_definition(definition: TwinDefinition) -> LineModel:
    """The line of a definition. Raises :class:`SpecError` when it has no production section."""
    prod: ProductionSpec | None = definition.production
    if prod is None:
        raise SpecError(
            definition.name or "definition",
            [
                SpecIssue(
                    "production",
                    "the definition declares no production data",
                    "a production: section with stations and products (see docs/production.md)",
                )
            ],
        )
    stations: dict[str, Station] = {}
    for sid, s in prod.stations.items():
        f, t = s.failures, s.tool
        stations[sid] = Station(
            id=sid,
            capacity=s.capacity,
            buffer=s.buffer,
            mtbf=f.mtbf if f else None,
            failure_shape=f.shape if f else 1.0,
            failure_basis=f.basis if f else "busy",
            mttr=Dist.of(f.mttr) if f else None,
            tool_life_parts=t.life_parts if t else None,
            tool_change=Dist.of(t.change) if t else None,
            feed_exponent=t.feed_exponent if t else 1.5,
            setup_default=s.setup.default,
            setup_matrix={(a, b): v for a, row in s.setup.matrix.items() for b, v in row.items()},
            power_busy=s.power.busy,
            power_idle=s.power.idle,
            power_setup=s.power.setup if s.power.setup is not None else s.power.idle,
            power_down=s.power.down,
            feed_signal=s.feed_signal,
        )
    transports = {
        cid: Transport(cid, Dist.of(c.time), c.capacity, c.power.busy, c.power.idle)
        for cid, c in prod.transport.items()
    }
    links: dict[tuple[str, str], str] = {}
    products: dict[str, Product] = {}
    for name, p in prod.products.items():
        steps: list[Step] = []
        previous: tuple[str, ...] = ()
        for op in p.routing:
            where = tuple(resolve_stations(definition, op))
            times = tuple(Dist.of(op.times.get(s, op.time)) for s in where)
            for a in previous:
                for b in where:
                    via = transport_between(definition, a, b)
                    if via is not None:
                        links[(a, b)] = via
            steps.append(Step(op.operation or "/".join(where), where, times))
            previous = where
        products[name] = Product(name, tuple(steps), p.family, p.due_in)
    return LineModel(
        name=definition.name,
        stations=stations,
        transports=transports,
        products=products,
        interarrival=Dist.of(prod.release.interarrival) if prod.release.interarrival else None,
        mix=dict(prod.release.mix),
        due_in=prod.release.due_in,
        wip_limit=prod.release.wip_limit,
        queue_cap=prod.release.queue_cap,
        shifts=tuple(prod.shifts),
        timezone=prod.timezone,
        links=links,
    )


def open_windows(
    shifts: tuple[ShiftSpec, ...], origin: float, horizon_s: float, timezone: str = "UTC"
) -> list[tuple[float, float]]:
    """Working windows ``[start, end)`` in seconds after ``origin`` (epoch s), merged."""
    import zoneinfo

    tz = zoneinfo.ZoneInfo(timezone) if timezone != "UTC" else UTC
    t0 = datetime.fromtimestamp(origin, tz)
    day0 = t0.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    out: list[tuple[float, float]] = []
    n_days = int(horizon_s // 86400) + 3
    for d in range(n_days):
        day = day0 + timedelta(days=d)
        for shift in shifts:
            if days[day.weekday()] not in shift.days:
                continue
            a, b = shift.minutes()
            start = day + timedelta(minutes=a)
            end = day + timedelta(minutes=b if b > a else b + 1440)
            s, e = start.timestamp() - origin, end.timestamp() - origin
            if e > 0 and s < horizon_s:
                out.append((max(0.0, s), min(horizon_s, e)))
    return merge_windows(out)


def merge_windows(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for s, e in sorted(windows):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
