"""MQTT (3.1.1 and 5): the connector and its parts.

* :mod:`.wire` -- MQTT packets as bytes: splitting a stream, reading PUBLISH packets;
* :mod:`.session` -- one connection: paho run by the asyncio loop, the fast read path;
* :mod:`.connector` -- :class:`MqttConnector`: topics to twins, batches, acknowledgements
  once durable, commands and their replies.

How payloads become readings lives in :mod:`twinworks.connect.mapping` (no MQTT in it).
"""

from twinworks.connect.mqtt.connector import MqttConnector
from twinworks.connect.mqtt.wire import Message

_Message = Message  # the name earlier tests import

__all__ = ["Message", "MqttConnector"]
