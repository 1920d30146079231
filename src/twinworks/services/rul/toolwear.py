"""Tool wear of a CNC machine: the virtual model and a particle filter that tracks it.

:class:`ToolWearModel` implements the propagation interface of
:mod:`twinworks.services.rul.propagate` (``next_state``, ``threshold_met``) for
the extended Taylor law: the fraction of tool life used, θ, grows while cutting
at ``M · (V/V_ref)^(1/n) · (f/100)^m / T_ref`` per second, with ``M`` the tool's
unknown wear-rate multiplier (lognormal); flank wear VB is a fixed increasing
curve of θ and the tool is worn out at VB = 0.3 mm (ISO 3685). States are
``[life_used, log_multiplier]``; inputs ``[spindle_speed_rpm, feed_override_pct,
cutting]`` (``cutting`` is the fraction of time spent cutting).

:class:`ToolWearTracker` estimates those states from the machine's vibration
while cutting (v = v0 + v_cut · f/100 + k · VB^1.5) with a particle filter, and
restarts at every tool change.

Where the synchronisation layer (``twinworks.sync``) estimates a machine's wear,
:func:`particles_from_wear` turns that estimate into samples of the same states
(the wear placed on the curve, the tool's multiplier learned from it by
:func:`multiplier_posterior`), and the tracker is not needed; anything that yields
particles or a mean and covariance of ``[life_used, log_multiplier]`` can feed the
same propagation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twinworks.plant.wear import flank_wear_mm, life_used_at_wear

__all__ = [
    "ToolWearModel",
    "ToolWearTracker",
    "multiplier_posterior",
    "particles_from_wear",
    "tool_wear_model_for",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class ToolWearModel:
    """Parameters are those of the machine's tool and sensors (its data sheet); units in names."""

    tool_life_s: float = 25 * 60.0
    reference_spindle_speed_rpm: float = 8000.0
    taylor_n: float = 0.25
    feed_exponent: float = 1.5
    multiplier_sigma: float = 0.15
    wear_reference_mm: float = 0.3
    wear_limit_mm: float = 0.3
    idle_vibration_mm_s: float = 0.3
    cutting_vibration_mm_s: float = 2.0
    vibration_wear_gain_mm_s: float = 35.0
    vibration_noise_mm_s: float = 0.08

    states: tuple[str, ...] = ("life_used", "log_multiplier")
    inputs: tuple[str, ...] = ("spindle_speed_rpm", "feed_override_pct", "cutting")

    @cached_property
    def life_at_limit(self) -> float:
        # found by bisection, so worth keeping: propagation asks for it at every step
        return float(life_used_at_wear(self.wear_limit_mm, self.wear_reference_mm))

    def rate(self, x: Array, u: Array) -> Array:
        """Life fraction used per second under inputs ``u``."""
        speed = np.maximum(u[..., 0], 0.0) / self.reference_spindle_speed_rpm
        feed = np.maximum(u[..., 1], 0.0) / 100.0
        taylor = speed ** (1.0 / self.taylor_n) * feed**self.feed_exponent
        return np.asarray(np.exp(x[..., 1]) * taylor * u[..., 2] / self.tool_life_s)

    def next_state(self, x: Array, u: Array, dt: float) -> Array:
        out = np.array(x, dtype=float, copy=True)
        out[..., 0] = x[..., 0] + self.rate(x, u) * dt
        return out

    def threshold_met(self, x: Array) -> NDArray[np.bool_]:
        return np.asarray(x[..., 0] >= self.life_at_limit)

    def event_state(self, x: Array) -> Array:
        """1 for a new tool, 0 at the wear limit, negative beyond it (so crossings interpolate)."""
        return np.asarray(1.0 - x[..., 0] / self.life_at_limit)

    def wear_mm(self, x: Array) -> Array:
        return flank_wear_mm(x[..., 0], self.wear_reference_mm)

    def life_used(self, wear_mm: Any) -> Array:
        """The life fraction at which the flank wear is ``wear_mm`` (inverse of the curve)."""
        return life_used_at_wear(
            np.maximum(np.asarray(wear_mm, dtype=float), 0.0), self.wear_reference_mm
        )

    def vibration(self, x: Array, feed_override_pct: float) -> Array:
        """Expected RMS vibration (mm/s) while cutting at full spindle speed."""
        vb = self.wear_mm(x)
        return np.asarray(
            self.idle_vibration_mm_s
            + self.cutting_vibration_mm_s * feed_override_pct / 100.0
            + self.vibration_wear_gain_mm_s * vb**1.5
        )

    def parameters(self) -> dict[str, float]:
        return {
            k: v
            for k, v in self.__dict__.items()
            if isinstance(v, float) and k not in ("states", "inputs")
        }


