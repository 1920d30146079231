"""A first twin definition from an OPC UA object: a starting point to edit, not a guess to trust.

From the nodes :func:`~twinworks.connect.opcua.browse.browse` found below an object:

* every readable variable becomes telemetry, with its dtype (numbers → float or int,
  Boolean → bool, String → string, DateTime → float epoch seconds, an enumeration →
  string with its names as ``values``), its unit from EngineeringUnits (when it is
  a unit twinworks knows) and min/max from EURange; an array gives one signal per
  element (``index:``);
* every writable variable also becomes a desired setting with the same limits,
  reported by its telemetry signal;
* every method becomes a command with typed arguments (integer arguments get the
  range of their OPC UA type as min/max).

Bindings use the ``nsu=`` form of node ids. The result passes ``twinworks validate``.
"""

from __future__ import annotations

import re
from typing import Any

from twinworks.connect.opcua.browse import BrowsedNode
from twinworks.spec.units import UnitError, check_unit

__all__ = ["scaffold_definition", "signal_name"]

_FLOAT = {"Float", "Double"}
_INT_LIMITS = {
    "SByte": (-(2**7), 2**7 - 1),
    "Byte": (0, 2**8 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "UInt16": (0, 2**16 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "UInt32": (0, 2**32 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt64": (0, 2**64 - 1),
}
# engineering-unit display names that are not pint's spelling
_UNIT_ALIASES = {"°C": "degC", "°F": "degF", "%": "percent", "rpm": "1/min", "U/min": "1/min"}


def signal_name(text: str) -> str:
    """A browse name as a twinworks name: ``SpeedSetpoint`` → ``speed_setpoint``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    if not text or not text[0].isalpha():
        text = "n_" + text
    return text[:128]


def _unit(node: BrowsedNode) -> str | None:
    if not node.unit:
        return None
    candidate = _UNIT_ALIASES.get(node.unit, node.unit)
    try:
        check_unit(candidate)
    except UnitError:
        return None  # kept in the description instead; the user picks the unit
    return candidate


def _value_spec(node: BrowsedNode) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    vtype = node.variant_type or ""
    if node.enum:
        spec["dtype"] = "string"
        spec["values"] = [node.enum[k] for k in sorted(node.enum)]
    elif node.data_type == "DateTime" or vtype == "DateTime":
        spec["unit"] = "s"
        spec["description"] = "epoch seconds (UTC)"
    elif vtype in _INT_LIMITS:
        spec["dtype"] = "int"
    elif vtype == "Boolean":
        spec["dtype"] = "bool"
    elif vtype in ("String", "LocalizedText"):
        spec["dtype"] = "string"
    unit = _unit(node)
    if unit is not None:
        spec["unit"] = unit
    elif node.unit:
        spec["description"] = f"in {node.unit}"
    if node.eu_range is not None and spec.get("dtype", "float") in ("float", "int"):
        spec["min"], spec["max"] = node.eu_range
    if node.description and node.description != node.name and "description" not in spec:
        spec["description"] = node.description
    return spec


def _names(nodes: list[BrowsedNode]) -> dict[int, str]:
    """Unique signal names: the browse path below the object, joined by underscores."""
    used: set[str] = set()
    out: dict[int, str] = {}
    for i, node in enumerate(nodes):
        base = signal_name("_".join(node.path[1:]) if len(node.path) > 1 else node.name)
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out[i] = name
    return out


def scaffold_definition(
    endpoint: str,
    obj: BrowsedNode,
    below: list[BrowsedNode],
    *,
    connector: str = "opcua",
    twin_id: str | None = None,
    type_name: str | None = None,
) -> dict[str, Any]:
    """A definition (as plain data, ready for YAML) with one type and one twin for ``obj``."""
    twin_id = twin_id or signal_name(obj.name)
    type_name = type_name or twin_id + "_type"
    variables = [n for n in below if n.node_class == "Variable" and n.readable]
    methods = [n for n in below if n.node_class == "Method"]
    names = _names(variables)
    telemetry: dict[str, Any] = {}
    bound: dict[str, Any] = {}
    desired: dict[str, Any] = {}
    bound_desired: dict[str, str] = {}
    for i, node in enumerate(variables):
        name, spec = names[i], _value_spec(node)
        if node.array:
            for k in range(node.array):
                telemetry[f"{name}_{k}"] = dict(spec)  # copies: YAML would write anchors
                bound[f"{name}_{k}"] = {"node": node.node_id, "index": k}
            continue
        telemetry[name] = spec
        bound[name] = node.node_id
        if node.writable:
            desired[name] = {**spec, "reported_by": name}
            bound_desired[name] = node.node_id
    commands: dict[str, Any] = {}
    bound_commands: dict[str, Any] = {}
    for method in methods:
        args: dict[str, Any] = {}
        for arg, type_ in method.arguments:
            arg_spec: dict[str, Any] = {}
            if type_ in _INT_LIMITS:
                arg_spec["dtype"] = "int"
                arg_spec["min"], arg_spec["max"] = _INT_LIMITS[type_]
            elif type_ == "Boolean":
                arg_spec["dtype"] = "bool"
            elif type_ in ("String", "LocalizedText"):
                arg_spec["dtype"] = "string"
            args[signal_name(arg)] = arg_spec
        cname = signal_name(method.name)
        commands[cname] = {"args": args} if args else {}
        if method.description and method.description != method.name:
            commands[cname]["description"] = method.description
        bound_commands[cname] = {"object": obj.node_id, "method": method.node_id}
    binding: dict[str, Any] = {"connector": connector, "telemetry": bound}
    if bound_desired:
        binding["desired"] = bound_desired
    if bound_commands:
        binding["commands"] = bound_commands
    ttype: dict[str, Any] = {"telemetry": telemetry}
    if desired:
        ttype["desired"] = desired
    if commands:
        ttype["commands"] = commands
    return {
        "version": 1,
        "name": twin_id,
        "description": f"scaffolded from {obj.node_id} on {endpoint}; review before use",
        "connectors": {connector: {"protocol": "opcua", "endpoint": endpoint}},
        "types": {type_name: ttype},
        "twins": [{"id": twin_id, "type": type_name, "bindings": [binding]}],
    }
