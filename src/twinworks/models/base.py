"""The virtual-model contract: declare names, fill in a few pure methods, run a fleet at once.

A model reads like NASA progpy's ``PrognosticsModel``: class attributes declare its
``inputs``, ``states``, ``outputs``, ``events`` and ``parameters`` (defaults, units,
bounds, physics priors); then a few methods are filled in:

- ``next_state(x, u, dt, p)`` (discrete) **or** ``dx(x, u, p)`` (continuous, integrated
  by the base class) — pure functions of state, input, step and parameters;
- ``output(x, u, p)`` — what the sensors would read;
- ``event_state(x, p)`` — health per event, 1 (new) … 0 (event reached).

Methods receive *frames*: ``x.wear_mm`` is the column of that state for every twin
(and every sigma point or particle), so one call steps a whole fleet. They return
one array (or scalar) per declared name, in declared order, as a tuple or a dict.

Callers use the array-level API: states are arrays of shape ``(..., n_states)``
whose leading axes are twins (and sigma points); parameters are arrays of shape
``(..., n_params)`` broadcastable to them (:meth:`Model.theta`).

>>> class Cooling(Model):
...     inputs = ("power_kw",)
...     states = ("temperature_c",)
...     outputs = ("temperature_c_measured",)
...     parameters = {
...         "ambient_c": Param(20.0, unit="degC", bounds=(-40.0, 60.0)),
...         "gain_c_per_kw": Param(2.0, unit="degC/kW", bounds=(0.0, 100.0)),
...         "tau_s": Param(100.0, unit="s", bounds=(1.0, 1e5)),
...     }
...     initial_state = {"temperature_c": 20.0}
...     def dx(self, x, u, p):
...         return ((p.ambient_c + p.gain_c_per_kw * u.power_kw - x.temperature_c) / p.tau_s,)
...     def output(self, x, u, p):
...         return (x.temperature_c,)
>>> m = Cooling()
>>> x = m.initialize(3)                      # three twins
>>> x = m.step(x, np.array([[0.0], [5.0], [10.0]]), 10.0, m.theta(3))
>>> x[:, 0].round(2).tolist()
[20.0, 21.0, 22.0]

Errors in the declaration are raised when the class is defined or constructed,
as :class:`ModelContractError`, and say how to fix them.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from twinworks.errors import TwinworksError

__all__ = [
    "Array",
    "Frame",
    "Model",
    "ModelContractError",
    "Param",
    "ParamValue",
]

Array = npt.NDArray[np.float64]


class ModelContractError(TwinworksError):
    """A model does not keep the contract; the message names the model and the fix."""


ParamValue = float | tuple[float, ...] | tuple[tuple[float, ...], ...]
"""A parameter's value: a number, a vector or a table (rows of equal length)."""


@dataclass(frozen=True)
class Param:
    """A model parameter: its default (the physics prior), unit, bounds and prior spread.

    ``prior_std`` is how far calibration may trust the default: calibration adds
    ``(value - default) / prior_std`` to its residuals, so a few hours of data move
    a parameter only as far as the data justify. ``None``: no prior (flat within bounds).

    The default may be a vector (per-bearing limits) or a table (a curve, rows of equal
    length): the parameter then has that shape, ``p.name`` is an array of shape
    ``(..., *shape)`` for each twin, and ``bounds`` and ``prior_std`` apply to every
    element. In parameter vectors (:meth:`Model.theta`) it takes one column per element,
    named ``name[i]`` or ``name[i,j]`` (:attr:`Model.param_names`), so estimators,
    calibration and versions treat each element as a parameter.
    """

    default: ParamValue
    unit: str = ""
    bounds: tuple[float, float] = (-math.inf, math.inf)
    description: str = ""
    prior_std: float | None = None

    def __post_init__(self) -> None:
        # lists in declarations become tuples: a Param is frozen and hashable
        if not isinstance(self.default, int | float):
            object.__setattr__(self, "default", _as_tuple(self.default))

    @property
    def shape(self) -> tuple[int, ...]:
        """``()`` for a number, ``(k,)`` for a vector, ``(rows, columns)`` for a table."""
        return tuple(np.shape(self.default))

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """The default as a float array of :attr:`shape`."""
        return np.asarray(self.default, dtype=np.float64)


