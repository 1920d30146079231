"""The prognostics service: tool RUL of every CNC twin and an up-to-date maintenance plan.

For each machine it takes the current tool's wear from the synchronisation
layer when the runtime runs a :class:`~twinworks.sync.service.SyncService` that
binds a model with a :class:`~twinworks.models.ToolWear` part to the machine: the
estimator's wear and its variance (``ukf.tool_wear`` ± ``.std``), placed on the
machine's wear curve and propagated with the tool type's scatter of wear rate.
Without such a binding it tracks the tool itself
(:class:`~twinworks.services.rul.toolwear.ToolWearTracker`). Every
``every_s`` seconds of source time propagates the estimate through the machine's
:class:`~twinworks.models.ToolLife` model (the model catalog's tool-life physics,
with the machine's data sheet as its parameters) to the wear limit under the
future load (the machine's feed override and nominal speed, at the share of time
it has recently spent cutting), by
Monte Carlo (``method="monte_carlo"``) or the unscented transform. It writes

- ``rul.tool_life_s`` (median, seconds of calendar time), ``rul.tool_life_s.lower``
  and ``.upper`` (the 5–95 % interval), ``rul.tool_wear_mm`` and its ``.std``,
  ``rul.utilisation`` — derived values, shown under the twin's ``virtual``;
- the latest :class:`~twinworks.services.rul.result.RulEstimate` with its
  sensitivity explanation (served by the API);
- a fleet maintenance plan (:func:`~twinworks.services.maintenance.plan_fleet`)
  over the coming maintenance windows, and a ``MaintenanceRecommended`` event
  with the reasoning whenever an asset's planned window changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from twinworks.models.catalog.machining import ToolLife
from twinworks.runtime.service import TwinService
from twinworks.services import events as hev
from twinworks.services.maintenance.planning import (
    FleetPlan,
    MaintenanceCosts,
    MaintenanceWindow,
    plan_fleet,
)
from twinworks.services.rul.propagate import constant_load, monte_carlo, unscented
from twinworks.services.rul.result import RulEstimate
from twinworks.services.rul.sensitivity import sensitivity
from twinworks.services.rul.toolwear import (
    ToolWearTracker,
    nominal_life_rate,
    particles_from_wear,
)
from twinworks.store.base import Event, Point

if TYPE_CHECKING:
    from twinworks.models.base import Model
    from twinworks.runtime.engine import Runtime
    from twinworks.sync.tracker import FleetTracker

__all__ = ["MaintenanceCalendar", "PrognosticsService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaintenanceCalendar:
    """Recurring maintenance windows: every ``period_s`` a window of ``length_s`` (source time)."""

    period_s: float = 600.0
    length_s: float = 120.0
    technicians: int = 1
    horizon_s: float = 4 * 3600.0

    def windows(self, now: float) -> tuple[float, list[MaintenanceWindow]]:
        """Windows from the next one on, as seconds from ``now``; and ``now``."""
        first = math.ceil(now / self.period_s) * self.period_s
        out = []
        start = first
        while start - now < self.horizon_s:
            out.append(
                MaintenanceWindow(start - now, start - now + self.length_s, self.technicians)
            )
            start += self.period_s
        return now, out


@dataclass(frozen=True)
class SyncSource:
    """Where a machine's tool state comes from when a model binding estimates it."""

    model_key: str
    tracker: FleetTracker
    tool: Model  # the binding's ToolWear (part), whose wear is the estimate used
    prefix: str  # of the tool's names in the bound model: "tool." in cnc_machine
    state: int  # index of the tool's wear among the bound model's states
    estimate: str  # the derived series the sync service publishes it as (ukf.tool_wear)


