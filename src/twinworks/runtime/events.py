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
    "DEVICE_NOT_RESPONDING",
    "DEVICE_RESPONDING",
    "READ_RECOVERED",
    "READ_REFUSED",
    "RUNTIME_STARTED",
    "RUNTIME_STOPPED",
    "STATE_CHANGED",
    "TELEMETRY_REJECTED",
    "TWIN_REGISTERED",
    "TWIN_UPDATED",
    "UNKNOWN_CODE_RECEIVED",
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

# raised by connectors through their status hook: one device (a Modbus unit) behind a
# connection stopped or resumed answering, a block of it was refused or is answered
# again, a state code outside the declared table arrived (each once, when it starts)
DEVICE_NOT_RESPONDING = "DeviceNotResponding"
DEVICE_RESPONDING = "DeviceResponding"
READ_REFUSED = "ReadRefused"
READ_RECOVERED = "ReadRecovered"
UNKNOWN_CODE_RECEIVED = "UnknownCodeReceived"
