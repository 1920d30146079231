"""Model bindings in a twin definition: which models a twin type uses, and how its
telemetry maps to their inputs and outputs.

```yaml
types:
  cnc_machine:
    telemetry: {...}
    models:
      machine:                               # the binding's name
        model: cnc_machine                   # a model of the catalog, twinworks.models.catalog
        parameters: {tool.cutting_power_kw: 12.0}   # physics priors for the type
        inputs:
          tool.cutting: {signal: state, equals: cutting}   # 1.0 while state == cutting
          tool.feed_override_pct: feed_override
          tool.spindle_speed_rpm: spindle_speed
        outputs:                             # model output: telemetry signal it predicts
          tool.spindle_power_kw: spindle_power
        estimates: {tool_wear: tool.wear_mm} # derived name: model state
        calibrate: [tool.cutting_power_kw]
twins:
  - id: cnc2
    type: cnc_machine
    models: {machine: {parameters: {tool.cutting_power_kw: 8.0}}}   # per-twin priors
```

``model`` is a catalog name, ``path/to/file.py:Class`` (relative to the definition
file), ``package.module:Class`` or a name registered in the ``twinworks.models``
entry-point group; ``options`` are the model's constructor arguments (rules, the
path of a saved estimator or FMU, composite parts), see
:mod:`twinworks.models.loader`.

The schema is checked here; names are checked against the model itself in
:func:`twinworks.spec.model_check.check_model_bindings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

if TYPE_CHECKING:
    from twinworks.models.base import Model

__all__ = ["ModelBindingSpec", "ModelInputSpec", "TwinModelSpec"]

# model names are dotted by composition (tool.wear_mm)
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
SignalName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")]
# a number, or a vector or table of numbers for parameters the model declares so
ParameterValue = float | list[float] | list[list[float]]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInputSpec(_Spec):
    """A model input read from a telemetry signal: its value times ``scale``; with
    ``equals``, 1.0 while the signal has that value and 0.0 otherwise; with
    ``changes``, 1.0 on the step in which the signal's value changed (a counter that
    ticks, such as ``tool_changes``) and 0.0 otherwise."""

    signal: SignalName
    equals: str | float | None = None
    changes: bool = False
    scale: float = 1.0


class ModelBindingSpec(_Spec):
    model: str = Field(
        min_length=1,
        description="a catalog name (cnc_machine), models/gearbox.py:Gearbox (relative to "
        "the definition file), package.module:Class, or a plug-in's registered name",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="the model's constructor arguments, e.g. rules, a file path, parts",
    )
    parameters: dict[ModelName, ParameterValue] = Field(
        default_factory=dict, description="parameter → its prior: a number, vector or table"
    )
    inputs: dict[ModelName, float | SignalName | ModelInputSpec] = Field(
        default_factory=dict,
        description="model input → a telemetry signal, a mapping of one, or a constant",
    )
    outputs: dict[ModelName, SignalName] = Field(
        default_factory=dict, description="model output → the telemetry signal that measures it"
    )
    estimates: dict[SignalName, ModelName] = Field(
        default_factory=dict, description="derived value name → model state it publishes"
    )
    estimator: Literal["ukf", "pf"] = "ukf"
    sample_s: float = Field(default=1.0, gt=0, description="estimation step, seconds")
    calibrate: list[ModelName] = Field(
        default_factory=list, description="parameters re-fitted when the model drifts"
    )
    update_window_s: float = Field(
        default=900.0, gt=0, description="data collected after a drift to fit a new version"
    )
    description: str = ""
    # the definition file's folder: relative model and option paths start there
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> ModelBindingSpec:
        base = (info.context or {}).get("base_dir")
        if base is not None:
            self._base_dir = Path(base)
        return self

    @property
    def base_dir(self) -> Path | None:
        """Folder relative model paths are resolved from (None: the working directory)."""
        return self._base_dir

    def build(self, parameters: Mapping[str, Any] | None = None) -> Model:
        """The bound model with this binding's options and parameters (``parameters``
        override the binding's). Raises :class:`~twinworks.models.loader.ModelLoadError`."""
        from twinworks.models.loader import build_model

        return build_model(
            self.model,
            base_dir=self._base_dir,
            parameters={**self.parameters, **(parameters or {})},
            options=self.options,
        )


class TwinModelSpec(_Spec):
    """Per-twin settings of a type's model binding."""

    parameters: dict[ModelName, ParameterValue] = Field(default_factory=dict)
