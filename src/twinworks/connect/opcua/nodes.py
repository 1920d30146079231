"""Node ids against a live server: namespaces, data types, enumeration names.

``nsu=`` ids are resolved through the server's namespace array each time we
connect, and node ids are shown back in the ``nsu=`` form, which survives a server
update that renumbers the namespaces.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from asyncua import Node, ua
from asyncua.common.ua_utils import data_type_to_variant_type

from twinworks.spec.nodeids import ParsedNodeId

__all__ = ["enum_names", "is_integer_node", "resolve", "to_expanded", "variant_type_of"]

log = logging.getLogger(__name__)

_KINDS = {
    "i": ua.NodeIdType.Numeric,
    "s": ua.NodeIdType.String,
    "g": ua.NodeIdType.Guid,
    "b": ua.NodeIdType.ByteString,
}
_LETTER = {
    ua.NodeIdType.TwoByte: "i",
    ua.NodeIdType.FourByte: "i",
    ua.NodeIdType.Numeric: "i",
    ua.NodeIdType.String: "s",
    ua.NodeIdType.Guid: "g",
    ua.NodeIdType.ByteString: "b",
}


def resolve(parsed: ParsedNodeId, namespaces: list[str]) -> ua.NodeId:
    """The node id on this server; raises LookupError for a namespace URI it does not have."""
    index = parsed.namespace_index
    if parsed.namespace_uri is not None:
        try:
            index = namespaces.index(parsed.namespace_uri)
        except ValueError:
            raise LookupError(
                f"namespace {parsed.namespace_uri!r} is not on the server; it has: "
                + ", ".join(namespaces)
            ) from None
    assert index is not None
    ident: Any = parsed.identifier
    # numeric ids: let asyncua pick the compact encoding, as the server's own ids have
    if parsed.kind == "i":
        return ua.NodeId(ident, ua.Int16(index))
    return ua.NodeId(ident, ua.Int16(index), _KINDS[parsed.kind])


def to_expanded(node_id: ua.NodeId, namespaces: list[str]) -> str:
    """``nsu=<uri>;s=<id>`` (namespace 0 as ``i=85``): the form that survives renumbering."""
    letter = _LETTER.get(node_id.NodeIdType, "s")
    raw: Any = node_id.Identifier
    ident = base64.b64encode(raw).decode() if letter == "b" else str(raw)
    if node_id.NamespaceIndex == 0:
        return f"{letter}={ident}"
    if node_id.NamespaceIndex < len(namespaces):
        return f"nsu={namespaces[node_id.NamespaceIndex]};{letter}={ident}"
    return f"ns={node_id.NamespaceIndex};{letter}={ident}"


async def variant_type_of(node: Node, data_type: ua.NodeId | None = None) -> ua.VariantType:
    """The variant type a value of ``node`` (or of ``data_type``) is encoded with.

    Derived types (an enumeration, Duration, a vendor's subtype of Double) are
    followed to the built-in type they are sent as.
    """
    if data_type is None:
        data_type = await node.read_data_type()
    if data_type.NamespaceIndex == 0 and isinstance(data_type.Identifier, int):
        try:
            vtype = ua.VariantType(data_type.Identifier)
        except ValueError:
            vtype = None
        if vtype is not None and data_type.Identifier <= 25 and vtype is not ua.VariantType.Variant:
            return vtype
    return await data_type_to_variant_type(Node(node.session, data_type))


async def enum_names(node: Node) -> dict[int, str] | None:
    """The names of an enumeration node's codes (EnumStrings or EnumValues), or None."""
    holders = [node]
    try:
        data_type = await node.read_data_type()
        holders.append(Node(node.session, data_type))
    except ua.UaStatusCodeError:
        pass
    for holder in holders:
        for prop in ("0:EnumStrings", "0:EnumValues"):
            try:
                value = await (await holder.get_child(prop)).read_value()
            except ua.UaStatusCodeError:
                continue
            if prop == "0:EnumStrings":
                return {i: (t.Text or str(i)) for i, t in enumerate(value)}
            return {int(v.Value): (v.DisplayName.Text or str(v.Value)) for v in value}
    return None


async def is_integer_node(node: Node) -> bool:
    """Whether a node's values are integers, i.e. it may be an enumeration worth asking about."""
    try:
        vtype = await variant_type_of(node)
    except (ua.UaStatusCodeError, ValueError):
        return False  # an unresolved node is reported by the subscription
    return vtype.name in _INTEGER_TYPES


_INTEGER_TYPES = {"SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"}
