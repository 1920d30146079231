"""Remaining useful life, two ways: data-driven (trained, conformal intervals) and model-based.

- :mod:`~twinworks.services.rul.data`: :class:`RulTrainer` / :class:`RulModel`
  (gradient-boosted trees, split-conformal intervals, TreeSHAP explanations,
  a ``.twrul`` saved-model format);
- :mod:`~twinworks.services.rul.propagate`: Monte Carlo and unscented
  propagation of a state distribution to a failure threshold;
- :mod:`~twinworks.services.rul.toolwear`: the CNC tool-wear model and tracker;
- :mod:`~twinworks.services.rul.cmapss`: the C-MAPSS benchmark data and metrics.
"""

from twinworks.services.rul.conformal import conformal_quantile, cqr_scores
from twinworks.services.rul.data import RulModel, RulTrainer, TrainingHistory
from twinworks.services.rul.features import FeatureConfig, Featurizer
from twinworks.services.rul.propagate import (
    ContractModel,
    FailureTimes,
    TransitionModel,
    constant_load,
    monte_carlo,
    time_to_threshold,
    unscented,
)
from twinworks.services.rul.result import Contribution, RulEstimate
from twinworks.services.rul.sensitivity import sensitivity
from twinworks.services.rul.toolwear import ToolWearModel, ToolWearTracker, tool_wear_model_for

__all__ = [
    "ContractModel",
    "Contribution",
    "FailureTimes",
    "FeatureConfig",
    "Featurizer",
    "RulEstimate",
    "RulModel",
    "RulTrainer",
    "ToolWearModel",
    "ToolWearTracker",
    "TrainingHistory",
    "TransitionModel",
    "conformal_quantile",
    "constant_load",
    "cqr_scores",
    "monte_carlo",
    "sensitivity",
    "time_to_threshold",
    "tool_wear_model_for",
    "unscented",
]
