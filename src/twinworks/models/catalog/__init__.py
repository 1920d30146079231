"""The model library: physics, behaviour, rules, data-driven models and FMUs.

Library models are registered by name in :data:`LIBRARY`, which is how a twin
definition refers to them (``models: {machine: {model: cnc_machine}}``).
"""

from __future__ import annotations

from collections.abc import Callable

from twinworks.models.base import Model
from twinworks.models.catalog.behaviour import MODES, TRANSITIONS, MachineStateMachine
from twinworks.models.catalog.fmu import FmuModel
from twinworks.models.catalog.learned import SklearnModel
from twinworks.models.catalog.machining import (
    SpindleThermal,
    ToolLife,
    ToolWear,
    cnc_machine,
    machining_line,
)
from twinworks.models.catalog.rules import RuleModel, compile_rule

__all__ = [
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
    "machining_line",
]

LIBRARY: dict[str, Callable[..., Model]] = {
    "cnc_machine": cnc_machine,
    "machining_line": machining_line,
    "tool_wear": ToolWear,
    "tool_life": ToolLife,
    "spindle_thermal": SpindleThermal,
    "machine_state_machine": MachineStateMachine,
}
"""Models a twin definition can name, each a factory taking parameter overrides."""


def library_model(name: str, **parameters: float) -> Model:
    """Build the library model ``name`` with parameter overrides; errors list the names."""
    from twinworks.models.base import ModelContractError

    try:
        factory = LIBRARY[name]
    except KeyError:
        raise ModelContractError(
            f"no library model {name!r}; the library has: {', '.join(sorted(LIBRARY))}"
        ) from None
    return factory(**parameters)
