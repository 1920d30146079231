"""What a remaining-useful-life estimate is, whichever way it was made."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Contribution", "RulEstimate", "finite_or_none"]


def finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: a value beyond every horizon is reported as null."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Contribution:
    """How much one input moved a prediction (in the prediction's unit)."""

    name: str
    value: float
    parts: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": finite_or_none(self.value), "parts": self.parts}


@dataclass(frozen=True)
class RulEstimate:
    """Remaining useful life with its interval and the reason for it.

    ``value`` is the central estimate: the median of the propagated distribution
    for model-based RUL, the point prediction for data-driven RUL. ``lower`` and
    ``upper`` bound the central ``level`` interval (0.9: the 5–95 % interval).
    """

    value: float
    lower: float
    upper: float
    level: float
    unit: str
    method: str
    explanation: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: a bound beyond the prediction horizon (inf) becomes null."""
        return {
            "value": finite_or_none(self.value),
            "lower": finite_or_none(self.lower),
            "upper": finite_or_none(self.upper),
            "level": self.level,
            "unit": self.unit,
            "method": self.method,
            "explanation": self.explanation,
            **({"extra": self.extra} if self.extra else {}),
        }
