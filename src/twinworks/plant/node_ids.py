"""OPC UA node ids of the plant server, as the demo cell's twin definition binds them.

The server registers exactly one namespace, so its index is 2 (0 is the OPC UA
namespace, 1 the server's own). Ids are strings ``<twin id>.<signal>``:

>>> node_id("cnc1", "spindle_temperature")
'ns=2;s=cnc1.spindle_temperature'
>>> truth_node_id("cnc1", "tool_wear")
'ns=2;s=truth.cnc1.tool_wear'
>>> endpoint_url("127.0.0.1", 4840)
'opc.tcp://127.0.0.1:4840/twinworks/cell'
"""

from __future__ import annotations

__all__ = [
    "BELT_SPEED_SETPOINT",
    "ENDPOINT_PATH",
    "NAMESPACE_INDEX",
    "NAMESPACE_URI",
    "SHIFT_PARAMETER",
    "TRUTH_FOLDER",
    "endpoint_url",
    "method_node_id",
    "node_id",
    "object_node_id",
    "truth_node_id",
]

NAMESPACE_URI = "urn:twinworks:plant:cell"
NAMESPACE_INDEX = 2
ENDPOINT_PATH = "/twinworks/cell"


def endpoint_url(host: str, port: int) -> str:
    return f"opc.tcp://{host}:{port}{ENDPOINT_PATH}"


def object_node_id(twin_id: str) -> str:
    """The object node of a twin (``ns=2;s=cnc1``): the parent of its methods."""
    return f"ns={NAMESPACE_INDEX};s={twin_id}"


def node_id(twin_id: str, signal: str) -> str:
    """A telemetry (or writable setting) variable of a twin."""
    return f"ns={NAMESPACE_INDEX};s={twin_id}.{signal}"


def method_node_id(twin_id: str, command: str) -> str:
    return f"ns={NAMESPACE_INDEX};s={twin_id}.{command}"


def truth_node_id(twin_id: str, signal: str) -> str:
    """A hidden ground-truth variable; no twin definition binds these."""
    return f"ns={NAMESPACE_INDEX};s=truth.{twin_id}.{signal}"


TRUTH_FOLDER = f"ns={NAMESPACE_INDEX};s=truth"
SHIFT_PARAMETER = f"ns={NAMESPACE_INDEX};s=truth.shift_parameter"
"""Method on the truth folder:
``shift_parameter(twin_id: String, parameter: String, value: Double)``."""
BELT_SPEED_SETPOINT = f"ns={NAMESPACE_INDEX};s=conveyor1.belt_speed_setpoint"
"""The conveyor's writable desired belt speed, m/s (0.05..0.5)."""
