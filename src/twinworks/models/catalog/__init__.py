"""The model library: physics, behaviour, rules, data-driven models and FMUs.

Library models are registered by name in :data:`LIBRARY`, which is how a twin
definition refers to them (``models: {machine: {model: cnc_machine}}``). A binding
can also name a model file, a module or a plug-in (:mod:`twinworks.models.loader`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twinworks.models.base import Model
from twinworks.models.catalog.behaviour import MODES, TRANSITIONS, MachineStateMachine
from twinworks.models.catalog.fmu import FmuModel
from twinworks.models.catalog.learned import SklearnModel, load_sklearn_model
from twinworks.models.catalog.machining import (
    SpindleThermal,
    ToolLife,
    ToolWear,
    cnc_machine,
    machining_line,
)
from twinworks.models.catalog.rules import RuleModel, compile_rule
from twinworks.models.composite import Composite

__all__ = [
    "ALIASES",
    "LIBRARY",
    "MODES",
    "TRANSITIONS",
    "FmuModel",
    "MachineStateMachine",
    "RuleModel",
    "SklearnModel",
    "SpindleThermal",
    "ToolLife",
    "ToolWear",
    "cnc_machine",
    "compile_rule",
    "library_model",
    "load_sklearn_model",
    "machining_line",
]

LIBRARY: dict[str, Callable[..., Model]] = {
    "cnc_machine": cnc_machine,
    "machining_line": machining_line,
    "tool_wear": ToolWear,
    "tool_life": ToolLife,
    "spindle_thermal": SpindleThermal,
    "machine_state_machine": MachineStateMachine,
    # generic kinds, built from a binding's options (rules inline, files, parts)
    "rule_model": RuleModel,
    "sklearn_model": load_sklearn_model,
    "fmu_model": FmuModel,
    "composite": Composite,
}
"""Models a twin definition can name: factories taking the binding's options and
parameter overrides as keyword arguments."""


ALIASES: dict[str, str] = {
    "ToolWear": "tool_wear",
    "SpindleThermal": "spindle_thermal",
    "MachineStateMachine": "machine_state_machine",
    "RuleModel": "rule_model",
    "SklearnModel": "sklearn_model",
    "FmuModel": "fmu_model",
    "Composite": "composite",
}
"""Class names the documentation uses, accepted for the catalog names they build."""


def library_model(name: str, **parameters: Any) -> Model:
    """Build the library model ``name`` with parameter overrides; errors list the names."""
    from twinworks.models.base import ModelContractError

    try:
        factory = LIBRARY[name]
    except KeyError:
        raise ModelContractError(
            f"no library model {name!r}; the library has: {', '.join(sorted(LIBRARY))}"
        ) from None
    return factory(**parameters)
