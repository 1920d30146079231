"""Tracking a CNC machine's tool for prognostics: a particle filter over the catalog's model.

The tool's model is :class:`twinworks.models.ToolLife` from the model catalog (the
extended Taylor law and the wear curve, written once there): states ``[life_used,
log_wear_multiplier]``, inputs ``[spindle_speed_rpm, feed_override_pct, cutting]``,
the event ``tool_worn`` at the wear limit. Its parameters are the machine's data
sheet, given to the model when it is built.

:class:`ToolWearTracker` estimates those states from the machine's vibration
while cutting (the model's ``vibration_mm_s`` output) with a particle filter, and
restarts at every tool change.

Where the synchronisation layer (``twinworks.sync``) estimates a machine's wear,
:func:`particles_from_wear` turns that estimate into samples of the same states
(the wear placed on the curve, the tool's multiplier learned from it by
:func:`multiplier_posterior`), and the tracker is not needed; anything that yields
particles or a mean and covariance of the states can feed the same propagation
(:mod:`twinworks.services.rul.propagate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from twinworks.models.catalog.machining import ToolLife

__all__ = [
    "ToolWearTracker",
    "multiplier_posterior",
    "nominal_life_rate",
    "particles_from_wear",
]

Array = NDArray[np.float64]


def nominal_life_rate(model: ToolLife, u: Array) -> float:
    """Life fraction a tool of nominal wear rate (``M = 1``) uses per second under ``u``."""
    x = np.zeros((1, len(model.states)))
    return float(model.step(x, np.atleast_2d(u), 1.0, model.theta())[0, 0])


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
    model: ToolLife,
    wear_mm: float,
    wear_std_mm: float,
    nominal_life: float | None,
    n_samples: int,
    rng: np.random.Generator,
) -> Array:
    """Samples ``(n_samples, 2)`` of ``[life_used, log_wear_multiplier]`` from an estimated wear.

    For a wear estimate that comes from elsewhere (the synchronisation layer's
    ``ukf.tool_wear`` ± ``.std``): each wear sample is placed on the wear curve, and the
    tool's multiplier follows from :func:`multiplier_posterior` for that sample, so a
    tool that has worn further than its nominal load explains wears faster from here on.
    """
    worn = wear_mm + wear_std_mm * rng.standard_normal(n_samples)
    life = model.life_used(worn)
    mu, sd = multiplier_posterior(life, nominal_life, model.value("wear_multiplier_sigma"))
    return np.stack([life, mu + sd * rng.standard_normal(n_samples)], axis=-1)


@dataclass
class ToolWearTracker:
    """Particle filter over ``[life_used, log_wear_multiplier]`` of one machine's current tool.

    Feed it every sample with :meth:`observe`; it advances the particles by the
    cutting time since the previous sample, weighs them by the vibration when
    the spindle is at speed, and resamples (with a little jitter on the
    multiplier, so the cloud does not collapse) when the effective sample size
    falls below half.
    """

    model: ToolLife
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
        self._theta = self.model.theta()
        self._life_at_limit = float(self.model.life_at_limit())
        self._sigma = self.model.value("wear_multiplier_sigma")
        k = self.model.outputs.index("vibration_mm_s")
        self._noise = float(np.sqrt(self.model.measurement_covariance()[k, k]))
        self._last_u = np.zeros(3)
        self.reset(new_tool=self.new_tool_at_start)

    def reset(self, new_tool: bool = True) -> None:
        """A new tool (no life used), or one of unknown age; wear-rate multiplier from the prior."""
        n = self.n_particles
        used = np.zeros(n) if new_tool else self._rng.uniform(0.0, self._life_at_limit, n)
        self.particles = np.column_stack([used, self._rng.normal(0.0, self._sigma, n)])
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
            dt = ts - self.last_ts
            step = (
                0.5
                * (
                    self.model.step(self.particles, self._last_u[None], dt, self._theta)[:, 0]
                    + self.model.step(self.particles, u[None], dt, self._theta)[:, 0]
                )
                - before
            )
            noise = self._rng.normal(0.0, self.process_noise, self.n_particles)
            self.particles[:, 0] = before + step * np.maximum(1.0 + noise, 0.0)
            walk = self.multiplier_walk * np.sqrt(ts - self.last_ts)
            self.particles[:, 1] += self._rng.normal(0.0, walk, self.n_particles)
        self._last_u = u
        self.last_ts = ts
        nominal = self.nominal_speed_rpm or self.model.value("reference_speed_rpm")
        if not cutting or vibration_mm_s is None or spindle_speed_rpm < 0.98 * nominal:
            return
        if not self.placed:
            self._place(vibration_mm_s, feed_override_pct)
            return
        expected = self._vibration(self.particles, feed_override_pct)
        loglik = -0.5 * ((vibration_mm_s - expected) / self._noise) ** 2
        w = self.weights * np.exp(loglik - loglik.max())
        total = w.sum()
        if not np.isfinite(total) or total <= 0:
            return  # a sample no particle explains (e.g. a fault): do not let it wipe the cloud
        self.weights = w / total
        self.updates += 1
        if 1.0 / np.sum(self.weights**2) < self.n_particles / 2:
            self._resample()

    def _vibration(self, x: Array, feed_override_pct: float) -> Array:
        """The model's vibration (mm/s) of states ``x`` while cutting, spindle at speed."""
        u = np.array([[self.model.value("reference_speed_rpm"), feed_override_pct, 1.0]])
        return self.model.observe(x, u, self._theta)[..., 1]

    def _place(self, vibration_mm_s: float, feed_override_pct: float) -> None:
        """Start the cloud where one reading puts the tool: invert v = v0 + v_cut f + k VB^1.5.

        A uniform prior over the whole life would leave a few hundred particles to find
        a narrow posterior, and they collapse onto wrong wear rates.
        """
        m = self.model
        excess = (
            vibration_mm_s
            - m.value("idle_vibration_mm_s")
            - m.value("cutting_vibration_mm_s") * (feed_override_pct / 100.0)
        )
        wear = (max(excess, 0.0) / m.value("vibration_wear_gain")) ** (2.0 / 3.0)
        centre = float(m.life_used(min(wear, m.value("wear_limit_mm"))))
        # how far one reading's noise moves the life estimate, from the local slope
        step = 0.01
        dv = float(
            self._vibration(np.array([[centre + step, 0.0]]), feed_override_pct)[0]
            - self._vibration(np.array([[centre, 0.0]]), feed_override_pct)[0]
        )
        spread = max(3.0 * self._noise * step / max(abs(dv), 1e-9), 0.005)
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
