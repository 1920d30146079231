"""The OPC UA address space of the plant server, wired to a :class:`MachiningCell`.

Layout (namespace 2, string node ids)::

    Objects/
      cell1                      parts_completed, wip, throughput
        cnc1 .. cnc3             telemetry; feed_override writable; methods
                                 start, stop, change_tool, reset
        conveyor1                telemetry; belt_speed_setpoint writable; methods start, stop
      truth                      hidden ground truth, never bound by a twin definition
        truth.cnc1 .. truth.conveyor1   tool_wear, tool_rul, fault_active, ...
        truth.shift_parameter(twin_id, parameter, value)   drift experiments

Writes of writable settings are validated by value setters: an out-of-range
value is refused with BadOutOfRange and changes nothing. Methods called in a
state that does not allow them return BadInvalidState.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from asyncua import Node, Server, ua
from asyncua.server.address_space import NodeData

from twinworks.errors import RejectedValueError, TwinworksError
from twinworks.plant.cell import MachiningCell, Reading
from twinworks.plant.cnc import COMMANDS as CNC_COMMANDS
from twinworks.plant.conveyor import COMMANDS as CONVEYOR_COMMANDS
from twinworks.plant.errors import CommandRefusedError
from twinworks.plant.node_ids import (
    NAMESPACE_INDEX,
    SHIFT_PARAMETER,
    TRUTH_FOLDER,
    method_node_id,
    node_id,
    object_node_id,
    truth_node_id,
)
from twinworks.plant.signals import (
    CELL_ID,
    CELL_TELEMETRY,
    CNC_TELEMETRY,
    CNC_TRUTH,
    CONVEYOR_ID,
    CONVEYOR_TELEMETRY,
    CONVEYOR_TRUTH,
    MACHINE_IDS,
    Signal,
)

__all__ = ["PlantVariable", "build_address_space", "ua_time"]

_log = logging.getLogger(__name__)

VARIANT_TYPES: dict[str, ua.VariantType] = {
    "float": ua.VariantType.Double,
    "int": ua.VariantType.Int64,
    "bool": ua.VariantType.Boolean,
    "string": ua.VariantType.String,
}


@dataclass(frozen=True)
class PlantVariable:
    """A variable the server publishes: where its value comes from and how it is typed."""

    node_id: ua.NodeId
    variant_type: ua.VariantType
    twin_id: str
    signal: str
    truth: bool
    live: Callable[[], Reading] | None = None
    """For writable settings: read the current value at publish time, so that a write a
    client makes while a publish is under way is never overwritten by an older snapshot."""


async def build_address_space(
    server: Server, cell: MachiningCell, on_change: Callable[[], None]
) -> list[PlantVariable]:
    """Create all nodes for ``cell`` on ``server`` (its namespace already registered as
    index 2) and return the variables to publish. ``on_change`` is called after a method
    changed the cell, so the server can publish the new state without waiting for a step."""
    build = _Builder(server, cell, on_change)
    cell_obj = await build.object(server.nodes.objects, CELL_ID)
    await build.telemetry(cell_obj, CELL_ID, CELL_TELEMETRY)

    for mid in MACHINE_IDS:
        obj = await build.object(cell_obj, mid)
        await build.telemetry(obj, mid, CNC_TELEMETRY, writable=_feed_override(cell, mid))
        await build.commands(obj, mid, CNC_COMMANDS)

    belt = await build.object(cell_obj, CONVEYOR_ID)
    setpoint = _Writable(
        Signal("belt_speed_setpoint", "float", "m/s", "desired belt speed; writable, 0.05..0.5"),
        lambda: cell.belt_speed_setpoint_m_s,
        cell.set_belt_speed_setpoint,
    )
    await build.telemetry(belt, CONVEYOR_ID, CONVEYOR_TELEMETRY, writable=setpoint)
    await build.commands(belt, CONVEYOR_ID, CONVEYOR_COMMANDS)

    folder = await server.nodes.objects.add_folder(
        ua.NodeId.from_string(TRUTH_FOLDER), ua.QualifiedName("truth", NAMESPACE_INDEX)
    )
    for twin_id, signals in [(m, CNC_TRUTH) for m in MACHINE_IDS] + [(CONVEYOR_ID, CONVEYOR_TRUTH)]:
        sub = await folder.add_folder(
            ua.NodeId.from_string(f"{TRUTH_FOLDER}.{twin_id}"),
            ua.QualifiedName(twin_id, NAMESPACE_INDEX),
        )
        await build.truth(sub, twin_id, signals)
    await _add_method(
        folder,
        SHIFT_PARAMETER,
        "shift_parameter",
        _shift_method(cell, on_change),
        [
            _argument("twin_id", ua.ObjectIds.String, "cnc1, cnc2, cnc3 or conveyor1"),
            _argument("parameter", ua.ObjectIds.String, "a field of CncParams / ConveyorParams"),
            _argument("value", ua.ObjectIds.Double, "new value, in the parameter's unit"),
        ],
    )
    return build.variables


@dataclass(frozen=True)
class _Writable:
    """A setting clients may write: how to read it and how to apply a written value."""

    signal: Signal
    get: Callable[[], Reading]
    apply: Callable[[float], None]


def _feed_override(cell: MachiningCell, machine_id: str) -> _Writable:
    (signal,) = [s for s in CNC_TELEMETRY if s.name == "feed_override"]
    return _Writable(
        signal,
        lambda: cell.feed_override(machine_id),
        lambda percent: cell.set_feed_override(machine_id, percent),
    )


class _Builder:
    """Adds nodes for one cell and remembers every variable to publish."""

    def __init__(self, server: Server, cell: MachiningCell, on_change: Callable[[], None]) -> None:
        self.server = server
        self.cell = cell
        self.on_change = on_change
        self.variables: list[PlantVariable] = []
        self._seen = cell.measurements()
        self._truth = cell.truth()

    async def object(self, parent: Node, twin_id: str) -> Node:
        return await parent.add_object(
            ua.NodeId.from_string(object_node_id(twin_id)),
            ua.QualifiedName(twin_id, NAMESPACE_INDEX),
        )

    async def telemetry(
        self,
        parent: Node,
        twin_id: str,
        signals: tuple[Signal, ...],
        *,
        writable: _Writable | None = None,
    ) -> None:
        """Read-only telemetry, plus one writable setting (which may also be telemetry,
        as feed_override is: the same node is the desired and the reported value)."""
        extra = (writable.signal,) if writable and writable.signal not in signals else ()
        for signal in signals + extra:
            nid = node_id(twin_id, signal.name)
            if writable is not None and signal == writable.signal:
                node = await _add_variable(parent, nid, signal, writable.get(), writable=True)
                self.server.set_attribute_value_setter(node, _setter(self.cell, writable.apply))
                self._remember(node, twin_id, signal, live=writable.get)
            else:
                value = self._seen[twin_id][signal.name]
                node = await _add_variable(parent, nid, signal, value)
                self._remember(node, twin_id, signal)

    async def truth(self, parent: Node, twin_id: str, signals: tuple[Signal, ...]) -> None:
        for signal in signals:
            value = self._truth[twin_id][signal.name]
            node = await _add_variable(parent, truth_node_id(twin_id, signal.name), signal, value)
            self._remember(node, twin_id, signal, truth=True)

    async def commands(self, parent: Node, twin_id: str, commands: tuple[str, ...]) -> None:
        for command in commands:
            method = _command_method(self.cell, twin_id, command, self.on_change)
            await _add_method(parent, method_node_id(twin_id, command), command, method)

    def _remember(
        self,
        node: ua.NodeId,
        twin_id: str,
        signal: Signal,
        *,
        truth: bool = False,
        live: Callable[[], Reading] | None = None,
    ) -> None:
        vtype = VARIANT_TYPES[signal.dtype]
        self.variables.append(PlantVariable(node, vtype, twin_id, signal.name, truth, live))


async def _add_method(
    parent: Node,
    nid: str,
    name: str,
    func: Callable[..., Awaitable[list[ua.Variant] | ua.StatusCode]],
    inputs: list[ua.Argument] | None = None,
) -> None:
    await parent.add_method(
        ua.NodeId.from_string(nid), ua.QualifiedName(name, NAMESPACE_INDEX), func, inputs or [], []
    )


def _argument(name: str, data_type: int, description: str) -> ua.Argument:
    return ua.Argument(
        Name=name,
        DataType=ua.NodeId(ua.Int32(data_type)),
        ValueRank=-1,
        Description=ua.LocalizedText(description),
    )


def _shift_method(
    cell: MachiningCell, on_change: Callable[[], None]
) -> Callable[..., Awaitable[list[ua.Variant] | ua.StatusCode]]:
    async def shift(
        parent: ua.NodeId, twin_id: ua.Variant, parameter: ua.Variant, value: ua.Variant
    ) -> list[ua.Variant] | ua.StatusCode:
        try:
            cell.shift_parameters(str(twin_id.Value), **{str(parameter.Value): float(value.Value)})
        except (TwinworksError, ValueError, TypeError) as exc:
            _log.warning("shift_parameter refused: %s", exc)
            return _status(ua.StatusCodes.BadInvalidArgument)
        _log.info("shifted %s.%s to %s", twin_id.Value, parameter.Value, value.Value)
        on_change()
        return []

    return shift


def ua_time(posix_s: float | None = None) -> ua.DateTime:
    """An OPC UA timestamp (UTC) for a POSIX time; now if none is given."""
    return ua.DateTime.fromtimestamp(time.time() if posix_s is None else posix_s, UTC)


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


def _description(signal: Signal) -> str:
    return f"{signal.description} [{signal.unit}]" if signal.unit else signal.description


async def _add_variable(
    parent: Node, nid: str, signal: Signal, value: Reading, *, writable: bool = False
) -> ua.NodeId:
    """A typed variable with its unit in the description; read-only unless ``writable``."""
    vtype = VARIANT_TYPES[signal.dtype]
    browse_name = ua.QualifiedName(signal.name, NAMESPACE_INDEX)
    node = await parent.add_variable(ua.NodeId.from_string(nid), browse_name, value, vtype)
    await node.write_attribute(
        ua.AttributeIds.Description,
        ua.DataValue(ua.Variant(ua.LocalizedText(_description(signal)))),
    )
    if writable:
        await node.set_writable()
    return node.nodeid


def _setter(
    cell: MachiningCell, apply: Callable[[float], None]
) -> Callable[[NodeData, ua.AttributeIds, ua.DataValue], None]:
    """A value setter that validates a client's write before anything changes."""

    def setter(node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
        raw: Any = value.Value.Value if value.Value is not None else None
        if not isinstance(raw, float):
            raise ua.UaStatusCodeError(ua.StatusCodes.BadTypeMismatch)
        try:
            apply(raw)
        except RejectedValueError as exc:
            _log.warning("write refused: %s", exc)
            # raising is how a value setter refuses: the client's write fails with this code
            raise ua.UaStatusCodeError(ua.StatusCodes.BadOutOfRange) from exc
        # the setting took effect at the plant's current time, not the client's
        node.attributes[attr].value = ua.DataValue(
            ua.Variant(raw, ua.VariantType.Double),
            SourceTimestamp=ua_time(cell.time_s),
            ServerTimestamp=ua_time(),
        )

    return setter


def _command_method(
    cell: MachiningCell, twin_id: str, command: str, on_change: Callable[[], None]
) -> Callable[[ua.NodeId], Awaitable[list[ua.Variant] | ua.StatusCode]]:
    # async, so that asyncua runs it on the event loop that owns the cell, not in a thread
    async def method(parent: ua.NodeId) -> list[ua.Variant] | ua.StatusCode:
        try:
            cell.command(twin_id, command)
        except CommandRefusedError as exc:
            _log.info("command refused: %s", exc)
            return _status(ua.StatusCodes.BadInvalidState)
        _log.info("%s.%s() done", twin_id, command)
        on_change()
        return []

    return method
