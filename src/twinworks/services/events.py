"""Names of the events the health services record (past tense, like the runtime's)."""

from __future__ import annotations

__all__ = [
    "ALARM_ACKNOWLEDGED",
    "ALARM_CLEARED",
    "ALARM_RAISED",
    "MAINTENANCE_PLANNED",
    "MAINTENANCE_RECOMMENDED",
]

ALARM_RAISED = "AlarmRaised"
ALARM_ACKNOWLEDGED = "AlarmAcknowledged"
ALARM_CLEARED = "AlarmCleared"

MAINTENANCE_RECOMMENDED = "MaintenanceRecommended"
MAINTENANCE_PLANNED = "MaintenancePlanned"
