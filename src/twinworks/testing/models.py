"""``check_model``: does a model keep the contract the runtime relies on?

Like scikit-learn's ``check_estimator`` or river's ``check_estimator``, it runs a
list of named checks against one model and raises an :class:`AssertionError` that
names the failed check, what was seen and how to fix it. The checks cover what the
estimators, calibration and the runtime assume of every model:

========================  ===========================================================
``declared_names``        groups are tuples of unique identifiers; noise and initial
                          values name declared states and outputs
``pure``                  the same call twice gives the same result; arguments are
                          not modified
``fleet_shapes``          step/observe/health return one column per declared name for
                          a fleet of ``n`` twins and for sigma points ``(n, s, …)``
``vectorised``            stepping the fleet equals stepping each twin alone, with
                          per-twin parameters and per-twin time steps
``finite``                states and outputs stay finite over a short run
``event_state_range``     every event state is in [0, 1]
``threshold_met``         ``threshold_met`` is ``event_state <= 0``, per twin and event
``parameters``            parameter vector and bounds agree with the declarations;
                          per-twin overrides land in the right column
``copy``                  a deep copy and a pickled copy step like the original
========================  ===========================================================

Inputs are drawn from a seeded generator in ``input_range`` (default 0 … 1, since
many inputs are flags or fractions); pass a range that suits the model.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from twinworks.models.base import Array, Model

__all__ = ["CHECKS", "check_model"]

CHECKS = (
    "declared_names",
    "pure",
    "fleet_shapes",
    "vectorised",
    "finite",
    "event_state_range",
    "threshold_met",
    "parameters",
    "copy",
)


class _Fail(AssertionError):
    pass


def _fail(check: str, model: Model, seen: str, fix: str) -> _Fail:
    return _Fail(f"check_model[{check}] {model.name}: {seen}. Fix: {fix}")


def check_model(
    model: Model | type[Model] | Callable[..., Model],
    *,
    n: int = 5,
    steps: int = 5,
    dt: float = 1.0,
    input_range: tuple[float, float] | Mapping[str, tuple[float, float]] = (0.0, 1.0),
    seed: int = 0,
    skip: Iterable[str] = (),
    rtol: float = 1e-9,
) -> Model:
    """Run every check of :data:`CHECKS` on ``model`` (an instance, a class or a
    factory called without arguments); raise ``AssertionError`` on the first failure.

    ``skip`` names checks not to run (say why in your test). Returns the model checked.
    """
    skipped = set(skip)
    unknown = skipped - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; checks: {', '.join(CHECKS)}")
    if not isinstance(model, Model):
        model = model()
        if not isinstance(model, Model):
            raise AssertionError(
                f"check_model: the factory returned a {type(model).__name__}. "
                "Fix: return a twinworks.models.Model"
            )
    rng = np.random.default_rng(seed)
    case = _Case(model, n, steps, dt, input_range, rng, rtol)
    for name in CHECKS:
        if name not in skipped:
            getattr(case, name)()
    return model


class _Case:
    def __init__(
        self,
        model: Model,
        n: int,
        steps: int,
        dt: float,
        input_range: tuple[float, float] | Mapping[str, tuple[float, float]],
        rng: np.random.Generator,
        rtol: float,
    ) -> None:
        self.m, self.n, self.steps, self.dt, self.rng, self.rtol = model, n, steps, dt, rng, rtol
        lo = np.empty(len(model.inputs))
        hi = np.empty(len(model.inputs))
        for k, name in enumerate(model.inputs):
            low, high = (
                input_range.get(name, (0.0, 1.0))
                if isinstance(input_range, Mapping)
                else input_range
            )
            lo[k], hi[k] = low, high
        self.lo, self.hi = lo, hi

    # ------------------------------------------------------------------ shared by the checks

    def inputs(self, *lead: int) -> Array:
        shape = (*lead, len(self.m.inputs))
        return self.lo + (self.hi - self.lo) * self.rng.random(shape)

    def thetas(self) -> Array:
        """Per-twin parameters: the defaults moved a little, inside the bounds."""
        theta = self.m.theta(self.n)
        lo, hi = self.m.bounds()
        scale = np.where(np.abs(theta) > 0, np.abs(theta), 1.0) * 0.05
        moved = theta + scale * self.rng.uniform(-1.0, 1.0, theta.shape)
        moved = np.clip(moved, lo, hi)
        moved[0] = theta[0]  # one twin keeps the defaults
        return moved

    def call(self, check: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; an exception from the model becomes the check's failure."""
        try:
            with np.errstate(all="ignore"):
                return fn(*args)
        except AssertionError:
            raise
        except Exception as exc:
            raise _fail(
                check,
                self.m,
                f"{what} raised {type(exc).__name__}: {exc}",
                "compute with the frames' columns (x.name, u.name, p.name) so any leading "
                "shape works; avoid fixed sizes, Python loops over twins and int casts",
            ) from exc

    def shape(self, check: str, what: str, got: Array, want: tuple[int, ...]) -> None:
        if got.shape != want:
            raise _fail(
                check,
                self.m,
                f"{what} has shape {got.shape}, expected {want}",
                "return one value per declared name, each with the fleet's shape",
            )

    def close(self, check: str, what: str, got: Array, want: Array, fix: str) -> None:
        if not np.allclose(got, want, rtol=self.rtol, atol=1e-12, equal_nan=True):
            worst = float(np.nanmax(np.abs(np.asarray(got) - np.asarray(want))))
            raise _fail(check, self.m, f"{what} differ (largest difference {worst:.3g})", fix)

    # ------------------------------------------------------------------ the checks

    def declared_names(self) -> None:
        m = self.m
        for group in ("inputs", "states", "outputs", "events"):
            names = getattr(m, group)
            if not isinstance(names, tuple) or len(set(names)) != len(names):
                raise _fail(
                    "declared_names",
                    m,
                    f"{group} is {names!r}",
                    f"declare {group} as a tuple of unique names",
                )
            for name in names:
                if not all(p.isidentifier() for p in str(name).split(".")):
                    raise _fail("declared_names", m, f"{group} holds {name!r}", "use identifiers")
        for group, allowed in (
            ("initial_state", m.states),
            ("initial_std", m.states),
            ("process_noise", m.states),
            ("measurement_noise", m.outputs),
        ):
            extra = sorted(set(getattr(m, group)) - set(allowed))
            if extra:
                raise _fail("declared_names", m, f"{group} names {extra}", f"name only {allowed}")
        columns = tuple(
            c
            for name, spec in m.parameters.items()
            for c in (
                [name]
                if not spec.shape
                else [f"{name}[{','.join(map(str, i))}]" for i in np.ndindex(*spec.shape)]
            )
        )
        if tuple(m.param_names) != columns:
            raise _fail(
                "declared_names",
                m,
                f"param_names {m.param_names} do not follow parameters {tuple(m.parameters)}",
                "let Model.__init__ set param_names (call super().__init__())",
            )

    def fleet_shapes(self) -> None:
        m, n = self.m, self.n
        ns, nu, nz, ne = len(m.states), len(m.inputs), len(m.outputs), len(m.events)
        x = self.call("fleet_shapes", "initialize(n)", m.initialize, n)
        self.shape("fleet_shapes", "initialize(n)", x, (n, ns))
        theta = m.theta(n)
        self.shape("fleet_shapes", "theta(n)", theta, (n, len(m.param_names)))
        u = self.inputs(n)
        x1 = self.call("fleet_shapes", "step", m.step, x, u, self.dt, theta)
        self.shape("fleet_shapes", "step", x1, (n, ns))
        z = self.call("fleet_shapes", "observe", m.observe, x1, u, theta)
        self.shape("fleet_shapes", "observe", z, (n, nz))
        if ne:
            h = self.call("fleet_shapes", "health", m.health, x1, theta)
            self.shape("fleet_shapes", "health", h, (n, ne))
        # sigma points / particles: a second leading axis, inputs and parameters broadcast
        s = 3
        xs = np.repeat(x1[:, None, :], s, axis=1)
        dt_col = np.full((n, 1), self.dt)
        xs1 = self.call(
            "fleet_shapes",
            "step on (n, points, states)",
            m.step,
            xs,
            u[:, None, :],
            dt_col,
            theta[:, None, :],
        )
        self.shape("fleet_shapes", "step on (n, points, states)", xs1, (n, s, ns))
        zs = self.call(
            "fleet_shapes",
            "observe on (n, points, states)",
            m.observe,
            xs1,
            u[:, None, :],
            theta[:, None, :],
        )
        self.shape("fleet_shapes", "observe on (n, points, states)", zs, (n, s, nz))
        del nu

    def vectorised(self) -> None:
        m, n = self.m, self.n
        x = m.initialize(n)
        theta = self.thetas()
        fix = (
            "make every twin's result depend only on its own row: no sums, means or "
            "sorting across twins, no state kept between calls"
        )
        for k in range(self.steps):
            u = self.inputs(n)
            dt = self.dt * (1.0 + 0.5 * self.rng.random(n))  # a time step per twin
            fleet = self.call("vectorised", "step", m.step, x, u, dt, theta)
            alone = np.concatenate(
                [
                    self.call(
                        "vectorised",
                        "step of one twin",
                        m.step,
                        x[i : i + 1],
                        u[i : i + 1],
                        dt[i : i + 1],
                        theta[i : i + 1],
                    )
                    for i in range(n)
                ]
            )
            self.close(
                "vectorised", f"step {k}: the fleet's and each twin's own states", fleet, alone, fix
            )
            z_fleet = m.observe(fleet, u, theta)
            z_alone = np.concatenate(
                [m.observe(fleet[i : i + 1], u[i : i + 1], theta[i : i + 1]) for i in range(n)]
            )
            self.close(
                "vectorised",
                f"step {k}: the fleet's and each twin's outputs",
                z_fleet,
                z_alone,
                fix,
            )
            x = fleet

    def pure(self) -> None:
        m, n = self.m, self.n
        x = m.initialize(n)
        u = self.inputs(n)
        theta = self.thetas()
        before = (x.copy(), u.copy(), theta.copy())
        first = self.call("pure", "step", m.step, x, u, self.dt, theta)
        second = self.call("pure", "step", m.step, x, u, self.dt, theta)
        for got, was, what in zip(
            (x, u, theta), before, ("states", "inputs", "parameters"), strict=True
        ):
            if not np.array_equal(got, was, equal_nan=True):
                raise _fail(
                    "pure",
                    m,
                    f"step modified the {what} it was given",
                    "return new arrays; never assign into x, u or p",
                )
        self.close(
            "pure",
            "two identical step calls",
            first,
            second,
            "next_state must be a function of (x, u, dt, p) only: no counters, clocks or "
            "unseeded randomness",
        )
        z1, z2 = m.observe(first, u, theta), m.observe(first, u, theta)
        self.close("pure", "two identical observe calls", z1, z2, "output must be a pure function")

    def finite(self) -> None:
        m, n = self.m, self.n
        x = m.initialize(n)
        theta = m.theta(n)
        for k in range(self.steps):
            u = self.inputs(n)
            x = self.call("finite", "step", m.step, x, u, self.dt, theta)
            z = self.call("finite", "observe", m.observe, x, u, theta)
            for what, values in (("states", x), ("outputs", z)):
                if not np.all(np.isfinite(values)):
                    raise _fail(
                        "finite",
                        m,
                        f"{what} are not finite after {k + 1} step(s) from the initial state "
                        "with default parameters",
                        "guard divisions and logarithms; check initial_state and defaults",
                    )

    def event_state_range(self) -> None:
        m, n = self.m, self.n
        if not m.events:
            return
        x = m.initialize(n)
        theta = m.theta(n)
        for k in range(self.steps + 1):
            h = self.call("event_state_range", "health", m.health, x, theta)
            if not np.all((h >= 0.0) & (h <= 1.0)):
                bad = h[~((h >= 0.0) & (h <= 1.0))]
                raise _fail(
                    "event_state_range",
                    m,
                    f"event_state returned {bad[:3].tolist()} after {k} step(s)",
                    "clip event_state to [0, 1] (1 far from the event, 0 when it is reached)",
                )
            u = self.inputs(n)
            x = m.step(x, u, self.dt, theta)

    def threshold_met(self) -> None:
        m, n = self.m, self.n
        if not m.events:
            return
        # states around the initial one, near and far, so that events are reached too
        x0 = m.initialize(4 * n)
        spread = np.maximum(np.abs(x0), 1.0)
        x = np.concatenate(
            [
                x0 + scale * spread * self.rng.standard_normal(x0.shape)
                for scale in (0.0, 0.3, 3.0, 30.0, 300.0)
            ]
        )
        theta = m.theta(len(x))
        with np.errstate(all="ignore"):
            met = self.call("threshold_met", "threshold_met", m.threshold_met, x, theta)
            h = m.health(x, theta)
        self.shape("threshold_met", "threshold_met", met, (len(x), len(m.events)))
        if met.dtype != np.bool_:
            raise _fail("threshold_met", m, f"threshold_met is {met.dtype}", "return booleans")
        if not np.array_equal(met, h <= 0.0):
            raise _fail(
                "threshold_met",
                m,
                "threshold_met disagrees with event_state <= 0",
                "override threshold_met only together with event_state, consistently",
            )

    def parameters(self) -> None:
        m, n = self.m, self.n
        lo, hi = m.bounds()
        defaults = m.theta()
        self.shape("parameters", "theta()", defaults, (len(m.param_names),))
        declared = np.concatenate(
            [np.ravel(spec.values) for spec in m.parameters.values()] or [np.zeros(0)]
        )
        for k, name in enumerate(m.param_names):
            if defaults[k] != declared[k]:
                raise _fail(
                    "parameters",
                    m,
                    f"theta()[{k}] is {defaults[k]}, the declared default of {name!r} is "
                    f"{declared[k]}",
                    "keep theta() and parameters in the same order",
                )
            if not (lo[k] <= defaults[k] <= hi[k]) or not math.isfinite(defaults[k]):
                raise _fail(
                    "parameters",
                    m,
                    f"{name!r} = {defaults[k]} is outside its bounds ({lo[k]}, {hi[k]})",
                    "move the default inside the bounds",
                )
            moved = float(np.clip(defaults[k] + 1.0, lo[k], hi[k]))
            theta = m.theta(n, **{name: moved})  # a column: a number, or one element
            if theta[0, k] != moved or not np.array_equal(
                np.delete(theta, k, axis=1), np.delete(m.theta(n), k, axis=1)
            ):
                raise _fail(
                    "parameters",
                    m,
                    f"theta(n, {name}=…) did not set exactly the column of {name!r}",
                    "let Model.theta build parameter vectors",
                )
        self._rebuilt()

    def _rebuilt(self) -> None:
        """A model class built again from its own parameter values has the same vector."""
        m = self.m
        if getattr(type(m), "_dynamic", False):
            return  # composites and wrappers are built from parts, not from parameters alone
        values = {name: spec.default for name, spec in m.parameters.items()}
        try:
            again = type(m)(**values)
        except Exception as exc:
            raise _fail(
                "parameters",
                m,
                f"{type(m).__name__}(**its parameters) raised {type(exc).__name__}: {exc}",
                "accept every declared parameter as a keyword argument (pass **parameters "
                "on to Model.__init__)",
            ) from exc
        if not np.array_equal(again.theta(), m.theta()):
            raise _fail(
                "parameters",
                m,
                "building the class from its parameter values gives other parameters",
                "store overrides through Model.__init__, not in your own attributes",
            )

    def copy(self) -> None:
        m, n = self.m, self.n
        x = m.initialize(n)
        u = self.inputs(n)
        theta = m.theta(n)
        want = m.step(x, u, self.dt, theta)
        copies: list[tuple[str, Any]] = []
        try:
            copies.append(("a deep copy", copy.deepcopy(m)))
        except Exception as exc:
            raise _fail(
                "copy",
                m,
                f"copy.deepcopy raised {type(exc).__name__}: {exc}",
                "keep only copyable attributes (no open files, locks or sockets)",
            ) from exc
        try:
            copies.append(("a pickled copy", pickle.loads(pickle.dumps(m))))
        except Exception as exc:
            raise _fail(
                "copy",
                m,
                f"pickling raised {type(exc).__name__}: {exc}",
                "define the class at module level and keep only picklable attributes "
                "(calibration runs models on worker threads and processes)",
            ) from exc
        for what, other in copies:
            got = self.call("copy", f"step of {what}", other.step, x, u, self.dt, theta)
            self.close(
                "copy",
                f"{what}'s step and the original's",
                got,
                want,
                "copy all state the model needs",
            )
