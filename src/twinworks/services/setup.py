"""Which health services a runtime gets: alarms where declared; tool prognostics in the demo."""

from __future__ import annotations

from twinworks.runtime.service import TwinService
from twinworks.spec.schema import TwinDefinition

__all__ = ["default_services", "demo_services"]


def default_services(definition: TwinDefinition) -> list[TwinService]:
    """The alarm service when any twin type declares alarms."""
    from twinworks.services.alarms.service import AlarmService

    if any(t.alarms for t in definition.types.values()):
        return [AlarmService()]
    return []


def demo_services(definition: TwinDefinition) -> list[TwinService]:
    """Alarms, and tool RUL plus the maintenance plan for the demo cell's CNC machines.

    The tool-wear model of each machine takes its parameters from the machine's
    data sheet, which for the simulated cell are the simulator's presets.
    """
    from twinworks.plant.params import CNC_PRESETS
    from twinworks.services.prognostics.service import PrognosticsService
    from twinworks.services.rul.toolwear import tool_wear_model_for

    machines = {
        twin.id: tool_wear_model_for(CNC_PRESETS[twin.id])
        for twin in definition.twins
        if twin.type == "cnc_machine" and twin.id in CNC_PRESETS
    }
    services = default_services(definition)
    if machines:
        services.append(PrognosticsService(machines))
    return services