def tool_wear_model_for(machine: Any) -> ToolWearModel:
    """The model of a machine described by a :class:`twinworks.plant.CncParams` (its data sheet)."""
    return ToolWearModel(
        tool_life_s=float(machine.tool_life_s),
        reference_spindle_speed_rpm=float(machine.reference_spindle_speed_rpm),
        taylor_n=float(machine.taylor_n),
        feed_exponent=float(machine.taylor_feed_exponent),
        multiplier_sigma=float(machine.wear_multiplier_sigma),
        wear_reference_mm=float(machine.wear_reference_mm),
        wear_limit_mm=float(machine.tool_change_wear_mm),
        idle_vibration_mm_s=float(machine.idle_vibration_mm_s),
        cutting_vibration_mm_s=float(machine.cutting_vibration_mm_s),
        vibration_wear_gain_mm_s=float(machine.vibration_wear_gain_mm_s),
        vibration_noise_mm_s=float(machine.vibration_noise_mm_s),
    )


def multiplier_posterior(
    life_used: Array, nominal_life: float | None, sigma: float, floor: float = 0.01
) -> tuple[Array, float]:
    """This tool's log wear-rate multiplier, learned from how far its wear has come.

    ``life_used`` are samples of the life the tool has used (its estimated wear placed
    on the wear curve); ``nominal_life`` is the life a tool of nominal rate (``M = 1``)
    would have used under the same load since it was fitted (Miner's sum of the
    extended-Taylor rate; None when the tool's fitting was not seen). Their ratio is an
    observation of ``M``; with the type's lognormal prior (``sigma``) and an error of
    ``floor`` in life used (absolute: the wear curve's shape is not exactly this tool's,
    which matters most while little life is used) it gives the posterior mean of
    ``log M`` for each sample and the posterior standard deviation. Without an
    observation: the prior.
    """
    life = np.asarray(life_used, dtype=float)
    if nominal_life is None or nominal_life <= 0.0:  # no cutting seen on this tool yet
        return np.zeros_like(life), sigma
    noise = (floor / nominal_life) ** 2  # variance of log(life / nominal)
    var = 1.0 / (1.0 / sigma**2 + 1.0 / noise)
    y = np.log(np.maximum(life, 1e-6) / nominal_life)
    return var * y / noise, float(np.sqrt(var))


def particles_from_wear(
    model: ToolWearModel,
    wear_mm: float,
    wear_std_mm: float,
    nominal_life: float | None,
    n_samples: int,
    rng: np.random.Generator,
) -> Array:
    """Samples ``(n_samples, 2)`` of ``[life_used, log_multiplier]`` from an estimated wear.

    For a wear estimate that comes from elsewhere (the synchronisation layer's
    ``ukf.tool_wear`` ± ``.std``): each wear sample is placed on the wear curve, and the
    tool's multiplier follows from :func:`multiplier_posterior` for that sample, so a
    tool that has worn further than its nominal load explains wears faster from here on.
    """
    worn = wear_mm + wear_std_mm * rng.standard_normal(n_samples)
    life = model.life_used(worn)
    mu, sd = multiplier_posterior(life, nominal_life, model.multiplier_sigma)
    return np.stack([life, mu + sd * rng.standard_normal(n_samples)], axis=-1)


