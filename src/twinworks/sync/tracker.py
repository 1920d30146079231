"""Keeping a fleet of virtual twins in step with their assets: the synchronisation loop.

:class:`FleetTracker` is the pure core (no asyncio, no store): it turns the
latest telemetry of the twins bound to one model into filter steps, and returns
what they produced — derived values (estimates with their uncertainty, predicted
measurements, consistency scores), events (``ModelDriftDetected``) and update
jobs. The same object runs in virtual time in tests and replays, and live inside
the runtime through :class:`twinworks.sync.service.SyncService`.

What happens on drift, per twin:

1. the drift detector alarms: a ``ModelDriftDetected`` event is emitted and the
   state is re-synchronised (its uncertainty is reset to the model's initial
   uncertainty, so the next measurements pull it back — the right response to a
   tool change the model did not see);
2. data keep coming for ``update_window_s``; then an :class:`UpdateJob` re-fits
   the binding's ``calibrate`` parameters on the first 70 % of that window and
   scores the candidate against the active version on the held-out last 30 %;
3. the caller records the candidate as a new model version; it becomes active
   only if it beats the active version (:mod:`twinworks.sync.versions`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinworks.models.base import Array, Model
from twinworks.spec.models import ModelBindingSpec, ModelInputSpec
from twinworks.store.base import Event, Point
from twinworks.sync import events as ev
from twinworks.sync.calibration import Window, calibrate, evaluate
from twinworks.sync.consistency import ConsistencyMonitor, ConsistencyReport
from twinworks.sync.particle import ParticleFilter
from twinworks.sync.ukf import Innovation, UnscentedKalmanFilter

__all__ = ["FleetTracker", "StepResult", "UpdateJob", "UpdateOutcome"]


@dataclass
class StepResult:
    points: list[Point] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    jobs: list[UpdateJob] = field(default_factory=list)
    report: ConsistencyReport | None = None
    innovation: Innovation | None = None
    failed: dict[str, str] = field(default_factory=dict)
    """Twins whose model raised in this step (twin → the error); they are not stepped again."""


@dataclass(frozen=True)
class UpdateOutcome:
    twin_id: str
    model: str
    reason: str
    active_version: int | None
    theta: Array
    std: dict[str, float]
    active_scores: dict[str, float]
    candidate_scores: dict[str, float]
    accepted: bool
    started: float
    window: tuple[float, float]


@dataclass
class UpdateJob:
    """Re-fit one twin's parameters on a window and judge the candidate (CPU-heavy, pure)."""

    twin_id: str
    model_key: str
    model: Model
    window: Window
    fit: tuple[str, ...]
    theta: Array
    prior: Array
    x0: Array
    active_version: int | None
    reason: str
    started: float
    holdout_fraction: float = 0.3
    margin_nll: float = 0.05

    def run(self) -> UpdateOutcome:
        split = int(len(self.window) * (1.0 - self.holdout_fraction))
        fit_part, _ = self.window.split(split)
        P0 = self.model.initial_covariance()
        if self.fit:
            cal = calibrate(
                self.model,
                fit_part,
                fit=self.fit,
                theta0=self.theta,
                x0=self.x0,
                P0=P0,
                prior=self.prior,
                max_nfev=12,
            )
            candidate, std = cal.theta, cal.std
            fit_cost = cal.cost / max(cal.residuals, 1)
        else:
            candidate, std, fit_cost = self.theta.copy(), {}, math.nan
        active, new = evaluate(
            self.model,
            np.vstack([self.theta, candidate]),
            self.window,
            x0=self.x0,
            P0=P0,
            holdout_from=split,
        )
        # better means: explains the held-out data more likely, and not less consistently
        accepted = bool(
            new["nll"] < active["nll"] - self.margin_nll
            and new["consistency"] >= active["consistency"] - 0.02
        )
        t = self.window.t
        return UpdateOutcome(
            twin_id=self.twin_id,
            model=self.model_key,
            reason=self.reason,
            active_version=self.active_version,
            theta=candidate,
            std=std,
            active_scores={
                "holdout_nll": active["nll"],
                "holdout_consistency": active["consistency"],
            },
            candidate_scores={
                "holdout_nll": new["nll"],
                "holdout_consistency": new["consistency"],
                "fit_cost": fit_cost,
                "holdout_samples": float(new["samples"]),
            },
            accepted=accepted,
            started=self.started,
            window=(float(t[0]), float(t[-1])) if len(t) else (math.nan, math.nan),
        )


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan


