"""Composition: units make a machine, machines make a line — and the result is a model too.

A :class:`Composite` joins named parts. Every name of a part is prefixed with the
part's name (``tool.wear_mm``, ``thermal.tau_s``); ``connect`` feeds an output of one
part into an input of another (``{"thermal.power_kw": "tool.spindle_power_kw"}``);
inputs left unconnected become the composite's inputs. Because a composite is a
:class:`~twinworks.models.base.Model`, composites nest: a line is a composite of
machines, each a composite of units.

>>> from twinworks.models.catalog import SpindleThermal, ToolWear
>>> machine = Composite(
...     {"tool": ToolWear(), "thermal": SpindleThermal()},
...     connect={"thermal.spindle_power_kw": "tool.spindle_power_kw"},
...     name="CncMachine",
... )
>>> machine.states
('tool.wear_mm', 'thermal.temperature_c')
>>> "thermal.spindle_power_kw" in machine.inputs
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twinworks.models.base import Array, Frame, Model, ModelContractError

__all__ = ["Composite"]


class Composite(Model):
    """A model made of named parts; see the module docstring."""

    _dynamic = True

    def __init__(
        self,
        parts: Mapping[str, Model],
        connect: Mapping[str, str] | None = None,
        *,
        name: str = "Composite",
        parameters: Mapping[str, float] | None = None,
    ) -> None:
        if not parts:
            raise ModelContractError(f"{name}: a composite needs at least one part")
        for pname, part in parts.items():
            if not isinstance(part, Model):
                raise ModelContractError(
                    f"{name}: part {pname!r} is a {type(part).__name__}; parts must be Model "
                    "instances (construct the class, e.g. ToolWear())"
                )
            if not pname.isidentifier():
                raise ModelContractError(f"{name}: part name {pname!r} is not an identifier")
        self.parts = dict(parts)
        self.connect = dict(connect or {})
        self._label = name

        def names(group: str) -> tuple[str, ...]:
            return tuple(f"{p}.{n}" for p, part in self.parts.items() for n in getattr(part, group))

        all_inputs = names("inputs")
        all_outputs = names("outputs")
        for target, source in self.connect.items():
            if target not in all_inputs:
                raise ModelContractError(
                    f"{name}: connect target {target!r} is not an input of a part; inputs: "
                    + ", ".join(all_inputs)
                )
            if source not in all_outputs:
                raise ModelContractError(
                    f"{name}: connect source {source!r} is not an output of a part; outputs: "
                    + ", ".join(all_outputs)
                )
            if target.split(".", 1)[0] == source.split(".", 1)[0]:
                raise ModelContractError(
                    f"{name}: {source} → {target} connects a part to itself; "
                    "feedback inside a unit belongs in the unit's own equations"
                )
        self._order = self._topological_order(name)
        self.inputs = tuple(i for i in all_inputs if i not in self.connect)
        self.states = names("states")
        self.outputs = all_outputs
        self.events = names("events")
        self.parameters = {
            f"{p}.{k}": v for p, part in self.parts.items() for k, v in part.parameters.items()
        }
        self.initial_state = {
            f"{p}.{s}": float(v)
            for p, part in self.parts.items()
            for s, v in zip(part.states, part.initialize(1)[0], strict=True)
        }
        self.initial_std = {
            f"{p}.{k}": v for p, part in self.parts.items() for k, v in part.initial_std.items()
        }
        self.process_noise = {
            f"{p}.{k}": v for p, part in self.parts.items() for k, v in part.process_noise.items()
        }
        self.measurement_noise = {
            f"{p}.{k}": v
            for p, part in self.parts.items()
            for k, v in part.measurement_noise.items()
        }
        self.units = {
            f"{p}.{k}": v for p, part in self.parts.items() for k, v in part.units.items()
        }
        # column slices of every part in the composite's arrays
        self._slices: dict[str, dict[str, slice]] = {}
        offsets = {"states": 0, "outputs": 0, "events": 0, "params": 0}
        for p, part in self.parts.items():
            sizes = {
                "states": len(part.states),
                "outputs": len(part.outputs),
                "events": len(part.events),
                "params": len(part.param_names),
            }
            self._slices[p] = {k: slice(offsets[k], offsets[k] + sizes[k]) for k in sizes}
            for k in sizes:
                offsets[k] += sizes[k]
        # where each part's inputs come from: ("u", column) or ("z", part, column)
        self._sources: dict[str, list[tuple[Any, ...]]] = {}
        input_index = {n: i for i, n in enumerate(self.inputs)}
        for p, part in self.parts.items():
            sources: list[tuple[Any, ...]] = []
            for i in part.inputs:
                full = f"{p}.{i}"
                if full in self.connect:
                    src_part, src_out = self.connect[full].split(".", 1)
                    sources.append(("z", src_part, self.parts[src_part].outputs.index(src_out)))
                else:
                    sources.append(("u", input_index[full]))
            self._sources[p] = sources
        super().__init__(**dict(parameters or {}))
        self.name = name

    def _topological_order(self, name: str) -> list[str]:
        needs: dict[str, set[str]] = {p: set() for p in self.parts}
        for target, source in self.connect.items():
            needs[target.split(".", 1)[0]].add(source.split(".", 1)[0])
        order: list[str] = []
        done: set[str] = set()
        visiting: list[str] = []

        def visit(p: str) -> None:
            if p in done:
                return
            if p in visiting:
                cycle = " → ".join([*visiting[visiting.index(p) :], p])
                raise ModelContractError(
                    f"{name}: connections form a loop ({cycle}); outputs feed inputs within one "
                    "step, so break the loop with a state (a delay) inside one part"
                )
            visiting.append(p)
            for q in sorted(needs[p]):
                visit(q)
            visiting.pop()
            done.add(p)
            order.append(p)

        for p in self.parts:
            visit(p)
        return order

    # the composite works on whole arrays, not on named columns
    def _part_arrays(
        self, x: Array, u: Array, theta: Array
    ) -> tuple[dict[str, Array], dict[str, Array], dict[str, Array], dict[str, Array]]:
        lead = np.broadcast_shapes(x.shape[:-1], u.shape[:-1])
        xs = {p: x[..., self._slices[p]["states"]] for p in self.parts}
        ths = {p: theta[..., self._slices[p]["params"]] for p in self.parts}
        us: dict[str, Array] = {}
        zs: dict[str, Array] = {}
        for p in self._order:
            part = self.parts[p]
            columns = []
            for source in self._sources[p]:
                if source[0] == "u":
                    columns.append(np.broadcast_to(u[..., source[1]], lead))
                else:
                    columns.append(np.broadcast_to(zs[source[1]][..., source[2]], lead))
            up = np.stack(columns, axis=-1) if columns else np.zeros((*lead, 0))
            us[p] = up
            zs[p] = part.observe(np.broadcast_to(xs[p], (*lead, xs[p].shape[-1])), up, ths[p])
        return xs, us, ths, zs

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Array:
        xs, us, ths, _ = self._part_arrays(x.array, u.array, p.array)
        lead = np.broadcast_shapes(x.array.shape[:-1], u.array.shape[:-1])
        new = [
            self.parts[q].step(np.broadcast_to(xs[q], (*lead, xs[q].shape[-1])), us[q], dt, ths[q])
            for q in self.parts
        ]
        return np.concatenate(new, axis=-1) if new else np.zeros((*lead, 0))

    def output(self, x: Frame, u: Frame, p: Frame) -> Array:
        _, _, _, zs = self._part_arrays(x.array, u.array, p.array)
        return np.concatenate([zs[q] for q in self.parts], axis=-1)

    def event_state(self, x: Frame, p: Frame) -> Array:
        parts = [
            self.parts[q].health(
                x.array[..., self._slices[q]["states"]], p.array[..., self._slices[q]["params"]]
            )
            for q in self.parts
        ]
        return np.concatenate(parts, axis=-1)

    def __repr__(self) -> str:
        return f"Composite({self._label!r}, parts={list(self.parts)})"
