"""The audit trail's list of command events agrees with the runtime's event names."""

from __future__ import annotations

from twinworks.runtime import events as ev
from twinworks.security.trail import AUDITED_EVENTS, _audited


def test_audited_events_are_the_runtimes_command_events() -> None:
    commands = {
        ev.DESIRED_PROPERTY_CHANGED,
        ev.COMMAND_SENT,
        ev.COMMAND_ACKNOWLEDGED,
        ev.COMMAND_FAILED,
        ev.COMMAND_REJECTED,
    }
    assert commands == AUDITED_EVENTS
    assert all(_audited(kind) for kind in commands)
    assert not _audited(ev.TELEMETRY_REJECTED)
    assert _audited("ModelActivated") and _audited("ScheduleRevised")