def _as_tuple(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return tuple(_as_tuple(v) for v in value)
    return value


def _columns(name: str, shape: tuple[int, ...]) -> list[str]:
    """Column names of a parameter in parameter vectors: ``name``, ``name[i]``, ``name[i,j]``."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


class Frame:
    """Named columns of an array: ``frame.name`` is ``array[..., index[name]]``.

    Reading a name the model did not declare raises an error that lists the declared ones.
    """

    __slots__ = ("_array", "_index", "_kind", "_model", "_shapes")

    def __init__(
        self,
        array: Array,
        index: Mapping[str, int],
        kind: str,
        model: str,
        shapes: Mapping[str, tuple[slice, tuple[int, ...]]] | None = None,
    ) -> None:
        self._array = array
        self._index = index
        self._kind = kind
        self._model = model
        self._shapes = shapes or {}

    @property
    def array(self) -> Array:
        return self._array

    def __getattr__(self, name: str) -> Array:
        shaped = self._shapes.get(name)
        if shaped is not None:  # a vector or table parameter: its columns, in its shape
            columns, shape = shaped
            block = self._array[..., columns]
            return block.reshape(*block.shape[:-1], *shape)
        try:
            return self._array[..., self._index[name]]
        except KeyError:
            raise AttributeError(
                f"{self._model} has no {self._kind} {name!r}; declared: "
                + (", ".join(self._index) or "none")
            ) from None

    def __getitem__(self, name: str) -> Array:
        return self.__getattr__(name)


_GROUPS = ("inputs", "states", "outputs", "events")


def _fail(model: str, message: str) -> ModelContractError:
    return ModelContractError(f"{model}: {message}")


def _check_names(model: str, group: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str):
        raise _fail(
            model,
            f"{group} must be a tuple of names, got the string {names!r}; "
            f"write {group} = ({names!r},)",
        )
    if not isinstance(names, Sequence):
        raise _fail(model, f"{group} must be a tuple of names, got {type(names).__name__}")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name:
            raise _fail(model, f"{group} holds {name!r}; every name must be a non-empty string")
        parts = name.split(".")
        if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
            raise _fail(
                model,
                f"{group} name {name!r} is not a Python identifier; use letters, digits and "
                "'_' (units in the name, e.g. 'temperature_c')",
            )
        if name in seen:
            raise _fail(model, f"{group} declares {name!r} twice; names must be unique")
        seen.add(name)
    return tuple(names)


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(Model, name, None)


class Model:
    """Base class of every virtual model. See the module docstring for the contract."""

    inputs: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    parameters: Mapping[str, Param] = MappingProxyType({})
    initial_state: Mapping[str, float] = MappingProxyType({})
    """State of a new twin (default 0 for states not named)."""
    initial_std: Mapping[str, float] = MappingProxyType({})
    """Uncertainty of the initial state (standard deviation), used by estimators."""
    process_noise: Mapping[str, float] = MappingProxyType({})
    """Standard deviation of each state's random walk per √second (estimators' Q)."""
    measurement_noise: Mapping[str, float] = MappingProxyType({})
    """Standard deviation of each output's sensor noise (estimators' R)."""
    units: Mapping[str, str] = MappingProxyType({})
    """Unit of inputs, states and outputs whose name does not say it."""
    integration: ClassVar[Literal["euler", "rk4"]] = "euler"
    max_dt: ClassVar[float] = math.inf
    """Longest step ``dx`` is integrated over at once; longer steps are split."""
    cost: ClassVar[str] = "cheap"
    """How expensive one step is (cheap, moderate, expensive): the runtime keeps budgets."""

    # -------------------------------------------------------------- declaration checks

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "_dynamic", False):
            return  # composites and wrappers declare their names per instance
        _check_class(cls)

    def __init__(self, **parameters: Any) -> None:
        name = type(self).__name__
        self.name = name
        self.inputs = _check_names(name, "inputs", self.inputs)
        self.states = _check_names(name, "states", self.states)
        self.outputs = _check_names(name, "outputs", self.outputs)
        self.events = _check_names(name, "events", self.events)
        declared = dict(self.parameters)
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise _fail(
                name,
                f"unknown parameter(s) {', '.join(unknown)}; declared: "
                + (", ".join(declared) or "none"),
            )
        for pname, value in parameters.items():
            spec = declared[pname]
            declared[pname] = Param(
                _override(name, pname, spec, value),
                spec.unit,
                spec.bounds,
                spec.description,
                spec.prior_std,
            )
        self.parameters = declared
        _check_params(name, declared)
        columns: list[str] = []
        self._pshape: dict[str, tuple[slice, tuple[int, ...]]] = {}
        self._pcolumn: dict[str, str] = {}  # column name → its parameter
        for pname, spec in declared.items():
            names = _columns(pname, spec.shape)
            if spec.shape:
                self._pshape[pname] = (slice(len(columns), len(columns) + len(names)), spec.shape)
            columns += names
            self._pcolumn.update(dict.fromkeys(names, pname))
        self.param_names: tuple[str, ...] = tuple(columns)
        """One name per column of parameter vectors (``limit[0]`` for vector elements)."""
        self._sx = {n: i for i, n in enumerate(self.states)}
        self._su = {n: i for i, n in enumerate(self.inputs)}
        self._sz = {n: i for i, n in enumerate(self.outputs)}
        self._sp = {n: i for i, n in enumerate(self.param_names)}
        for group, mapping in (
            ("initial_state", self.initial_state),
            ("initial_std", self.initial_std),
            ("process_noise", self.process_noise),
        ):
            for key in mapping:
                if key not in self._sx:
                    raise _fail(
                        name,
                        f"{group} names {key!r}, which is not a state; states: "
                        + (", ".join(self.states) or "none"),
                    )
        for key in self.measurement_noise:
            if key not in self._sz:
                raise _fail(
                    name,
                    f"measurement_noise names {key!r}, which is not an output; outputs: "
                    + (", ".join(self.outputs) or "none"),
                )
        self._smoke_test()

    def _smoke_test(self) -> None:
        """Call every method once on one twin, so a broken model fails at construction."""
        x = self.initialize(1)
        u = np.zeros((1, len(self.inputs)))
        theta = self.theta(1)
        with np.errstate(all="ignore"):
            x1 = self.step(x, u, 1.0, theta)
            self.observe(x1, u, theta)
            if self.events:
                self.health(x1, theta)

    # -------------------------------------------------------------- to fill in

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        """The state after ``dt`` seconds (discrete models override this)."""
        if not _overrides(type(self), "dx"):
            raise _fail(self.name, "define next_state(x, u, dt, p) or dx(x, u, p)")
        return self._integrate(x, u, dt, p)

    def dx(self, x: Frame, u: Frame, p: Frame) -> Any:
        """Time derivative of every state (continuous models override this)."""
        raise _fail(self.name, "define dx(x, u, p) or next_state(x, u, dt, p)")

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        """Noise-free value of every output."""
        return ()

    def event_state(self, x: Frame, p: Frame) -> Any:
        """Health per event: 1 far from it, 0 when it is reached."""
        return ()

    # -------------------------------------------------------------- array-level API

    def param(self, column: str) -> Param:
        """The declared parameter a column of parameter vectors belongs to."""
        try:
            return self.parameters[self._pcolumn[column]]
        except KeyError:
            raise _fail(
                self.name,
                f"no parameter {column!r}; declared: " + (", ".join(self.param_names) or "none"),
            ) from None

    def theta(self, n: int | None = None, /, **overrides: Any) -> Array:
        """Parameter vector (``n`` is None) or matrix ``(n, n_params)`` with overrides.

        A vector or table parameter is overridden whole (``limits=[80, 85, 90]``) or by
        element (``**{"limits[1]": 85}``).
        """
        values: list[float] = []
        for pname, spec in self.parameters.items():
            if pname in overrides:
                values += np.ravel(_override(self.name, pname, spec, overrides.pop(pname))).tolist()
            else:
                values += np.ravel(spec.values).tolist()
        for column in [c for c in overrides if c in self._sp]:
            values[self._sp[column]] = float(overrides.pop(column))
        if overrides:
            raise _fail(
                self.name,
                f"unknown parameter(s) {', '.join(sorted(overrides))}; declared: "
                + (", ".join(self.param_names) or "none"),
            )
        vector = np.array(values, dtype=np.float64)
        return vector if n is None else np.tile(vector, (n, 1))

    def bounds(self) -> tuple[Array, Array]:
        lo = np.array([self.param(n).bounds[0] for n in self.param_names], dtype=float)
        hi = np.array([self.param(n).bounds[1] for n in self.param_names], dtype=float)
        return lo, hi

    def initialize(self, n: int) -> Array:
        """States of ``n`` new twins, shape ``(n, n_states)``."""
        x0 = np.array([float(self.initial_state.get(s, 0.0)) for s in self.states])
        return np.tile(x0, (n, 1))

    def initial_covariance(self) -> Array:
        std = np.array([float(self.initial_std.get(s, 1.0)) for s in self.states])
        return np.diag(std**2)

    def process_covariance(self) -> Array:
        """Q per second: covariance of the states' random walk over one second."""
        std = np.array([float(self.process_noise.get(s, 0.0)) for s in self.states])
        return np.diag(std**2)

    def measurement_covariance(self) -> Array:
        std = np.array([float(self.measurement_noise.get(z, 1.0)) for z in self.outputs])
        return np.diag(std**2)

    def frames(self, x: Array, u: Array, theta: Array) -> tuple[Frame, Frame, Frame]:
        return (
            Frame(x, self._sx, "state", self.name),
            Frame(u, self._su, "input", self.name),
            Frame(theta, self._sp, "parameter", self.name, self._pshape),
        )

    def step(self, x: Array, u: Array, dt: Any, theta: Array) -> Array:
        """``next_state`` on arrays: ``x`` ``(..., n_states)`` → same shape."""
        fx, fu, fp = self.frames(x, u, theta)
        out = self.next_state(fx, fu, dt, fp)
        return self._stack(out, self.states, "next_state", x.shape[:-1])

    def observe(self, x: Array, u: Array, theta: Array) -> Array:
        """``output`` on arrays: ``(..., n_outputs)``."""
        fx, fu, fp = self.frames(x, u, theta)
        lead = np.broadcast_shapes(x.shape[:-1], u.shape[:-1])
        return self._stack(self.output(fx, fu, fp), self.outputs, "output", lead)

    def health(self, x: Array, theta: Array) -> Array:
        """``event_state`` on arrays: ``(..., n_events)``."""
        fx, _, fp = self.frames(x, np.zeros((*x.shape[:-1], len(self.inputs))), theta)
        return self._stack(self.event_state(fx, fp), self.events, "event_state", x.shape[:-1])

    def threshold_met(self, x: Array, theta: Array) -> npt.NDArray[np.bool_]:
        return self.health(x, theta) <= 0.0

    def simulate(
        self,
        x0: Array,
        inputs: Array,
        dt: float,
        theta: Array,
        process_std: Array | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[Array, Array]:
        """Run ``T`` steps: ``inputs`` ``(T, n, n_inputs)`` → states and outputs per step.

        Returns states ``(T + 1, n, n_states)`` (including ``x0``) and outputs
        ``(T, n, n_outputs)`` at the states reached. With ``process_std`` and ``rng``
        a random walk of that strength (per √s) is added to the states.
        """
        xs = [np.asarray(x0, dtype=float)]
        zs = []
        for k in range(inputs.shape[0]):
            x = self.step(xs[-1], inputs[k], dt, theta)
            if process_std is not None:
                if rng is None:
                    raise ValueError("simulate: process_std needs an rng (seeded generator)")
                x = x + rng.standard_normal(x.shape) * process_std * math.sqrt(dt)
            xs.append(x)
            zs.append(self.observe(x, inputs[k], theta))
        return np.stack(xs), np.stack(zs) if zs else np.zeros((0, *x0.shape[:-1], 0))

    # -------------------------------------------------------------- internals

    def _stack(
        self, values: Any, names: tuple[str, ...], method: str, lead: tuple[int, ...]
    ) -> Array:
        if (
            isinstance(values, np.ndarray)
            and values.ndim >= 1
            and values.shape[-1] == len(names)
            and values.shape[:-1] == lead
        ):
            return values.astype(np.float64, copy=False)
        if isinstance(values, Mapping):
            missing = [n for n in names if n not in values]
            extra = [k for k in values if k not in names]
            if missing or extra:
                raise _fail(
                    self.name,
                    f"{method} returned keys {sorted(values)}; it must return exactly "
                    f"{', '.join(names) or 'nothing'}",
                )
            values = [values[n] for n in names]
        if not isinstance(values, list | tuple):
            values = (values,)
        if len(values) != len(names):
            raise _fail(
                self.name,
                f"{method} returned {len(values)} value(s); it must return one per declared "
                f"name, in order: ({', '.join(names)})",
            )
        if not names:
            return np.zeros((*lead, 0))
        if all(isinstance(v, np.ndarray) and v.shape == lead for v in values):
            return np.stack(values, axis=-1).astype(np.float64, copy=False)
        try:
            columns = [np.broadcast_to(np.asarray(v, dtype=np.float64), lead) for v in values]
        except ValueError:
            shapes = [np.shape(v) for v in values]
            raise _fail(
                self.name,
                f"{method} returned arrays of shapes {shapes}; each must broadcast to the "
                f"fleet's shape {lead} (compute with the frames' columns, not fixed sizes)",
            ) from None
        return np.stack(columns, axis=-1)

    def _integrate(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Array:
        dt_arr = np.asarray(dt, dtype=np.float64)
        largest = float(np.max(dt_arr)) if dt_arr.size else 0.0
        steps = 1 if not math.isfinite(self.max_dt) else max(1, math.ceil(largest / self.max_dt))
        h = dt_arr / steps
        h_col = h[..., None] if h.ndim else h
        state = x.array
        lead = state.shape[:-1]

        def f(s: Array) -> Array:
            fx = Frame(s, self._sx, "state", self.name)
            return self._stack(self.dx(fx, u, p), self.states, "dx", lead)

        for _ in range(steps):
            if self.integration == "rk4":
                k1 = f(state)
                k2 = f(state + 0.5 * h_col * k1)
                k3 = f(state + 0.5 * h_col * k2)
                k4 = f(state + h_col * k3)
                state = state + h_col / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            else:
                state = state + h_col * f(state)
        return state

    def __repr__(self) -> str:
        changed = {
            n: p.default
            for n, p in self.parameters.items()
            if type(self).parameters.get(n) is None or p.default != type(self).parameters[n].default
        }
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"


def _check_params(model: str, params: Mapping[str, Param]) -> None:
    for pname, spec in params.items():
        if not isinstance(spec, Param):
            raise _fail(
                model,
                f"parameter {pname!r} is a {type(spec).__name__}; declare it as "
                f"Param(default, unit=..., bounds=(lo, hi))",
            )
        if not all(part.isidentifier() for part in pname.split(".")):
            raise _fail(model, f"parameter name {pname!r} is not a Python identifier")
        lo, hi = spec.bounds
        if not (lo <= hi):
            raise _fail(
                model, f"parameter {pname!r} has bounds {spec.bounds}; lower must be ≤ upper"
            )
        try:
            values = spec.values
        except (TypeError, ValueError):
            raise _fail(
                model,
                f"parameter {pname!r} = {spec.default!r} is not a number, a vector or a table "
                "of numbers (rows of equal length)",
            ) from None
        if values.ndim > 2 or 0 in values.shape:
            raise _fail(
                model,
                f"parameter {pname!r} has shape {values.shape}; parameters are numbers, "
                "non-empty vectors or tables",
            )
        outside = ~(np.isfinite(values) & (values >= lo) & (values <= hi))
        if outside.any():
            shown = spec.default if not values.ndim else values[outside].tolist()
            raise _fail(
                model,
                f"parameter {pname!r} = {shown} is outside its bounds {spec.bounds}; "
                "change the default or widen the bounds",
            )
        if spec.prior_std is not None and not spec.prior_std > 0:
            raise _fail(
                model, f"parameter {pname!r} has prior_std {spec.prior_std}; it must be > 0"
            )


def _override(model: str, pname: str, spec: Param, value: Any) -> ParamValue:
    """An override of a declared parameter, in the declared shape."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(model, f"parameter {pname!r} = {value!r} is not numeric") from None
    if array.shape != spec.shape:
        want = "a number" if not spec.shape else f"shape {spec.shape}"
        raise _fail(model, f"parameter {pname!r} has {want}; got {value!r} of shape {array.shape}")
    return float(array) if not spec.shape else _as_tuple(array)


def _check_class(cls: type) -> None:
    name = cls.__name__
    for group in _GROUPS:
        _check_names(name, group, getattr(cls, group))
    states = cls.states  # type: ignore[attr-defined]
    if states and not (_overrides(cls, "next_state") or _overrides(cls, "dx")):
        raise _fail(
            name,
            f"declares states {tuple(states)} but defines neither next_state(x, u, dt, p) nor "
            "dx(x, u, p); define one of them",
        )
    if _overrides(cls, "next_state") and _overrides(cls, "dx"):
        raise _fail(name, "defines both next_state and dx; keep one (dx is integrated for you)")
    if cls.outputs and not _overrides(cls, "output"):  # type: ignore[attr-defined]
        raise _fail(
            name,
            f"declares outputs {tuple(cls.outputs)} but no output(x, u, p); "  # type: ignore[attr-defined]
            "define it to return one value per output",
        )
    if cls.events and not _overrides(cls, "event_state"):  # type: ignore[attr-defined]
        raise _fail(
            name,
            f"declares events {tuple(cls.events)} but no event_state(x, p); "  # type: ignore[attr-defined]
            "define it to return one health value (1 … 0) per event",
        )
    _check_params(name, cls.parameters)  # type: ignore[attr-defined]
    overlap = set(cls.states) & set(cls.inputs)  # type: ignore[attr-defined]
    if overlap:
        raise _fail(name, f"{sorted(overlap)} are both states and inputs; rename one")