class _Machine:
    def __init__(self, twin_id: str, model: ToolLife, seed: int) -> None:
        self.twin_id = twin_id
        self.model = model
        self.tracker = ToolWearTracker(model, n_particles=600, seed=seed)
        self.source: SyncSource | None = None
        self.source_checked = False
        # life a nominal tool would have used since the current one was fitted (None: unseen)
        self.nominal_life: float | None = None
        self._tool_changes: int | None = None
        self._held: tuple[float, float, bool] | None = None  # speed, feed, cutting since then
        self.latest: dict[str, Any] = {}
        self.cutting_share = 0.5  # prior until data says otherwise
        self._last_share_ts: float | None = None
        self.last_run: float = -math.inf
        self.now: float = 0.0

    def observe(self, values: Mapping[str, list[Any]], share_tau_s: float) -> None:
        for signal, (ts, value) in values.items():
            self.latest[signal] = value
            self.now = max(self.now, float(ts))
        state = str(self.latest.get("state", "idle"))
        ts = self.now
        if self._last_share_ts is not None and ts > self._last_share_ts:
            # time-weighted average of "cutting": the share of calendar time that wears the tool
            w = math.exp(-(ts - self._last_share_ts) / share_tau_s)
            cutting = 1.0 if state == "cutting" else 0.0
            self.cutting_share = w * self.cutting_share + (1 - w) * cutting
            self._wear_nominally(ts - self._last_share_ts)
        self._held = (
            float(self.latest.get("spindle_speed", 0.0)),
            float(self.latest.get("feed_override", 100.0)),
            state == "cutting",
        )
        if "tool_changes" in self.latest:
            changes = int(self.latest["tool_changes"])
            if self._tool_changes is not None and changes != self._tool_changes:
                self.nominal_life = 0.0  # a new tool, fitted now
            self._tool_changes = changes
        self._last_share_ts = ts
        if self.source is not None:
            return  # the synchronisation layer tracks the tool
        vib = values.get("vibration")
        self.tracker.observe(
            ts,
            state=state,
            spindle_speed_rpm=float(self.latest.get("spindle_speed", 0.0)),
            feed_override_pct=float(self.latest.get("feed_override", 100.0)),
            vibration_mm_s=float(vib[1]) if vib is not None else None,
            tool_changes=int(self.latest["tool_changes"])
            if "tool_changes" in self.latest
            else None,
        )

    def _wear_nominally(self, dt: float) -> None:
        """Miner's sum: life a tool of nominal rate used over ``dt`` under the held load."""
        if self.nominal_life is None or self._held is None or not self._held[2]:
            return
        speed, feed, _ = self._held
        self.nominal_life += nominal_life_rate(self.model, np.array([speed, feed, 1.0])) * dt


