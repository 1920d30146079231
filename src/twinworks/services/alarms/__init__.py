"""Alarms: limit, rate-of-change and anomaly rules from the twin definition, as events."""

from twinworks.services.alarms.rules import (
    Alarm,
    AnomalyCondition,
    Judgement,
    LimitCondition,
    RateCondition,
    Transition,
    least_squares_slope,
)
from twinworks.services.alarms.service import AlarmService, UnknownAlarmError

__all__ = [
    "Alarm",
    "AlarmService",
    "AnomalyCondition",
    "Judgement",
    "LimitCondition",
    "RateCondition",
    "Transition",
    "UnknownAlarmError",
    "least_squares_slope",
]
