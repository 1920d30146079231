"""Maintenance planning: cost-optimal intervention times and a fleet plan within capacity."""

from twinworks.services.maintenance.planning import (
    FleetPlan,
    Intervention,
    MaintenanceCosts,
    MaintenanceWindow,
    PlannedIntervention,
    cost_rate,
    optimal_intervention,
    plan_fleet,
)

__all__ = [
    "FleetPlan",
    "Intervention",
    "MaintenanceCosts",
    "MaintenanceWindow",
    "PlannedIntervention",
    "cost_rate",
    "optimal_intervention",
    "plan_fleet",
]
