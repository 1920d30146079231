"""Sparkplug B over MQTT: a host application connector and discovery of edge nodes.

See :mod:`twinworks.connect.sparkplug.connector` for the protocol rules the host
follows, :mod:`~twinworks.connect.sparkplug.payload` for the payload schema and
:mod:`~twinworks.connect.sparkplug.discovery` for writing a twin definition from
the births a broker carries.
"""

from twinworks.connect.sparkplug.connector import REBIRTH_METRIC, SparkplugConnector
from twinworks.connect.sparkplug.payload import PayloadError, decode, encode

__all__ = ["REBIRTH_METRIC", "PayloadError", "SparkplugConnector", "decode", "encode"]
