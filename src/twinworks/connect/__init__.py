"""Connections (CN): connectors that bring the physical entity's data in and carry commands out.

Each protocol lives in its own module and registers itself; :func:`connector_class`
finds the class for a connector declared in a twin definition.
"""

import contextlib

from twinworks.connect import modbus as _modbus  # noqa: F401  (registers the protocol)
from twinworks.connect import mqtt as _mqtt  # noqa: F401  (registers the protocol)
from twinworks.connect import opcua as _opcua  # noqa: F401  (registers the protocol)
from twinworks.connect.base import (
    Backoff,
    Connector,
    ConnectorStatus,
    DeadLetterSink,
    IngestSink,
    Origin,
    Reading,
    connector_class,
    register_connector,
)
from twinworks.connect.fake import FakeConnector

with contextlib.suppress(ImportError):  # Sparkplug B needs protobuf (the sparkplug extra)
    from twinworks.connect import sparkplug as _sparkplug  # noqa: F401  (registers it)
from twinworks.connect.modbus import ModbusConnector
from twinworks.connect.mqtt import MqttConnector
from twinworks.connect.opcua import OpcUaConnector

__all__ = [
    "Backoff",
    "Connector",
    "ConnectorStatus",
    "DeadLetterSink",
    "FakeConnector",
    "IngestSink",
    "ModbusConnector",
    "MqttConnector",
    "OpcUaConnector",
    "Origin",
    "Reading",
    "connector_class",
    "register_connector",
]