class FleetTracker:
    """Estimation, consistency and update scheduling for the twins bound to one model."""

    def __init__(
        self,
        model: Model,
        twin_ids: Sequence[str],
        binding: ModelBindingSpec,
        *,
        model_key: str = "model",
        thetas: Array | None = None,
        priors: Array | None = None,
        versions: Sequence[int | None] | None = None,
        prefix: str | None = None,
        window: int = 60,
        n_particles: int = 500,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.twin_ids = tuple(twin_ids)
        self.index = {t: i for i, t in enumerate(self.twin_ids)}
        self.binding = binding
        self.model_key = model_key
        n = len(self.twin_ids)
        self.thetas = model.theta(n) if thetas is None else np.array(thetas, dtype=float)
        self.priors = self.thetas.copy() if priors is None else np.array(priors, dtype=float)
        self.versions: list[int | None] = list(versions or [None] * n)
        self.prefix = prefix or binding.estimator
        self.filter: UnscentedKalmanFilter | ParticleFilter
        if binding.estimator == "pf":
            self.filter = ParticleFilter(
                model, n, theta=self.thetas, n_particles=n_particles, seed=seed
            )
        else:
            self.filter = UnscentedKalmanFilter(model, n, theta=self.thetas)
        self.monitor = ConsistencyMonitor(n, model.outputs, window=window)
        # where each model input and output comes from
        self._inputs: list[tuple[str, Any, float]] = []
        self._changes: list[int] = []  # inputs that flag a changed value (events, not levels)
        for name in model.inputs:
            source = binding.inputs.get(name)
            if source is None:
                raise ValueError(f"{model_key}: model input {name!r} is not mapped to telemetry")
            if isinstance(source, ModelInputSpec):
                self._inputs.append((source.signal, source.equals, source.scale))
                if source.changes:
                    self._changes.append(len(self._inputs) - 1)
            elif isinstance(source, int | float):
                self._inputs.append(("", None, float(source)))  # a constant
            else:
                self._inputs.append((source, None, 1.0))
        self._outputs = [binding.outputs.get(z) for z in model.outputs]
        self._estimates = binding.estimates or {s.replace(".", "_"): s for s in model.states}
        self._est_index = {n: model.states.index(s) for n, s in self._estimates.items()}
        self.last_t = np.full(n, np.nan)
        self.last_u = np.zeros((n, len(model.inputs)))
        self._last_raw: dict[tuple[int, int], Any] = {}
        for k, (signal, _, scale) in enumerate(self._inputs):
            if not signal:
                self.last_u[:, k] = scale
        self.pending: dict[int, float] = {}  # twin index → time its update window started
        self.failed: dict[str, str] = {}  # twin → why its model raised; no longer stepped
        self._good_u = self.last_u.copy()  # inputs the model last stepped without raising
        self.steps = 0
        keep = max(10, int(2 * binding.update_window_s / binding.sample_s) + 10)
        self._buffer: list[deque[tuple[float, float, Array, Array, Array, Array]]] = [
            deque(maxlen=keep) for _ in range(n)
        ]

    # ------------------------------------------------------------------ views

    def estimate(self, twin_id: str) -> dict[str, tuple[float, float]]:
        """Current estimate and standard deviation of each published state."""
        i = self.index[twin_id]
        x, std = self._state()
        return {n: (float(x[i, k]), float(std[i, k])) for n, k in self._est_index.items()}

    @property
    def published(self) -> dict[str, str]:
        """Published estimate name → the model state it is (``tool_wear`` → ``tool.wear_mm``)."""
        return dict(self._estimates)

    def state_estimate(self, twin_id: str) -> tuple[float, Array, Array]:
        """What the estimator believes of a twin's states now, for prognostics.

        Returns the source time of the last update (NaN before the first), the mean
        ``(n_states,)`` and the covariance ``(n_states, n_states)`` — the UKF's own, or
        the weighted covariance of the particles.
        """
        i = self.index[twin_id]
        f = self.filter
        if isinstance(f, ParticleFilter):
            w = f.weights[i]
            mean = w @ f.particles[i]
            d = f.particles[i] - mean
            return float(self.last_t[i]), mean, (w[:, None] * d).T @ d
        return float(self.last_t[i]), f.x[i].copy(), f.P[i].copy()

    def _state(self) -> tuple[Array, Array]:
        f = self.filter
        if isinstance(f, ParticleFilter):
            return f.mean, f.std
        return f.x, f.std

    def parameters(self, twin_id: str) -> dict[str, float]:
        i = self.index[twin_id]
        return {n: float(v) for n, v in zip(self.model.param_names, self.thetas[i], strict=True)}

    def set_parameters(self, twin_id: str, theta: Array, version: int | None) -> None:
        """Use new parameters for a twin from now on (an activated or rolled-back version)."""
        i = self.index[twin_id]
        self.thetas[i] = theta
        self.filter.theta[i] = theta
        self.versions[i] = version
        # the state was estimated under the old parameters: let the new ones re-synchronise it
        self._resync(i)
        self.monitor.reset(np.array([i]))

    # ------------------------------------------------------------------ the loop

    def readings_to_arrays(
        self, readings: Mapping[str, tuple[float, Mapping[str, Any]]]
    ) -> tuple[Array, Array, Array, np.ndarray]:
        n, nz = len(self.twin_ids), len(self.model.outputs)
        t = np.full(n, np.nan)
        u = self.last_u.copy()
        z = np.full((n, nz), np.nan)
        active = np.zeros(n, dtype=bool)
        for twin_id, (ts, values) in readings.items():
            i = self.index.get(twin_id)
            if i is None:
                continue
            active[i] = True
            t[i] = ts
            for k, (signal, equals, scale) in enumerate(self._inputs):
                if not signal or signal not in values:
                    continue
                value = values[signal]
                if k in self._changes:
                    before = self._last_raw.get((i, k), value)
                    self._last_raw[(i, k)] = value
                    u[i, k] = 1.0 if value != before else 0.0
                elif equals is not None:
                    u[i, k] = 1.0 if value == equals else 0.0
                else:
                    v = _as_float(value)
                    if not math.isnan(v):
                        u[i, k] = v * scale
            for k, measured in enumerate(self._outputs):
                if measured is not None and measured in values:
                    z[i, k] = _as_float(values[measured])
        return t, u, z, active

    def step_isolated(self, readings: Mapping[str, tuple[float, Mapping[str, Any]]]) -> StepResult:
        """:meth:`step`, but a model that raises for some twins stops only those twins.

        When the fleet step raises, nothing of it is kept; the model is then run on
        each twin alone (its estimate, its held and its new inputs) to find the twins
        it raises for. Those are listed in ``StepResult.failed`` and left out from
        then on: their inputs go back to the last ones the model took, so the fleet
        steps of the others never see the values that broke it.
        """
        readings = {t: r for t, r in readings.items() if t not in self.failed}
        try:
            return self.step(readings)
        except ValueError as exc:
            if "back in time" in str(exc):
                raise  # a clock fault of the source, not of the model
            error: Exception = exc
        except Exception as exc:  # the model's own code may raise anything
            error = exc
        culprits = self._probe(readings)
        if not culprits:
            # the fault shows only in the fleet step (e.g. at sigma points): stop the
            # twins that were stepping rather than the whole fleet
            culprits = {t: f"{type(error).__name__}: {error}" for t in readings}
        for twin_id in culprits:
            i = self.index[twin_id]
            self.last_u[i] = self._good_u[i]
        self.failed.update(culprits)
        result = self.step({t: r for t, r in readings.items() if t not in culprits})
        result.failed = culprits
        return result

    def _probe(self, readings: Mapping[str, tuple[float, Mapping[str, Any]]]) -> dict[str, str]:
        """Twins for which the model alone raises on their estimate and inputs."""
        saved = self._save()
        try:
            _, u_new, _, _ = self.readings_to_arrays(readings)
        finally:
            self._restore(saved)
        x, _ = self._state()
        found: dict[str, str] = {}
        for i, twin_id in enumerate(self.twin_ids):
            if twin_id in self.failed:
                continue
            xi, theta = x[i : i + 1], self.thetas[i : i + 1]
            try:
                with np.errstate(all="ignore"):
                    for u in (self.last_u[i : i + 1], u_new[i : i + 1]):
                        x1 = self.model.step(xi, u, 1.0, theta)
                        self.model.observe(x1, u, theta)
            except Exception as exc:  # the model's own code may raise anything
                found[twin_id] = f"{type(exc).__name__}: {exc}"
        return found

    def step(self, readings: Mapping[str, tuple[float, Mapping[str, Any]]]) -> StepResult:
        """One estimation step for the twins in ``readings``: ``{twin: (time_s, {signal: value})}``.

        A twin's first reading only sets its clock; later ones step it by the time
        since its previous step. If it raises (the model's code, a clock that went
        back), the tracker is left as it was before the call.
        """
        saved = self._save()
        try:
            return self._step(readings)
        except BaseException:
            self._restore(saved)
            raise

    def _save(self) -> tuple[Any, ...]:
        # references, not copies: the filters assign new arrays for what they compute
        # and write in place only into those, after the model calls that may raise, so
        # the arrays held here are never changed (no copy of every particle per step)
        arrays = dict(vars(self.filter))
        return (
            arrays,
            self.last_t.copy(),
            self.last_u.copy(),
            self._good_u.copy(),
            dict(self._last_raw),
            self.steps,
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        arrays, self.last_t, self.last_u, self._good_u, self._last_raw, self.steps = saved
        vars(self.filter).update(arrays)

    def _step(self, readings: Mapping[str, tuple[float, Mapping[str, Any]]]) -> StepResult:
        t, u, z, active = self.readings_to_arrays(readings)
        first = active & np.isnan(self.last_t)
        stepping = active & ~first
        dt = np.where(stepping, t - np.where(np.isnan(self.last_t), 0.0, self.last_t), 0.0)
        if np.any(dt < 0):
            bad = self.twin_ids[int(np.flatnonzero(dt < 0)[0])]
            raise ValueError(f"{bad}: readings went back in time; steps need increasing times")
        # inputs act over the step that follows them (zero-order hold); a flagged change
        # (a new tool) happened within the step that ends now
        u_hold = self.last_u.copy()
        for k in self._changes:
            u_hold[:, k] = np.where(active, u[:, k], 0.0)
            u[:, k] = 0.0
        self.last_u = np.where(active[:, None], u, self.last_u)
        self.last_t = np.where(active, t, self.last_t)
        result = StepResult()
        if not stepping.any():
            return result
        z_used = np.where(stepping[:, None], z, np.nan)
        inn = self.filter.step(u_hold, z_used, dt, u_now=self.last_u)
        self._good_u = u_hold
        report = self.monitor.update(inn, stepping)
        result.innovation, result.report = inn, report
        self.steps += 1
        x, std = self._state()
        for i in np.flatnonzero(stepping):
            twin, ts = self.twin_ids[i], float(t[i])
            self._buffer[i].append(
                (
                    ts,
                    float(dt[i]),
                    u_hold[i].copy(),
                    z[i].copy(),
                    x[i].copy(),
                    self.last_u[i].copy(),
                )
            )
            pts = result.points
            for name, k in self._est_index.items():
                pts.append(Point(twin, f"{self.prefix}.{name}", ts, float(x[i, k])))
                pts.append(Point(twin, f"{self.prefix}.{name}.std", ts, float(std[i, k])))
            for k, signal in enumerate(self._outputs):
                if signal is not None:
                    pts.append(Point(twin, f"{self.prefix}.{signal}", ts, float(inn.z_hat[i, k])))
            if not math.isnan(report.score[i]):
                pts.append(Point(twin, "consistency.score", ts, float(report.score[i])))
                pts.append(Point(twin, "consistency.nis", ts, float(inn.nis[i])))
                for k, signal in enumerate(self._outputs):
                    s = report.signal_scores[i, k]
                    if signal is not None and not math.isnan(s):
                        pts.append(Point(twin, f"consistency.{signal}.score", ts, float(s)))
        for i in np.flatnonzero(report.drift & stepping):
            if i in self.pending:
                continue  # already re-synchronised and collecting data for an update
            result.events.append(self._drift_event(int(i), float(t[i]), report))
            self._resync(int(i))
            self.pending[int(i)] = float(t[i])
        for slot, since in list(self.pending.items()):
            if stepping[slot] and t[slot] - since >= self.binding.update_window_s:
                job = self.update_job(self.twin_ids[slot], since=since, reason="drift")
                del self.pending[slot]
                if job is not None:
                    result.jobs.append(job)
        return result

    def _drift_event(self, i: int, ts: float, report: ConsistencyReport) -> Event:
        signals = {
            sig: round(float(report.signal_scores[i, k]), 4)
            for k, sig in enumerate(self._outputs)
            if sig is not None and not math.isnan(report.signal_scores[i, k])
        }
        return Event(
            ev.MODEL_DRIFT_DETECTED,
            self.twin_ids[i],
            {
                "model": self.model_key,
                "version": self.versions[i],
                "score": round(float(report.score[i]), 4),
                "nis_mean": round(float(report.nis_mean[i]), 4),
                "nis_bounds": [
                    round(float(report.nis_low[i]), 4),
                    round(float(report.nis_high[i]), 4),
                ],
                "signal_scores": signals,
                "action": "state re-synchronised; collecting "
                f"{self.binding.update_window_s:g} s of data for a model update",
            },
            ts=ts,
        )

    def _resync(self, i: int) -> None:
        f = self.filter
        if isinstance(f, ParticleFilter):
            spread = np.sqrt(np.diag(self.model.initial_covariance()))
            f.particles[i] = f.mean[i] + f.rng.standard_normal(f.particles[i].shape) * spread
            f.log_w[i] = -math.log(f.k)
        else:
            f.P[i] = self.model.initial_covariance()

    def update_job(
        self, twin_id: str, *, since: float | None = None, reason: str = "requested"
    ) -> UpdateJob | None:
        """A job re-fitting ``twin_id`` on its data since ``since`` (default: all buffered)."""
        i = self.index[twin_id]
        rows = [r for r in self._buffer[i] if since is None or r[0] > since]
        if len(rows) < 30:
            return None
        before = [r for r in self._buffer[i] if since is not None and r[0] <= since]
        x0 = before[-1][4] if before else rows[0][4]
        window = Window(
            dt_s=np.array([r[1] for r in rows]),
            u=np.array([r[2] for r in rows]),
            z=np.array([r[3] for r in rows]),
            t=np.array([r[0] for r in rows]),
            u_now=np.array([r[5] for r in rows]),
        )
        return UpdateJob(
            twin_id=twin_id,
            model_key=self.model_key,
            model=self.model,
            window=window,
            fit=tuple(self.binding.calibrate),
            theta=self.thetas[i].copy(),
            prior=self.priors[i].copy(),
            x0=np.asarray(x0, dtype=float),
            active_version=self.versions[i],
            reason=reason,
            started=rows[0][0],
        )