@dataclass
class ToolWearTracker:
    """Particle filter over ``[life_used, log_multiplier]`` of one machine's current tool.

    Feed it every sample with :meth:`observe`; it advances the particles by the
    cutting time since the previous sample, weighs them by the vibration when
    the spindle is at speed, and resamples (with a little jitter on the
    multiplier, so the cloud does not collapse) when the effective sample size
    falls below half.
    """

    model: ToolWearModel
    n_particles: int = 1000
    seed: int = 0
    # relative spread of each predicted wear increment: sampling between readings
    # misses spindle ramps and short stops, so the model is not exact between them
    process_noise: float = 0.1
    # random walk of log(M) per sqrt(second) of cutting: lets the filter correct a wrong
    # early guess of the wear rate (break-in wear says little about it) instead of locking in
    multiplier_walk: float = 0.0005
    # the tool in the machine when tracking starts is of unknown age (the twin may start
    # long after the tool was fitted); only an observed tool change means a new tool
    new_tool_at_start: bool = False
    nominal_speed_rpm: float | None = None
    particles: Array = field(init=False)
    weights: Array = field(init=False)
    tool_changes: int | None = None
    last_ts: float | None = None
    updates: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._last_u = np.zeros(3)
        self.reset(new_tool=self.new_tool_at_start)

    def reset(self, new_tool: bool = True) -> None:
        """A new tool (no life used), or one of unknown age; wear-rate multiplier from the prior."""
        n = self.n_particles
        used = np.zeros(n) if new_tool else self._rng.uniform(0.0, self.model.life_at_limit, n)
        self.particles = np.column_stack(
            [used, self._rng.normal(0.0, self.model.multiplier_sigma, n)]
        )
        self.weights = np.full(n, 1.0 / n)
        self.updates = 0
        # a tool of unknown age is placed by its first usable reading (see _place)
        self.placed = new_tool

    def observe(
        self,
        ts: float,
        *,
        state: str,
        spindle_speed_rpm: float,
        feed_override_pct: float,
        vibration_mm_s: float | None,
        tool_changes: int | None = None,
    ) -> None:
        if tool_changes is not None:
            if self.tool_changes is not None and tool_changes != self.tool_changes:
                self.reset()
            self.tool_changes = tool_changes
        if state == "tool_change":
            self.reset()
        cutting = 1.0 if state == "cutting" else 0.0
        u = np.array([spindle_speed_rpm, feed_override_pct, cutting])
        if self.last_ts is not None and ts > self.last_ts and (cutting or self._last_u[2]):
            # trapezoid between readings: a spindle ramp between them counts half-way,
            # not as if the whole interval ran at the newest reading's speed
            before = self.particles[:, 0].copy()
            rate = 0.5 * (
                self.model.rate(self.particles, self._last_u) + self.model.rate(self.particles, u)
            )
            step = rate * (ts - self.last_ts)
            noise = self._rng.normal(0.0, self.process_noise, self.n_particles)
            self.particles[:, 0] = before + step * np.maximum(1.0 + noise, 0.0)
            walk = self.multiplier_walk * np.sqrt(ts - self.last_ts)
            self.particles[:, 1] += self._rng.normal(0.0, walk, self.n_particles)
        self._last_u = u
        self.last_ts = ts
        nominal = self.nominal_speed_rpm or self.model.reference_spindle_speed_rpm
        if not cutting or vibration_mm_s is None or spindle_speed_rpm < 0.98 * nominal:
            return
        if not self.placed:
            self._place(vibration_mm_s, feed_override_pct)
            return
        expected = self.model.vibration(self.particles, feed_override_pct)
        loglik = -0.5 * ((vibration_mm_s - expected) / self.model.vibration_noise_mm_s) ** 2
        w = self.weights * np.exp(loglik - loglik.max())
        total = w.sum()
        if not np.isfinite(total) or total <= 0:
            return  # a sample no particle explains (e.g. a fault): do not let it wipe the cloud
        self.weights = w / total
        self.updates += 1
        if 1.0 / np.sum(self.weights**2) < self.n_particles / 2:
            self._resample()

    def _place(self, vibration_mm_s: float, feed_override_pct: float) -> None:
        """Start the cloud where one reading puts the tool: invert v = v0 + v_cut f + k VB^1.5.

        A uniform prior over the whole life would leave a few hundred particles to find
        a narrow posterior, and they collapse onto wrong wear rates.
        """
        m = self.model
        excess = (
            vibration_mm_s
            - m.idle_vibration_mm_s
            - m.cutting_vibration_mm_s * (feed_override_pct / 100.0)
        )
        wear = (max(excess, 0.0) / m.vibration_wear_gain_mm_s) ** (2.0 / 3.0)
        centre = float(life_used_at_wear(min(wear, m.wear_limit_mm), m.wear_reference_mm))
        # how far one reading's noise moves the life estimate, from the local slope
        step = 0.01
        dv = float(
            m.vibration(np.array([[centre + step, 0.0]]), feed_override_pct)[0]
            - m.vibration(np.array([[centre, 0.0]]), feed_override_pct)[0]
        )
        spread = max(3.0 * m.vibration_noise_mm_s * step / max(abs(dv), 1e-9), 0.005)
        n = self.n_particles
        self.particles[:, 0] = np.maximum(centre + self._rng.normal(0.0, spread, n), 0.0)
        self.weights = np.full(n, 1.0 / n)
        self.placed = True

    def _resample(self) -> None:
        n = self.n_particles
        positions = (self._rng.random() + np.arange(n)) / n
        idx = np.minimum(np.searchsorted(np.cumsum(self.weights), positions), n - 1)
        self.particles = self.particles[idx]
        # roughening: jitter proportional to the cloud's spread keeps it from collapsing
        spread = self.particles.std(axis=0) * n ** (-1 / 3)
        self.particles = self.particles + self._rng.normal(0.0, 1.0, (n, 2)) * spread * 0.5
        self.particles[:, 0] = np.maximum(self.particles[:, 0], 0.0)
        self.weights = np.full(n, 1.0 / n)

    def sample(self, n: int | None = None) -> Array:
        """Equally weighted particles ``(n, 2)`` drawn from the current estimate."""
        n = n or self.n_particles
        idx = self._rng.choice(self.n_particles, size=n, p=self.weights)
        return self.particles[idx]

    def mean_cov(self) -> tuple[Array, Array]:
        mean = self.weights @ self.particles
        d = self.particles - mean
        cov = (self.weights[:, None] * d).T @ d
        return mean, cov
