"""The discrete-event model of the line, in SimPy.

Each station has an input buffer (a priority store: rush orders first, then
earliest due date, then first come) and one process per parallel machine that
takes a part, waits for the shift and any planned maintenance, sets up when the
product family changes, changes a worn tool, processes (stretched by the feed
override and cut short by breakdowns and their repairs), and hands the part on
-- straight to the next buffer, or onto a conveyor that carries it there. A
full buffer or belt blocks the machine that wants to hand over, as on a real
line.

Breakdowns are modelled without SimPy interrupts: the time to the next failure
is known when an activity starts, so the activity is split at the failure. This
keeps the model within a small factor of a hand-written SimPy line (measured by
``bench/des.py``) while it accounts for setups, tools, energy and shifts.

Every random quantity has its own stream, named by station and purpose and
seeded from the run's seed, so two runs with the same seed draw the same
processing times, failures and arrivals: the common random numbers that make
what-if comparisons sharp.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy
from simpy.resources.store import PriorityItem

from twinworks.services.line.model import LineModel, Product, Station, merge_windows
from twinworks.services.line.state import LineState, StationState

__all__ = [
    "Effects",
    "LineState",
    "Order",
    "RunResult",
    "Simulation",
    "StationState",
    "simulate",
]

_INF = float("inf")


@dataclass(frozen=True)
class Order:
    """Parts released at a given time: a rush order, or planned work."""

    at: float
    product: str
    quantity: int = 1
    due_in: float | None = None
    priority: int = 0
    name: str = ""


@dataclass
class Effects:
    """What a scenario changes, in simulation seconds from the fork."""

    feed: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    maintenance: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    extra_open: list[tuple[float, float]] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    release_factor: float = 1.0
    wip_limit: int | None = None  # overrides the line's CONWIP limit


@dataclass
class RunResult:
    horizon_s: float
    seed: int
    kpis: dict[str, float]
    stations: dict[str, dict[str, float]]
    released: int
    completed: int
    wip_end: int
    trace: list[tuple[float, int, int]] = field(default_factory=list)  # (t, wip, completed)


class _Part:
    __slots__ = ("due", "family", "id", "priority", "product", "released", "step")

    def __init__(
        self, pid: int, product: Product, step: int, released: float, due: float | None, prio: int
    ) -> None:
        self.id = pid
        self.product = product
        self.step = step
        self.released = released
        self.due = due
        self.priority = prio
        self.family = product.family


class _Server:
    __slots__ = ("fail_at", "family", "free_at", "maint_i", "ttf", "wear")

    def __init__(self) -> None:
        self.ttf = _INF  # busy time to the next failure
        self.fail_at = _INF  # calendar time of the next failure
        self.wear = 0.0
        self.family: str | None = None
        self.free_at = 0.0
        self.maint_i = 0


class _Station:
    __slots__ = (
        "acc",
        "buffer",
        "failures",
        "feed",
        "maint",
        "parts",
        "rng_fail",
        "rng_proc",
        "rng_tool",
        "servers",
        "spec",
    )

    def __init__(self, spec: Station, env: simpy.Environment, sim: Simulation) -> None:
        self.spec = spec
        cap = spec.buffer if spec.buffer is not None else _INF
        self.buffer = simpy.PriorityStore(env, capacity=max(1, cap) if cap != _INF else _INF)
        self.servers = [_Server() for _ in range(spec.capacity)]
        self.acc = {"busy": 0.0, "setup": 0.0, "down": 0.0, "blocked": 0.0}
        self.parts = 0
        self.failures = 0
        self.rng_proc = sim.rng(f"{spec.id}/process")
        self.rng_fail = sim.rng(f"{spec.id}/failure")
        self.rng_tool = sim.rng(f"{spec.id}/tool")
        self.feed: list[tuple[float, float]] = [(0.0, 100.0)]
        self.maint: list[tuple[float, float]] = []


class Simulation:
    """One run of the line over ``horizon_s`` seconds from a (forked) state.

    >>> from twinworks.spec import load_definition
    >>> from twinworks.services.production.line import line_from_definition
    >>> line = line_from_definition(load_definition("examples/machining_cell.yaml"))
    >>> r = Simulation(line, horizon_s=8 * 3600, seed=1).run()
    >>> r.released == r.completed + r.wip_end
    True
    """

    def __init__(
        self,
        line: LineModel,
        *,
        horizon_s: float,
        seed: int = 0,
        state: LineState | None = None,
        effects: Effects | None = None,
        trace: bool = False,
    ) -> None:
        if not horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {horizon_s}")
        self.line = line
        self.horizon = float(horizon_s)
        self.seed = seed
        self.state = state or LineState()
        self.effects = effects or Effects()
        self.trace_on = trace
        self.env = simpy.Environment()
        self._rngs: dict[str, random.Random] = {}
        self.stations = {sid: _Station(s, self.env, self) for sid, s in line.stations.items()}
        self.slots = {
            cid: simpy.Resource(self.env, capacity=t.capacity)
            for cid, t in line.transports.items()
            if t.capacity is not None
        }
        self.on_belt = dict.fromkeys(line.transports, 0)
        self.belt_busy = dict.fromkeys(line.transports, 0.0)
        self.belt_since = dict.fromkeys(line.transports, 0.0)
        self.opens = self._calendar()
        self.wip = 0
        self.wip_area = 0.0
        self.wip_t = 0.0
        self.released = 0
        self.completed = 0
        self.lead_sum = 0.0
        self.with_due = 0
        self.on_time = 0
        self.seq = 0
        self.trace: list[tuple[float, int, int]] = []
        self.names, self.weights = line.mix_table()
        self.rng_mix = self.rng("mix")
        self._pull: simpy.Event | None = None  # CONWIP: wakes the release when room appears

    # ------------------------------------------------------------------ helpers

    def rng(self, name: str) -> random.Random:
        rng = self._rngs.get(name)
        if rng is None:
            rng = self._rngs[name] = random.Random(f"{self.seed}/{name}")
        return rng

    def _calendar(self) -> list[tuple[float, float]] | None:
        if not self.line.shifts:
            return None
        from twinworks.services.production.line import open_windows

        windows = open_windows(
            self.line.shifts, self.state.origin, self.horizon, self.line.timezone
        )
        return merge_windows(windows + list(self.effects.extra_open))

    def next_open(self, t: float) -> float:
        """The earliest time >= t at which the line works."""
        if self.opens is None:
            return t
        i = bisect.bisect_right(self.opens, (t, _INF)) - 1
        if i >= 0 and self.opens[i][0] <= t < self.opens[i][1]:
            return t
        j = i + 1
        return self.opens[j][0] if j < len(self.opens) else _INF

    def _spend(self, st: _Station, kind: str, start: float, duration: float) -> None:
        # accounted when an activity starts, clipped at the horizon (nothing is interrupted)
        end = start + duration
        if end > self.horizon:
            end = self.horizon
        if end > start:
            st.acc[kind] += end - start

    def _wip(self, delta: int) -> None:
        now = self.env.now
        self.wip_area += self.wip * (now - self.wip_t)
        self.wip_t = now
        self.wip += delta
        if delta < 0:
            self._signal()

    def _signal(self) -> None:
        pull = self._pull
        if pull is not None and not pull.triggered:
            pull.succeed()

    def _product(self, name: str | None) -> Product:
        if name is None or name not in self.line.products:
            name = self.rng_mix.choices(self.names, self.weights)[0]
        return self.line.products[name]

    def _new_part(
        self,
        product: Product,
        step: int,
        released: float,
        prio: int = 0,
        due_in: float | None = None,
    ) -> _Part:
        self.seq += 1
        allowance = due_in if due_in is not None else (product.due_in or self.line.due_in)
        due = released + allowance if allowance is not None else None
        return _Part(self.seq, product, step, released, due, prio)

    def _item(self, part: _Part) -> PriorityItem:
        self.seq += 1
        due = part.due if part.due is not None else _INF
        return PriorityItem((-part.priority, due, self.seq), part)

    def _choose(self, part: _Part) -> _Station:
        stations = part.product.steps[part.step].stations
        if len(stations) == 1:
            return self.stations[stations[0]]
        # join the shortest queue among the eligible stations
        return min((self.stations[s] for s in stations), key=lambda st: len(st.buffer.items))

    def _feed(self, st: _Station, t: float) -> float:
        value = 100.0
        for at, percent in st.feed:
            if at <= t:
                value = percent
        return value

    # ------------------------------------------------------------------ processes

    def _enter(self, part: _Part) -> Generator[Any, Any, None]:
        self.released += 1
        self._wip(+1)
        yield self._choose(part).buffer.put(self._item(part))

    def _arrivals(self) -> Generator[Any, Any, None]:
        gap = self.line.interarrival
        assert gap is not None
        rng = self.rng("arrivals")
        factor = self.effects.release_factor
        env = self.env
        while True:
            yield env.timeout(gap.sample(rng) / factor)
            t = self.next_open(env.now)
            if t == _INF:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(self._enter(self._new_part(self._product(None), 0, env.now)))

    def _conwip(self) -> Generator[Any, Any, None]:
        """Release a part whenever the line holds fewer than the limit (and the queue has room)."""
        env = self.env
        limit = self.effects.wip_limit or self.line.wip_limit
        cap = self.line.queue_cap
        assert limit is not None
        product = self._product(None)
        while True:
            first = [self.stations[s] for s in product.steps[0].stations]
            room = cap is None or min(len(st.buffer.items) for st in first) < cap
            if self.wip < limit and room:
                t = self.next_open(env.now)
                if t == _INF:
                    return
                if t > env.now:
                    yield env.timeout(t - env.now)
                    continue
                env.process(self._enter(self._new_part(product, 0, env.now)))
                product = self._product(None)
                # let the part reach its buffer before looking at the queue again
                yield env.timeout(0)
                continue
            self._pull = env.event()
            yield self._pull
            self._pull = None

    def _order(self, order: Order) -> Generator[Any, Any, None]:
        yield self.env.timeout(order.at)
        product = self.line.products[order.product]
        for _ in range(order.quantity):
            part = self._new_part(product, 0, self.env.now, order.priority, order.due_in)
            self.env.process(self._enter(part))

    def _ride(
        self, conveyor: str, req: Any, part: _Part, dest: _Station, time_s: float
    ) -> Generator[Any, Any, None]:
        env = self.env
        if self.on_belt[conveyor] == 0:
            self.belt_since[conveyor] = env.now
        self.on_belt[conveyor] += 1
        yield env.timeout(time_s)
        yield dest.buffer.put(self._item(part))
        self.on_belt[conveyor] -= 1
        if self.on_belt[conveyor] == 0:
            self.belt_busy[conveyor] += min(env.now, self.horizon) - self.belt_since[conveyor]
        if req is not None:
            self.slots[conveyor].release(req)

    def _handover(self, st: _Station, part: _Part) -> Generator[Any, Any, None]:
        env = self.env
        part.step += 1
        if part.step >= len(part.product.steps):
            self._wip(-1)
            self.completed += 1
            self.lead_sum += env.now - part.released
            if part.due is not None:
                self.with_due += 1
                if env.now <= part.due:
                    self.on_time += 1
            return
        dest = self._choose(part)
        via = self.line.links.get((st.spec.id, dest.spec.id), "")
        began = env.now
        if via:
            req = None
            if via in self.slots:
                req = self.slots[via].request()
                yield req
            t = self.line.transports[via].time.sample(self.rng(f"{via}/ride"))
            env.process(self._ride(via, req, part, dest, t))
        else:
            yield dest.buffer.put(self._item(part))
        if env.now > began:
            st.acc["blocked"] += min(env.now, self.horizon) - min(began, self.horizon)

    def _fail(self, st: _Station, srv: _Server) -> Generator[Any, Any, None]:
        """A breakdown now: repair, then draw the next failure."""
        spec = st.spec
        repair = spec.mttr.sample(st.rng_fail) if spec.mttr is not None else 0.0
        st.failures += 1
        self._spend(st, "down", self.env.now, repair)
        yield self.env.timeout(repair)
        self._next_failure(st, srv)

    def _next_failure(self, st: _Station, srv: _Server) -> None:
        spec = st.spec
        srv.fail_at = _INF
        srv.ttf = _INF
        if spec.mtbf is None:
            return
        ttf = st.rng_fail.weibullvariate(spec.ttf_scale(), spec.failure_shape)
        if spec.failure_basis == "calendar":
            srv.fail_at = self.env.now + ttf
        else:
            srv.ttf = ttf

    def _work(
        self, st: _Station, srv: _Server, kind: str, duration: float
    ) -> Generator[Any, Any, None]:
        """Spend ``duration`` on an activity, split by any breakdowns on the way."""
        env = self.env
        left = duration
        while left > 0:
            until_fail = srv.ttf if kind == "busy" else _INF
            if srv.fail_at != _INF:
                until_fail = min(until_fail, srv.fail_at - env.now)
            if until_fail < left:
                run = max(0.0, until_fail)
                self._spend(st, kind, env.now, run)
                if run > 0:
                    yield env.timeout(run)
                if kind == "busy":
                    srv.ttf -= run
                left -= run
                yield from self._fail(st, srv)
                continue
            self._spend(st, kind, env.now, left)
            yield env.timeout(left)
            if kind == "busy":
                srv.ttf -= left
            left = 0.0

    def _server(
        self, st: _Station, srv: _Server, first: tuple[str, float, _Part | None] | None
    ) -> Generator[Any, Any, None]:
        env = self.env
        spec = st.spec
        buffer = st.buffer
        if first is not None:
            kind, left, part = first
            if kind == "down":
                self._spend(st, "down", 0.0, left)
                st.failures += 1
                yield env.timeout(left)
            elif part is not None:
                yield from self._work(st, srv, kind, left)
                st.parts += 1
                srv.free_at = env.now
                yield from self._handover(st, part)
        while True:
            item = yield buffer.get()
            part = item.item
            if self._pull is not None:
                self._signal()
            # the line works in shifts; a part started in a shift is finished
            t = self.next_open(env.now)
            if t == _INF:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            # planned maintenance: starts when due, or when the machine is free
            if st.maint:
                while srv.maint_i < len(st.maint) and st.maint[srv.maint_i][0] <= env.now:
                    at, length = st.maint[srv.maint_i]
                    srv.maint_i += 1
                    until = max(at, srv.free_at) + length
                    if until > env.now:
                        self._spend(st, "down", env.now, until - env.now)
                        yield env.timeout(until - env.now)
            # a machine failing while idle (calendar basis) is found broken now
            if srv.fail_at <= env.now:
                yield from self._fail(st, srv)
            if part.family is not None and part.family != srv.family:
                setup = spec.setup_time(srv.family, part.family)
                srv.family = part.family
                if setup > 0:
                    yield from self._work(st, srv, "setup", setup)
            feed = self._feed(st, env.now) if spec.feed_signal else 100.0
            if spec.tool_life_parts is not None:
                wear = (feed / 100.0) ** spec.feed_exponent / spec.tool_life_parts
                if srv.wear + wear > 1.0:
                    assert spec.tool_change is not None
                    yield from self._work(st, srv, "setup", spec.tool_change.sample(st.rng_tool))
                    srv.wear = 0.0
                srv.wear += wear
            p = part.product.steps[part.step].time_on(spec.id).sample(st.rng_proc) * 100.0 / feed
            yield from self._work(st, srv, "busy", p)
            st.parts += 1
            srv.free_at = env.now
            yield from self._handover(st, part)

    def _sampler(self) -> Generator[Any, Any, None]:
        step = self.horizon / 120
        while True:
            self.trace.append((self.env.now, self.wip, self.completed))
            yield self.env.timeout(step)

    # ------------------------------------------------------------------ run

    def _initial(self) -> None:
        env = self.env
        state = self.state
        for sid, st in self.stations.items():
            ss = state.stations.get(sid, StationState())
            for cut_at, percent in sorted(self.effects.feed.get(sid, [])):
                st.feed.append((cut_at, percent))
            if ss.feed is not None:
                st.feed[0] = (0.0, ss.feed)
            st.feed.sort(key=lambda x: x[0])
            st.maint = sorted(self.effects.maintenance.get(sid, []))
            spec = st.spec
            rng = self.rng(f"{sid}/fork")
            for k, srv in enumerate(st.servers):
                self._next_failure(st, srv)
                if k == 0 and ss.failure_time is not None:
                    mean, std = ss.failure_time
                    s2 = math.log1p((std / mean) ** 2) if mean > 0 and std > 0 else 0.0
                    draw = rng.lognormvariate(math.log(max(mean, 1e-9)) - s2 / 2, math.sqrt(s2))
                    srv.fail_at, srv.ttf = draw, _INF
                srv.wear = ss.tool_wear if ss.tool_wear is not None else rng.random() * 0.5
                srv.family = ss.family
                first: tuple[str, float, _Part | None] | None = None
                if k == 0 and ss.state in ("busy", "setup"):
                    product = self._product(None)
                    step = _step_of(product, sid)
                    if step is not None:
                        part = self._new_part(product, step, 0.0)
                        self.released += 1
                        self.wip += 1
                        full = product.steps[step].time_on(sid).mean
                        first = ("busy", rng.random() * full, part)
                        srv.family = product.family
                elif k == 0 and ss.state == "down":
                    mean = spec.mttr.mean if spec.mttr is not None else 0.0
                    first = ("down", rng.random() * 2 * mean, None)
                env.process(self._server(st, srv, first))
            for name in ss.queue:
                product = self._product(name)
                step = _step_of(product, sid)
                if step is None:
                    continue
                env.process(self._enter(self._new_part(product, step, 0.0)))
        for conveyor, count in state.on_transport.items():
            transport = self.line.transports.get(conveyor)
            if transport is None:
                continue
            rng = self.rng(f"{conveyor}/fork")
            for _ in range(count):
                product = self._product(None)
                target = _after(self.line, product, conveyor)
                if target is None:
                    continue
                step, dest = target
                part = self._new_part(product, step, 0.0)
                self.released += 1
                self.wip += 1
                ride = rng.random() * transport.time.mean
                env.process(self._ride(conveyor, None, part, self.stations[dest], ride))
        if self.line.wip_limit is not None or self.effects.wip_limit is not None:
            env.process(self._conwip())
        elif self.line.interarrival is not None and self.effects.release_factor > 0:
            env.process(self._arrivals())
        for order in self.effects.orders:
            env.process(self._order(order))
        if self.trace_on:
            env.process(self._sampler())

    def run(self) -> RunResult:
        self._initial()
        self.env.run(until=self.horizon)
        self._wip(0)
        h = self.horizon
        stations: dict[str, dict[str, float]] = {}
        energy = 0.0
        for sid, st in self.stations.items():
            spec = st.spec
            cap = h * spec.capacity
            a = st.acc
            idle = max(0.0, cap - a["busy"] - a["setup"] - a["down"])
            energy += (
                spec.power_busy * a["busy"]
                + spec.power_setup * a["setup"]
                + spec.power_down * a["down"]
                + spec.power_idle * idle
            ) / 3600.0
            stations[sid] = {
                "utilisation": a["busy"] / cap,
                "setup": a["setup"] / cap,
                "down": a["down"] / cap,
                "blocked": min(1.0, a["blocked"] / cap),
                "parts": float(st.parts),
                "failures": float(st.failures),
                "queue_end": float(len(st.buffer.items)),
            }
        for cid, t in self.line.transports.items():
            busy = self.belt_busy[cid]
            if self.on_belt[cid] > 0:
                busy += h - min(h, self.belt_since[cid])
            energy += (t.power_busy * busy + t.power_idle * (h - busy)) / 3600.0
        done = self.completed
        kpis = {
            "throughput_per_h": done / (h / 3600.0),
            "lead_time_min": (self.lead_sum / done / 60.0) if done else math.nan,
            "wip": self.wip_area / h,
            "utilisation": sum(s["utilisation"] for s in stations.values()) / max(1, len(stations)),
            "energy_kwh": energy,
            "on_time_rate": (self.on_time / self.with_due) if self.with_due else math.nan,
            "completed": float(done),
        }
        if self.trace_on:
            self.trace.append((h, self.wip, self.completed))
        return RunResult(h, self.seed, kpis, stations, self.released, done, self.wip, self.trace)


def _step_of(product: Product, station: str) -> int | None:
    for k, step in enumerate(product.steps):
        if station in step.stations:
            return k
    return None


def _after(line: LineModel, product: Product, conveyor: str) -> tuple[int, str] | None:
    """The step and station a part on ``conveyor`` is heading for."""
    for k in range(1, len(product.steps)):
        for a in product.steps[k - 1].stations:
            for b in product.steps[k].stations:
                if line.links.get((a, b)) == conveyor:
                    return k, b
    return None


def simulate(
    line: LineModel,
    horizon_s: float,
    seed: int = 0,
    state: LineState | None = None,
    effects: Effects | None = None,
    trace: bool = False,
) -> RunResult:
    """One replication; see :class:`Simulation`."""
    return Simulation(
        line, horizon_s=horizon_s, seed=seed, state=state, effects=effects, trace=trace
    ).run()
