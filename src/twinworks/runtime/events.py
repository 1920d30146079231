"""Names of the events the runtime records, in the past tense (see Eclipse Ditto).

Commands are verbs (``set_desired``, ``call_command``); what they cause is an event
(``DesiredPropertyChanged``, then ``CommandAcknowledged`` or ``CommandFailed``).
Events are stored in the twin store's event log and published on the live stream.
"""

from __future__ import annotations

__all__ = [
    "COMMAND_ACKNOWLEDGED",
    "COMMAND_FAILED",
    "COMMAND_REJECTED",
    "COMMAND_SENT",
    "CONNECTOR_CONNECTED",
    "CONNECTOR_DISCONNECTED",
    "DEFINITION_LOADED",
    "DESIRED_PROPERTY_CHANGED",
    "RUNTIME_STARTED",
    "RUNTIME_STOPPED",
    "STATE_CHANGED",
    "TELEMETRY_REJECTED",
    "TWIN_REGISTERED",
    "TWIN_UPDATED",
]

DEFINITION_LOADED = "DefinitionLoaded"
TWIN_REGISTERED = "TwinRegistered"
TWIN_UPDATED = "TwinUpdated"
RUNTIME_STARTED = "RuntimeStarted"
RUNTIME_STOPPED = "RuntimeStopped"

TELEMETRY_REJECTED = "TelemetryRejected"
STATE_CHANGED = "StateChanged"

DESIRED_PROPERTY_CHANGED = "DesiredPropertyChanged"
COMMAND_SENT = "CommandSent"
COMMAND_ACKNOWLEDGED = "CommandAcknowledged"
COMMAND_FAILED = "CommandFailed"
COMMAND_REJECTED = "CommandRejected"

CONNECTOR_CONNECTED = "ConnectorConnected"
CONNECTOR_DISCONNECTED = "ConnectorDisconnected"
