"""FMUs (FMI 2.0 co-simulation) in the model contract, through FMPy.

A vendor's model exported as an FMU becomes a twinworks model when it exposes its
state: name the FMU variables that hold the state, and they must be settable
(``causality="parameter"`` with ``variability="tunable"``, or inputs) so that any
state — a particle, a sigma point, a what-if fork — can be stepped from. Each step
sets state, inputs and parameters, calls ``doStep`` and reads the state back, so
one FMU instance serves a whole fleet (rows are stepped one after another).

Parameters are the FMU's tunable parameters that are not states; their start
values are the defaults, their ``min``/``max`` the bounds. An output may name a
state (the FMU's state *is* what is measured); other outputs are read after the
state and inputs are set, so an FMU that computes them only inside ``doStep``
should expose the measured quantities as states.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from twinworks.models.base import Array, Frame, Model, ModelContractError, Param

__all__ = ["FmuModel"]


class FmuModel(Model):
    """An FMI 2.0 co-simulation FMU whose declared ``states`` are settable variables."""

    _dynamic = True
    cost = "moderate"
    file_options: ClassVar[tuple[str, ...]] = ("path",)
    """Constructor arguments that are file paths (relative to a definition file)."""

    def __init__(
        self,
        path: str | Path,
        *,
        states: Sequence[str],
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        parameters: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        from fmpy import extract, read_model_description
        from fmpy.fmi2 import FMU2Slave

        self.path = Path(path)
        label = name or self.path.stem
        if not self.path.is_file():
            raise ModelContractError(f"{label}: no FMU file at {self.path}")
        try:
            md = read_model_description(str(self.path))
        except Exception as exc:  # FMPy raises plain exceptions for broken archives
            raise ModelContractError(f"{label}: {self.path} is not a readable FMU: {exc}") from None
        if md.coSimulation is None:
            raise ModelContractError(
                f"{label}: {self.path.name} has no co-simulation interface; export it for "
                "co-simulation (FMI 2.0 CS)"
            )
        variables = {v.name: v for v in md.modelVariables}

        def settable(v: Any) -> bool:
            return v.causality == "input" or (
                v.causality == "parameter" and v.variability == "tunable"
            )

        def need(names: Sequence[str], what: str, ok: Any, fix: str) -> tuple[str, ...]:
            for n in names:
                if n not in variables:
                    raise ModelContractError(
                        f"{label}: the FMU has no variable {n!r} (declared as {what}); it has: "
                        + ", ".join(sorted(variables))
                    )
                if variables[n].type != "Real":
                    raise ModelContractError(
                        f"{label}: {what} {n!r} is {variables[n].type}; "
                        "only Real variables are supported"
                    )
                if not ok(variables[n]):
                    raise ModelContractError(f"{label}: {what} {n!r} {fix}")
            return tuple(names)

        self.states = need(
            states,
            "state",
            settable,
            "cannot be set between steps; export it with causality='parameter' and "
            "variability='tunable' so estimators can step from any state",
        )
        if inputs is None:
            inputs = [v.name for v in md.modelVariables if v.causality == "input"]
        self.inputs = need(
            inputs,
            "input",
            lambda v: v.causality == "input",
            "is not an input of the FMU (causality='input')",
        )
        if outputs is None:
            outputs = [v.name for v in md.modelVariables if v.causality == "output"]
        self.outputs = need(outputs, "output", lambda v: True, "")
        self._output_from_state = {
            k: self.states.index(n) for k, n in enumerate(self.outputs) if n in self.states
        }
        if parameters is None:
            parameters = [
                v.name
                for v in md.modelVariables
                if settable(v) and v.causality == "parameter" and v.name not in self.states
            ]
        params = need(
            parameters, "parameter", settable, "cannot be set; export it as a tunable parameter"
        )
        self.events = ()
        self.parameters = {}
        for n in params:
            v = variables[n]
            start = float(v.start) if v.start is not None else 0.0
            lo = float(v.min) if v.min is not None else -math.inf
            hi = float(v.max) if v.max is not None else math.inf
            self.parameters[n] = Param(start, v.unit or "", (lo, hi), v.description or "")
        self.initial_state = {
            n: float(variables[n].start) if variables[n].start is not None else 0.0
            for n in self.states
        }
        self._vr = {n: variables[n].valueReference for n in variables}
        self._unzipped = extract(str(self.path))
        self._fmu = FMU2Slave(
            guid=md.guid,
            unzipDirectory=self._unzipped,
            modelIdentifier=md.coSimulation.modelIdentifier,
            instanceName=label,
        )
        self._fmu.instantiate()
        self._fmu.setupExperiment(startTime=0.0)
        self._fmu.enterInitializationMode()
        self._fmu.exitInitializationMode()
        self._time = 0.0
        self._closed = False
        self._set_vrs = [self._vr[n] for n in (*self.states, *self.inputs, *params)]
        self._state_vrs = [self._vr[n] for n in self.states]
        self._output_vrs = [self._vr[n] for n in self.outputs]
        super().__init__()
        self.name = label

    def _rows(self, *arrays: Array) -> tuple[tuple[int, ...], list[Array]]:
        lead = np.broadcast_shapes(*(a.shape[:-1] for a in arrays))
        flat = [np.broadcast_to(a, (*lead, a.shape[-1])).reshape(-1, a.shape[-1]) for a in arrays]
        return lead, flat

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        if self._closed:
            raise ModelContractError(f"{self.name}: the FMU is closed")
        lead, (xs, us, ps) = self._rows(x.array, u.array, p.array)
        dts = np.broadcast_to(np.asarray(dt, dtype=np.float64), lead).reshape(-1)
        out = np.empty_like(xs)
        fmu = self._fmu
        for i in range(xs.shape[0]):
            fmu.setReal(self._set_vrs, [*xs[i], *us[i], *ps[i]])
            fmu.doStep(currentCommunicationPoint=self._time, communicationStepSize=float(dts[i]))
            out[i] = fmu.getReal(self._state_vrs)
        self._time += float(np.max(dts)) if dts.size else 0.0
        return out.reshape(*lead, len(self.states))

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        lead, (xs, us, ps) = self._rows(x.array, u.array, p.array)
        out = np.empty((xs.shape[0], len(self.outputs)))
        others = [k for k in range(len(self.outputs)) if k not in self._output_from_state]
        for k, j in self._output_from_state.items():
            out[:, k] = xs[:, j]
        if others:
            fmu = self._fmu
            refs = [self._output_vrs[k] for k in others]
            for i in range(xs.shape[0]):
                fmu.setReal(self._set_vrs, [*xs[i], *us[i], *ps[i]])
                out[i, others] = fmu.getReal(refs)
        return out.reshape(*lead, len(self.outputs))

    def close(self) -> None:
        """Free the FMU instance and its unpacked files."""
        if self._closed:
            return
        self._closed = True
        try:
            self._fmu.terminate()
            self._fmu.freeInstance()
        finally:
            shutil.rmtree(self._unzipped, ignore_errors=True)

    def __enter__(self) -> FmuModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FmuModel({str(self.path)!r}, states={self.states})"
