"""Modbus TCP: units behind one server polled for registers and bits, written back.

See :mod:`twinworks.connect.modbus.connector` for the connector,
:mod:`~twinworks.connect.modbus.layout` for how bound values become requests and
values, :mod:`~twinworks.connect.modbus.units` for the health and back-off of each
unit, :mod:`~twinworks.connect.modbus.health` for the events and status it
reports, :mod:`~twinworks.connect.modbus.writes` for what a write sends and
:mod:`~twinworks.connect.modbus.names` for exception codes in words.
"""

from twinworks.connect.modbus.connector import ModbusConnector
from twinworks.connect.modbus.names import exception_name, function_name

__all__ = ["ModbusConnector", "exception_name", "function_name"]
