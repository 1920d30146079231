"""Which health services a runtime gets from its twin definition: alarms where declared.

The demo adds tool prognostics with its simulated machines' data sheets; that wiring
is the demo's own (``twinworks.plant.demo_services``), not the product's.
"""

from __future__ import annotations

from twinworks.runtime.service import TwinService
from twinworks.spec.schema import TwinDefinition

__all__ = ["default_services"]


def default_services(definition: TwinDefinition) -> list[TwinService]:
    """The alarm service when any twin type declares alarms."""
    from twinworks.services.alarms.service import AlarmService

    if any(t.alarms for t in definition.types.values()):
        return [AlarmService()]
    return []
