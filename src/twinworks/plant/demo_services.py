"""The demo's health services: the simulated machines' data sheets given to product models.

A real plant states its machines' tool data (Taylor life, exponents, wear limit,
vibration signature) on their data sheets; the simulated cell's data sheets are its
presets. Here they become the parameters of the model catalog's
:class:`~twinworks.models.ToolLife`, and the demo command runs the product's
:class:`~twinworks.services.prognostics.PrognosticsService` with them. This wiring
lives on the plant's side so that no product code reads the simulator.
"""

from __future__ import annotations

from twinworks.models.catalog.machining import ToolLife
from twinworks.plant.params import CNC_PRESETS, CncParams
from twinworks.runtime.service import TwinService
from twinworks.services.prognostics.service import PrognosticsService
from twinworks.services.setup import default_services
from twinworks.spec.schema import TwinDefinition

__all__ = ["demo_services", "tool_life_model"]


def tool_life_model(machine: CncParams[float]) -> ToolLife:
    """The tool-life model of a simulated machine, its data sheet as parameters."""
    return ToolLife(
        tool_life_s=float(machine.tool_life_s),
        reference_speed_rpm=float(machine.reference_spindle_speed_rpm),
        taylor_n=float(machine.taylor_n),
        feed_exponent=float(machine.taylor_feed_exponent),
        wear_multiplier_sigma=float(machine.wear_multiplier_sigma),
        wear_reference_mm=float(machine.wear_reference_mm),
        wear_limit_mm=float(machine.tool_change_wear_mm),
        idle_vibration_mm_s=float(machine.idle_vibration_mm_s),
        cutting_vibration_mm_s=float(machine.cutting_vibration_mm_s),
        vibration_wear_gain=float(machine.vibration_wear_gain_mm_s),
        vibration_noise_mm_s=float(machine.vibration_noise_mm_s),
    )


def demo_services(definition: TwinDefinition) -> list[TwinService]:
    """Alarms, and tool RUL plus the maintenance plan for the demo cell's CNC machines."""
    machines = {
        twin.id: tool_life_model(CNC_PRESETS[twin.id])
        for twin in definition.twins
        if twin.type == "cnc_machine" and twin.id in CNC_PRESETS
    }
    services = default_services(definition)
    if machines:
        services.append(PrognosticsService(machines))
    return services
