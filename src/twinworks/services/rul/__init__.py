"""Remaining useful life, two ways: data-driven (trained, conformal intervals) and model-based.

- :mod:`~twinworks.services.rul.data`: :class:`RulTrainer` / :class:`RulModel`
  (gradient-boosted trees, split-conformal intervals, TreeSHAP explanations,
  a ``.twrul`` saved-model format);
- :mod:`~twinworks.services.rul.propagate`: Monte Carlo and unscented
  propagation of a state distribution through a :class:`twinworks.models.Model`
  to its failure event;
- :mod:`~twinworks.services.rul.toolwear`: a particle filter tracking a CNC tool on
  the catalog's :class:`~twinworks.models.ToolLife`;
- :mod:`~twinworks.services.rul.cmapss`: the C-MAPSS benchmark data and metrics.
"""

from twinworks.services.rul.conformal import conformal_quantile, cqr_scores
from twinworks.services.rul.data import RulModel, RulTrainer, TrainingHistory
from twinworks.services.rul.features import FeatureConfig, Featurizer
from twinworks.services.rul.propagate import (
    FailureTimes,
    constant_load,
    monte_carlo,
    sqrt_covariance,
    time_to_threshold,
    unscented,
)
from twinworks.services.rul.result import Contribution, RulEstimate
from twinworks.services.rul.sensitivity import sensitivity
from twinworks.services.rul.toolwear import ToolWearTracker, particles_from_wear

__all__ = [
    "Contribution",
    "FailureTimes",
    "FeatureConfig",
    "Featurizer",
    "RulEstimate",
    "RulModel",
    "RulTrainer",
    "ToolWearTracker",
    "TrainingHistory",
    "conformal_quantile",
    "constant_load",
    "cqr_scores",
    "monte_carlo",
    "particles_from_wear",
    "sensitivity",
    "sqrt_covariance",
    "time_to_threshold",
    "unscented",
]
