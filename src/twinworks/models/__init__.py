"""The virtual entity (VE): the model contract and the model library.

>>> from twinworks.models import cnc_machine
>>> m = cnc_machine()
>>> x = m.initialize(1000)                 # a fleet of 1000 machines in one array
>>> x.shape
(1000, 2)
"""

from twinworks.models.base import Array, Frame, Model, ModelContractError, Param
from twinworks.models.catalog import (
    LIBRARY,
    FmuModel,
    MachineStateMachine,
    RuleModel,
    SklearnModel,
    SpindleThermal,
    ToolLife,
    ToolWear,
    cnc_machine,
    library_model,
    machining_line,
)
from twinworks.models.composite import Composite

__all__ = [
    "LIBRARY",
    "Array",
    "Composite",
    "FmuModel",
    "Frame",
    "MachineStateMachine",
    "Model",
    "ModelContractError",
    "Param",
    "RuleModel",
    "SklearnModel",
    "SpindleThermal",
    "ToolLife",
    "ToolWear",
    "cnc_machine",
    "library_model",
    "machining_line",
]
