"""Checks of model bindings against the telemetry they read and the models they name.

Called by :func:`twinworks.spec.validate.check_definition`, so a definition whose
binding names a missing signal, model, input, output, state or parameter fails to
load with every problem listed (where, what, what was expected).
"""

from __future__ import annotations

from typing import Any

from twinworks.spec.schema import TwinDefinition

__all__ = ["check_model_bindings"]

Problem = tuple[tuple[str | int, ...], str, str | None]


def _choices(names: Any) -> str:
    names = sorted(names)
    return "one of: " + ", ".join(names) if names else "a declared one (none are declared)"


def _flatten(value: Any) -> list[float]:
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [float(value)]


def check_model_bindings(definition: TwinDefinition) -> list[Problem]:
    # the model library pulls in NumPy models; only definitions that bind models pay for it
    if not any(t.models for t in definition.types.values()) and not any(
        t.models for t in definition.twins
    ):
        return []
    from twinworks.errors import TwinworksError
    from twinworks.models.loader import ModelLoadError

    problems: list[Problem] = []
    built: dict[tuple[str, str], Any] = {}
    for tname, ttype in definition.types.items():
        for bname, binding in ttype.models.items():
            base: tuple[str | int, ...] = ("types", tname, "models", bname)
            # resolving runs the model's own code (a model file, a plug-in): its faults
            # are reported here, at validation, with the model file and line
            try:
                model = binding.build()
            except ModelLoadError as exc:
                problems.append(((*base, "model"), str(exc), exc.expected))
                continue
            except TwinworksError as exc:
                problems.append(((*base, "parameters"), str(exc), None))
                continue
            built[(tname, bname)] = model
            for name, source in binding.inputs.items():
                if name not in model.inputs:
                    problems.append(
                        (
                            (*base, "inputs", name),
                            f"{binding.model} has no input {name!r}",
                            _choices(model.inputs),
                        )
                    )
                if isinstance(source, int | float):
                    continue  # a constant input
                signal = source if isinstance(source, str) else source.signal
                spec = ttype.telemetry.get(signal)
                if spec is None:
                    problems.append(
                        (
                            (*base, "inputs", name),
                            f"no telemetry signal {signal!r}",
                            _choices(ttype.telemetry),
                        )
                    )
                    continue
                equals = None if isinstance(source, str) else source.equals
                changes = False if isinstance(source, str) else source.changes
                if equals is not None and spec.values is not None and equals not in spec.values:
                    problems.append(
                        (
                            (*base, "inputs", name, "equals"),
                            f"{signal!r} never has the value {equals!r}",
                            _choices(spec.values),
                        )
                    )
                elif equals is None and not changes and spec.dtype == "string":
                    problems.append(
                        (
                            (*base, "inputs", name),
                            f"{signal!r} is a string signal",
                            f"{{signal: {signal}, equals: <one of its values>}}",
                        )
                    )
            missing = [i for i in model.inputs if i not in binding.inputs]
            if missing:
                problems.append(
                    (
                        (*base, "inputs"),
                        "model inputs not mapped: " + ", ".join(missing),
                        "a telemetry signal for every input",
                    )
                )
            for name, signal in binding.outputs.items():
                if name not in model.outputs:
                    problems.append(
                        (
                            (*base, "outputs", name),
                            f"{binding.model} has no output {name!r}",
                            _choices(model.outputs),
                        )
                    )
                spec = ttype.telemetry.get(signal)
                if spec is None:
                    problems.append(
                        (
                            (*base, "outputs", name),
                            f"no telemetry signal {signal!r}",
                            _choices(ttype.telemetry),
                        )
                    )
                elif spec.dtype not in ("float", "int"):
                    problems.append(
                        (
                            (*base, "outputs", name),
                            f"{signal!r} is a {spec.dtype}; outputs are numbers",
                            None,
                        )
                    )
            if not binding.outputs:
                problems.append(
                    (
                        (*base, "outputs"),
                        "no model output is measured",
                        "at least one output mapped to a telemetry signal",
                    )
                )
            for name, state in binding.estimates.items():
                if state not in model.states:
                    problems.append(
                        (
                            (*base, "estimates", name),
                            f"{binding.model} has no state {state!r}",
                            _choices(model.states),
                        )
                    )
            for name in binding.calibrate:
                if name in model.parameters and name not in model.param_names:
                    problems.append(
                        (
                            (*base, "calibrate"),
                            f"{name!r} is a vector or table parameter; calibration re-fits "
                            "numbers only",
                            _choices(n for n in model.param_names if "[" not in n),
                        )
                    )
                elif name not in model.param_names:
                    problems.append(
                        (
                            (*base, "calibrate"),
                            f"{binding.model} has no parameter {name!r}",
                            _choices(model.param_names),
                        )
                    )
    for index, twin in enumerate(definition.twins):
        twin_type = definition.types.get(twin.type)
        if twin_type is None:
            continue  # reported by the type check
        for bname, settings in twin.models.items():
            base = ("twins", index, "models", bname)
            if bname not in twin_type.models:
                problems.append(
                    (
                        base,
                        f"type {twin.type!r} binds no model {bname!r}",
                        _choices(twin_type.models),
                    )
                )
                continue
            bound = built.get((twin.type, bname))
            if bound is None:
                continue
            for pname, value in settings.parameters.items():
                param = bound.parameters.get(pname)
                if param is None:
                    problems.append(
                        (
                            (*base, "parameters", pname),
                            f"no parameter {pname!r}",
                            _choices(bound.param_names),
                        )
                    )
                else:
                    try:
                        bound.theta(**{pname: value})  # the declared shape
                    except TwinworksError as exc:
                        problems.append(((*base, "parameters", pname), str(exc), None))
                        continue
                    lo, hi = param.bounds
                    if not all(lo <= v <= hi for v in _flatten(value)):
                        problems.append(
                            (
                                (*base, "parameters", pname),
                                f"{value} is outside the bounds {param.bounds}",
                                None,
                            )
                        )
    return problems
