"""Browsing a server's address space: what a plant engineer needs to write bindings.

:func:`browse` walks the hierarchy below a node (Objects by default) and describes
each object, variable and method: its browse name, its node id in the ``nsu=`` form
(robust against renumbered namespaces), a variable's data type, array size,
access level, engineering unit, EURange and enumeration names, and a method's
typed input arguments. Properties (EURange, EnumStrings, ...) are folded into the
node they describe rather than listed on their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from asyncua import Client, Node, ua

from twinworks.connect.opcua.nodes import enum_names, to_expanded, variant_type_of

__all__ = ["BrowsedNode", "browse", "connect_for_browsing"]

log = logging.getLogger(__name__)

_HAS_PROPERTY = ua.NodeId(ua.Int32(ua.ObjectIds.HasProperty))


@dataclass
class BrowsedNode:
    """One node of the address space, as :func:`browse` found it."""

    name: str  # browse name, without its namespace index
    node_id: str  # nsu= form
    node_class: str  # Object, Variable, Method
    depth: int
    path: list[str] = field(default_factory=list)  # browse names from the start node down
    data_type: str | None = None  # Double, Int16, DateTime, Mode (an enumeration), ...
    variant_type: str | None = None  # what values are sent as: Int32 for an enumeration
    array: int | None = None  # number of elements of an array value
    readable: bool = False
    writable: bool = False
    unit: str | None = None  # EngineeringUnits' display name
    eu_range: tuple[float, float] | None = None
    enum: dict[int, str] | None = None
    arguments: list[tuple[str, str]] = field(default_factory=list)  # methods: (name, type)
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v not in (None, [], "", False)}
        if self.eu_range is not None:
            out["eu_range"] = list(self.eu_range)
        return out


async def connect_for_browsing(endpoint: str, timeout: float = 5.0) -> Client:
    """An anonymous, unsecured client (what browsing a test or commissioning server needs)."""
    client = Client(endpoint, timeout=timeout)
    await client.connect()
    return client


async def _property(node: Node, name: str) -> Any:
    try:
        return await (await node.get_child(f"0:{name}")).read_value()
    except ua.UaStatusCodeError:
        return None


async def _describe_variable(entry: BrowsedNode, node: Node) -> None:
    data_type = await node.read_data_type()
    try:
        entry.data_type = (await Node(node.session, data_type).read_browse_name()).Name
    except ua.UaStatusCodeError:
        entry.data_type = data_type.to_string()
    try:
        entry.variant_type = (await variant_type_of(node, data_type)).name
    except (ua.UaStatusCodeError, ValueError):
        entry.variant_type = None
    access = await node.read_attribute(ua.AttributeIds.UserAccessLevel)
    level = access.Value.Value if access.Value is not None else 0
    entry.readable = bool(level & ua.AccessLevel.CurrentRead.mask)
    entry.writable = bool(level & ua.AccessLevel.CurrentWrite.mask)
    try:
        value = await node.read_value()
    except ua.UaStatusCodeError:
        value = None
    if isinstance(value, list):
        entry.array = len(value)
    units = await _property(node, "EngineeringUnits")
    if units is not None and getattr(units, "DisplayName", None) is not None:
        entry.unit = units.DisplayName.Text
    eu_range = await _property(node, "EURange")
    if eu_range is not None and hasattr(eu_range, "Low"):
        entry.eu_range = (float(eu_range.Low), float(eu_range.High))
    if entry.variant_type == "Int32" or data_type == ua.NodeId(ua.Int32(ua.ObjectIds.Enumeration)):
        entry.enum = await enum_names(node)


async def _describe_method(entry: BrowsedNode, node: Node) -> None:
    for arg in await _property(node, "InputArguments") or []:
        try:
            name = (await Node(node.session, arg.DataType).read_browse_name()).Name
        except ua.UaStatusCodeError:
            name = arg.DataType.to_string()
        entry.arguments.append((arg.Name, name))


async def browse(
    client: Client, start: ua.NodeId | None = None, depth: int = 4
) -> list[BrowsedNode]:
    """Objects, variables and methods below ``start`` (default: Objects), depth-first."""
    namespaces = await client.get_namespace_array()
    root = client.get_node(start or ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)))
    found: list[BrowsedNode] = []

    async def walk(node: Node, level: int, path: list[str]) -> None:
        if level > depth:
            return
        refs = await node.get_references(
            refs=ua.ObjectIds.HierarchicalReferences, direction=ua.BrowseDirection.Forward
        )
        for ref in refs:
            if ref.ReferenceTypeId == _HAS_PROPERTY:
                continue  # described with its node
            if ref.NodeId.NamespaceIndex == 0 and start is None:
                continue  # the server's own Server object and type system
            child = client.get_node(ref.NodeId)
            cls = ref.NodeClass
            if cls not in (ua.NodeClass.Object, ua.NodeClass.Variable, ua.NodeClass.Method):
                continue
            name = ref.BrowseName.Name
            entry = BrowsedNode(
                name=name,
                node_id=to_expanded(ref.NodeId, namespaces),
                node_class=cls.name,
                depth=level,
                path=[*path, name],
            )
            description = await child.read_attribute(ua.AttributeIds.Description)
            text = description.Value.Value if description.Value is not None else None
            entry.description = getattr(text, "Text", None) or ""
            if cls == ua.NodeClass.Variable:
                await _describe_variable(entry, child)
            elif cls == ua.NodeClass.Method:
                await _describe_method(entry, child)
            found.append(entry)
            if cls != ua.NodeClass.Method:
                await walk(child, level + 1, entry.path)

    await walk(root, 0, [])
    return found