class PrognosticsService(TwinService):
    """Tool-life prognostics and maintenance planning for the CNC twins named in ``machines``."""

    name: ClassVar[str] = "prognostics"

    def __init__(
        self,
        machines: Mapping[str, ToolLife],
        *,
        costs: MaintenanceCosts | Mapping[str, MaintenanceCosts] | None = None,
        calendar: MaintenanceCalendar | None = None,
        intervention_s: float = 120.0,
        method: Literal["monte_carlo", "unscented"] = "monte_carlo",
        every_s: float = 10.0,
        n_samples: int = 300,
        dt_s: float = 10.0,
        horizon_s: float = 8 * 3600.0,
        level: float = 0.9,
        share_tau_s: float = 1800.0,
        seed: int = 0,
        use_sync: bool = True,
    ) -> None:
        self.models = dict(machines)
        self.costs = costs or MaintenanceCosts(
            planned_cost=40.0,
            failure_cost=400.0,
            downtime_cost_per_h=300.0,
            planned_downtime_h=2 / 60,
            failure_downtime_h=10 / 60,
        )
        self.calendar = calendar or MaintenanceCalendar()
        self.intervention_s = intervention_s
        self.method = method
        self.every_s = every_s
        self.n_samples = n_samples
        self.dt_s = dt_s
        self.horizon_s = horizon_s
        self.level = level
        self.share_tau_s = share_tau_s
        self.seed = seed
        self.use_sync = use_sync
        self.machines = {
            tid: _Machine(tid, m, seed + i)
            for i, (tid, m) in enumerate(sorted(self.models.items()))
        }
        self.estimates: dict[str, RulEstimate] = {}
        self.samples: dict[str, np.ndarray] = {}
        self.plan: FleetPlan | None = None
        self.plan_at: float | None = None
        self._planned_window: dict[str, float | None] = {}
        self._runtime: Runtime | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        for twin_id in self.machines:
            runtime.registry.twin(twin_id)  # an unknown twin is a configuration error: say so now
        self._runtime = runtime
        wanted = set(self.machines)
        sub = runtime.bus.subscribe(lambda m: m.get("twin_id") in wanted, maxsize=20_000)
        self._task = asyncio.create_task(self._run(sub), name="twinworks-prognostics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, sub: Any) -> None:
        try:
            while True:
                message = await sub.get()
                if message.get("type") != "telemetry":
                    continue
                try:
                    await self.process(message["twin_id"], message["values"])
                except Exception:  # keep predicting for the other machines
                    log.exception("prognostics failed for %s", message.get("twin_id"))
        finally:
            sub.close()

    # ------------------------------------------------------------------ computing

    def sync_source(self, twin_id: str) -> SyncSource | None:
        """The model binding that estimates this machine's tool wear, if the runtime has one."""
        machine = self.machines[twin_id]
        if machine.source_checked or not self.use_sync or self._runtime is None:
            return machine.source
        machine.source_checked = True
        from twinworks.sync.service import SyncService

        service = self._runtime.services.get(SyncService.name)
        if isinstance(service, SyncService):
            for binding in service.models_of(twin_id):
                machine.source = _tool_source(binding.key, binding.model, binding.tracker)
                if machine.source is not None:
                    break
        return machine.source

    async def process(self, twin_id: str, values: Mapping[str, list[Any]]) -> None:
        machine = self.machines.get(twin_id)
        if machine is None:
            return
        self.sync_source(twin_id)
        machine.observe(values, self.share_tau_s)
        if machine.now - machine.last_run < self.every_s:
            return
        if machine.source is not None:
            # taken here, between the sync service's steps, so state and time belong together
            snapshot = _snapshot(machine.source, twin_id)
            if not math.isfinite(snapshot[0]):
                return  # the estimator has not seen this machine yet
            machine.last_run = machine.now
            estimate = await asyncio.to_thread(
                self._estimate_from_sync, machine, machine.source, snapshot
            )
        else:
            machine.last_run = machine.now
            estimate = await asyncio.to_thread(self.estimate, twin_id)
        if self._runtime is not None:
            points = [
                Point(twin_id, "rul.tool_life_s", machine.now, estimate.value),
                Point(twin_id, "rul.tool_life_s.lower", machine.now, estimate.lower),
                Point(twin_id, "rul.tool_life_s.upper", machine.now, estimate.upper),
                Point(twin_id, "rul.tool_wear_mm", machine.now, estimate.extra["tool_wear_mm"]),
                Point(
                    twin_id, "rul.tool_wear_mm.std", machine.now, estimate.extra["tool_wear_mm_std"]
                ),
                Point(twin_id, "rul.utilisation", machine.now, machine.cutting_share),
            ]
            self._runtime.submit_derived(
                [p for p in points if isinstance(p.value, float) and math.isfinite(p.value)]
            )
        if len(self.samples) == len(self.machines):
            await self.replan(machine.now)

    def estimate(self, twin_id: str) -> RulEstimate:
        """Propagate the machine's current tool state to the wear limit (calendar seconds)."""
        machine = self.machines[twin_id]
        if machine.source is not None:
            source = machine.source
            return self._estimate_from_sync(machine, source, _snapshot(source, twin_id))
        model = machine.model
        feed = float(machine.latest.get("feed_override", 100.0))
        share = max(machine.cutting_share, 0.05)  # a machine that stands still would never fail
        profile = constant_load(np.array([[model.value("reference_speed_rpm"), feed, share]]))
        mean, cov = machine.tracker.mean_cov()
        if self.method == "unscented":
            ft = unscented(
                model,
                profile,
                mean=mean[None],
                cov=cov[None],
                dt=self.dt_s,
                horizon=self.horizon_s,
                level=self.level,
            )
            rng = np.random.default_rng(self.seed)
            sd = float(ft.std[0]) if ft.std is not None else 0.0
            samples = np.maximum(rng.normal(float(ft.median[0]), sd, self.n_samples), 0.0)
        else:
            ft = monte_carlo(
                model,
                profile,
                particles=machine.tracker.sample(self.n_samples)[None],
                dt=self.dt_s,
                horizon=self.horizon_s,
                level=self.level,
            )
            assert ft.samples is not None
            samples = ft.samples[0]
        self.samples[twin_id] = samples
        std = np.sqrt(np.maximum(np.diag(cov), 1e-12))
        why = sensitivity(
            model,
            mean,
            std,
            profile,
            state_names=model.states,
            parameters=("tool_life_s", "taylor_n", "feed_exponent"),
            dt=self.dt_s,
            horizon=self.horizon_s,
        )
        wear = model.wear_mm(machine.tracker.particles[:, 0])
        w = machine.tracker.weights
        wear_mean = float(w @ wear)
        wear_std = float(math.sqrt(max(float(w @ (wear - wear_mean) ** 2), 0.0)))
        estimate = RulEstimate(
            value=float(ft.median[0]),
            lower=float(ft.lower[0]),
            upper=float(ft.upper[0]),
            level=self.level,
            unit="s",
            method=f"model-based ({self.method.replace('_', ' ')})",
            explanation=why,
            extra={
                "at": machine.now,
                "tool_wear_mm": wear_mean,
                "tool_wear_mm_std": wear_std,
                "life_used": float(mean[0]),
                "wear_multiplier": float(math.exp(mean[1])),
                "utilisation": machine.cutting_share,
                "feed_override_pct": feed,
                "censored": float(ft.censored[0]) if ft.censored is not None else 0.0,
                "measurements_used": machine.tracker.updates,
            },
        )
        self.estimates[twin_id] = estimate
        return estimate

    def _estimate_from_sync(
        self,
        machine: _Machine,
        source: SyncSource,
        snapshot: tuple[float, np.ndarray, np.ndarray, dict[str, float], int | None],
    ) -> RulEstimate:
        """The RUL of the tool whose wear the synchronisation layer estimates.

        The wear is sampled from the estimator's mean and variance and placed on the
        machine's data-sheet wear curve (life used at that wear); each sample's tool
        wears on at the extended-Taylor rate times a lognormal multiplier with the tool
        type's scatter (``multiplier_sigma``), because the bound model estimates the
        wear but not the current tool's own wear rate.
        """
        twin_id = machine.twin_id
        model = machine.model
        at, mean_x, cov_x, _, version = snapshot
        k = source.state
        wear = float(mean_x[k])
        wear_std = float(math.sqrt(max(float(cov_x[k, k]), 0.0)))
        feed = float(machine.latest.get("feed_override", 100.0))
        share = max(machine.cutting_share, 0.05)  # a machine that stands still would never fail
        profile = constant_load(np.array([[model.value("reference_speed_rpm"), feed, share]]))
        rng = np.random.default_rng(self.seed)
        nominal = machine.nominal_life
        particles = particles_from_wear(model, wear, wear_std, nominal, self.n_samples, rng)[None]
        life, log_m = particles[0, :, 0], particles[0, :, 1]
        ft = monte_carlo(
            model,
            profile,
            particles=particles,
            dt=self.dt_s,
            horizon=self.horizon_s,
            level=self.level,
        )
        assert ft.samples is not None
        self.samples[twin_id] = ft.samples[0]
        life_mean = float(model.life_used(wear))
        why = sensitivity(
            model,
            np.array([life_mean, float(np.mean(log_m))]),
            np.array([max(float(np.std(life)), 1e-9), max(float(np.std(log_m)), 1e-9)]),
            profile,
            state_names=model.states,
            parameters=("tool_life_s", "taylor_n", "feed_exponent"),
            dt=self.dt_s,
            horizon=self.horizon_s,
        )
        estimate = RulEstimate(
            value=float(ft.median[0]),
            lower=float(ft.lower[0]),
            upper=float(ft.upper[0]),
            level=self.level,
            unit="s",
            method="model-based (monte carlo) from the sync estimate",
            explanation=why,
            extra={
                "at": machine.now,
                "source": "sync",
                "model": source.model_key,
                "model_version": version,
                "estimate": source.estimate,
                "estimated_at": at,
                "tool_wear_mm": wear,
                "tool_wear_mm_std": wear_std,
                "life_used": life_mean,
                "wear_multiplier": float(np.exp(np.mean(log_m))),
                "nominal_life_used": nominal,
                "utilisation": machine.cutting_share,
                "feed_override_pct": feed,
                "censored": float(ft.censored[0]) if ft.censored is not None else 0.0,
            },
        )
        self.estimates[twin_id] = estimate
        return estimate

    async def replan(self, now: float) -> FleetPlan:
        now, windows = self.calendar.windows(now)
        plan = plan_fleet(self.samples, self.costs, windows, intervention_s=self.intervention_s)
        self.plan, self.plan_at = plan, now
        events = []
        for item in plan.interventions:
            when = None if item.time_s is None else now + item.time_s
            before = self._planned_window.get(item.asset, "none")
            if before == "none" or before != when:
                self._planned_window[item.asset] = when
                events.append(
                    Event(
                        hev.MAINTENANCE_RECOMMENDED,
                        item.asset,
                        {
                            "action": "change_tool",
                            "at": when,
                            "window": item.window,
                            "failure_probability": item.failure_probability,
                            "cost_rate_per_h": item.cost_rate_per_h,
                            "reasoning": item.reasoning,
                            "rul": self.estimates[item.asset].as_dict()
                            if item.asset in self.estimates
                            else None,
                        },
                        ts=now,
                    )
                )
        if events and self._runtime is not None:
            await self._runtime.record(events)
        return plan

    def plan_view(self) -> dict[str, Any]:
        """The current plan with absolute times (source time), for the API and CLI."""
        if self.plan is None or self.plan_at is None:
            return {"at": None, "interventions": [], "windows": [], "note": "no plan yet"}
        at = self.plan_at
        body = self.plan.as_dict()
        for item in body["interventions"]:
            item["at"] = None if item["time_s"] is None else at + item["time_s"]
            item["action"] = "change_tool"
        for w in body["windows"]:
            w["start"] = at + w["start_s"]
            w["end"] = at + w["end_s"]
        currency = self.costs.currency if isinstance(self.costs, MaintenanceCosts) else "EUR"
        return {"at": at, "currency": currency, **body}


def _tool_source(key: str, model: Model, tracker: FleetTracker) -> SyncSource | None:
    """The ToolWear model (or part of a composite) of a binding, and how its wear is named."""
    from twinworks.models.catalog.machining import ToolWear
    from twinworks.models.composite import Composite

    tool, prefix = None, ""
    if isinstance(model, ToolWear):
        tool = model
    elif isinstance(model, Composite):
        for name, part in model.parts.items():
            if isinstance(part, ToolWear):
                tool, prefix = part, f"{name}."
                break
    if tool is None:
        return None
    state = f"{prefix}wear_mm"
    published = [n for n, s in tracker.published.items() if s == state]
    estimate = f"{tracker.prefix}.{published[0]}" if published else ""
    return SyncSource(key, tracker, tool, prefix, model.states.index(state), estimate)


def _snapshot(
    source: SyncSource, twin_id: str
) -> tuple[float, np.ndarray, np.ndarray, dict[str, float], int | None]:
    """The estimator's time, state mean and covariance, parameters and model version now."""
    at, mean, cov = source.tracker.state_estimate(twin_id)
    tracker = source.tracker
    return at, mean, cov, tracker.parameters(twin_id), tracker.versions[tracker.index[twin_id]]
