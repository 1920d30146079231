"""Cross-reference checks on a parsed definition.

The schema checks each part on its own; this module checks that the parts agree:
twins use declared types, bindings name declared connectors and signals, units
exist, relationships point to twins of the allowed types, and ``partOf`` has no
cycles. Every problem is collected, so one run lists them all.
"""

from __future__ import annotations

from typing import Any

from twinworks.spec.alarms import check_alarms
from twinworks.spec.model_check import check_model_bindings
from twinworks.spec.mqtt_check import check_mqtt_bindings
from twinworks.spec.opcua_check import check_opcua_bindings
from twinworks.spec.production import check_production
from twinworks.spec.schema import (
    ModbusBinding,
    ModbusConnectorSpec,
    MqttBinding,
    MqttConnectorSpec,
    OpcUaBinding,
    OpcUaConnectorSpec,
    SparkplugBinding,
    SparkplugConnectorSpec,
    TwinDefinition,
    TwinTypeSpec,
    _Ranged,
)
from twinworks.spec.status_policy import check_status_policy
from twinworks.spec.units import UnitError, check_unit

__all__ = ["Problem", "check_definition", "check_value"]

Problem = tuple[tuple[str | int, ...], str, str | None]

# which binding class goes with which connector protocol
_BINDING_FOR: dict[type, type] = {
    OpcUaConnectorSpec: OpcUaBinding,
    MqttConnectorSpec: MqttBinding,
    ModbusConnectorSpec: ModbusBinding,
    SparkplugConnectorSpec: SparkplugBinding,
}


def _choices(names: Any) -> str:
    names = sorted(names)
    return "one of: " + ", ".join(names) if names else "a declared one (none are declared)"


def _modbus_kinds(binding: ModbusBinding, ttype: Any, base: tuple[str | int, ...]) -> list[Problem]:
    """Registers whose kind cannot carry the signal's dtype (text into a number, ...)."""
    found: list[Problem] = []
    for group, declared in (("telemetry", ttype.telemetry), ("desired", ttype.desired)):
        for name, reg in getattr(binding, group).items():
            spec = declared.get(name)
            if spec is None:
                continue
            wanted: tuple[str, ...]
            if reg.enum is not None or reg.type == "string":
                gives, wanted = "string", ("string",)
            elif reg.is_bit or reg.type == "bool":
                gives, wanted = "bool", ("bool",)
            else:
                gives, wanted = "number", ("float", "int")
            if spec.dtype not in wanted:
                what = "a state table (enum)" if reg.enum is not None else f"a {reg.table}"
                if not reg.is_bit and reg.enum is None:
                    what = f"a {reg.type} register"
                found.append(
                    (
                        (*base, group, name),
                        f"{what} gives a {gives}, but {name!r} is declared dtype {spec.dtype}",
                        " or ".join(f"dtype: {w}" for w in wanted) + f" for {name!r}",
                    )
                )
    return found


def check_value(spec: _Ranged, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec`` (dtype, range, allowed values), or None."""
    if spec.dtype == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif spec.dtype == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.dtype == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        return f"{value!r} is not a {spec.dtype}"
    if spec.values is not None and value not in spec.values:
        return f"{value!r} is not one of {spec.values}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value:
            return "NaN is not a value"
        if spec.min is not None and value < spec.min:
            return f"{value} is below the minimum {spec.min}"
        if spec.max is not None and value > spec.max:
            return f"{value} is above the maximum {spec.max}"
    return None


def _check_units(ttype: TwinTypeSpec, base: tuple[str | int, ...]) -> list[Problem]:
    problems: list[Problem] = []
    groups: dict[str, dict[str, Any]] = {
        "properties": ttype.properties,
        "telemetry": ttype.telemetry,
        "desired": ttype.desired,
    }
    for group, items in groups.items():
        for name, item in items.items():
            if item.unit is not None:
                try:
                    check_unit(item.unit)
                except UnitError as exc:
                    problems.append(
                        ((*base, group, name, "unit"), str(exc), "a unit such as degC, kW, mm/s")
                    )
    for cname, command in ttype.commands.items():
        for aname, arg in command.args.items():
            if arg.unit is not None:
                try:
                    check_unit(arg.unit)
                except UnitError as exc:
                    problems.append(
                        ((*base, "commands", cname, "args", aname, "unit"), str(exc), None)
                    )
    for dname, desired in ttype.desired.items():
        if desired.reported_by is not None and desired.reported_by not in ttype.telemetry:
            problems.append(
                (
                    (*base, "desired", dname, "reported_by"),
                    f"no telemetry signal {desired.reported_by!r}",
                    _choices(ttype.telemetry),
                )
            )
    # allowed_states name values of the status signal: the policy's, else 'state'
    policy = ttype.status_policy()
    state_name = policy.signal if policy is not None else "state"
    state = ttype.telemetry.get(state_name)
    for cname, command in ttype.commands.items():
        if command.allowed_states is None:
            continue
        if state is None or state.values is None:
            problems.append(
                (
                    (*base, "commands", cname, "allowed_states"),
                    f"allowed_states needs a {state_name!r} telemetry signal with declared values",
                    f"telemetry: {{{state_name}: {{dtype: string, values: [...]}}}}",
                )
            )
            continue
        for s in command.allowed_states:
            if s not in state.values:
                problems.append(
                    (
                        (*base, "commands", cname, "allowed_states"),
                        f"{s!r} is not a value of the {state_name!r} signal",
                        _choices(state.values),
                    )
                )
    return problems


def check_definition(definition: TwinDefinition) -> list[Problem]:
    problems: list[Problem] = []
    types = definition.types
    for tname, declared in types.items():
        problems += _check_units(declared, ("types", tname))
        problems += check_alarms(declared, ("types", tname))
        problems += check_status_policy(declared, ("types", tname))
        for rname, relspec in declared.relationships.items():
            for target in relspec.target:
                if target not in types:
                    problems.append(
                        (
                            ("types", tname, "relationships", rname, "target"),
                            f"unknown twin type {target!r}",
                            _choices(types),
                        )
                    )

    seen: dict[str, int] = {}
    for index, twin in enumerate(definition.twins):
        if twin.id in seen:
            problems.append(
                (
                    ("twins", index, "id"),
                    f"twin id {twin.id!r} is already used by twins[{seen[twin.id]}]",
                    "unique twin ids",
                )
            )
        else:
            seen[twin.id] = index

    twin_types = {t.id: t.type for t in definition.twins}
    for index, twin in enumerate(definition.twins):
        base: tuple[str | int, ...] = ("twins", index)
        ttype = types.get(twin.type)
        if ttype is None:
            problems.append(((*base, "type"), f"unknown twin type {twin.type!r}", _choices(types)))
            continue
        for key, value in twin.attributes.items():
            prop = ttype.properties.get(key)
            if prop is None:
                problems.append(
                    (
                        (*base, "attributes", key),
                        f"type {twin.type!r} declares no property {key!r}",
                        _choices(ttype.properties),
                    )
                )
                continue
            why = check_value(prop, value)
            if why:
                problems.append(((*base, "attributes", key), why, None))
        for pname, prop in ttype.properties.items():
            if prop.required and pname not in twin.attributes and prop.default is None:
                problems.append(
                    ((*base, "attributes"), f"required property {pname!r} is missing", None)
                )
        for rname, targets in twin.relationships.items():
            rel = ttype.relationships.get(rname)
            if rel is None:
                problems.append(
                    (
                        (*base, "relationships", rname),
                        f"type {twin.type!r} declares no relationship {rname!r}",
                        _choices(ttype.relationships),
                    )
                )
                continue
            target_list = [targets] if isinstance(targets, str) else list(targets)
            if not rel.many and len(target_list) > 1:
                problems.append(
                    (
                        (*base, "relationships", rname),
                        f"relationship {rname!r} takes one twin, got {len(target_list)}",
                        "a single twin id (or set many: true on the relationship)",
                    )
                )
            for target in target_list:
                if target not in twin_types:
                    problems.append(
                        (
                            (*base, "relationships", rname),
                            f"unknown twin {target!r}",
                            _choices(twin_types),
                        )
                    )
                elif twin_types[target] not in rel.target:
                    problems.append(
                        (
                            (*base, "relationships", rname),
                            f"twin {target!r} is a {twin_types[target]!r}",
                            "a twin of type " + " or ".join(rel.target),
                        )
                    )
        for bindex, binding in enumerate(twin.bindings):
            bbase = (*base, "bindings", bindex)
            connector = definition.connectors.get(binding.connector)
            if connector is None:
                problems.append(
                    (
                        (*bbase, "connector"),
                        f"unknown connector {binding.connector!r}",
                        _choices(definition.connectors),
                    )
                )
                continue
            wanted = _BINDING_FOR.get(type(connector))
            if wanted is not None and not isinstance(binding, wanted):
                problems.append(
                    (
                        bbase,
                        f"connector {binding.connector!r} speaks {connector.protocol}",
                        f"a {connector.protocol} binding",
                    )
                )
            groups: tuple[tuple[str, dict[str, Any]], ...] = (
                ("telemetry", ttype.telemetry),
                ("desired", ttype.desired),
                ("commands", ttype.commands),
            )
            for group, names in groups:
                for name in getattr(binding, group, {}):
                    if name not in names:
                        problems.append(
                            (
                                (*bbase, group, name),
                                f"type {twin.type!r} declares no {group} {name!r}",
                                _choices(names),
                            )
                        )
            if isinstance(binding, ModbusBinding):
                problems += _modbus_kinds(binding, ttype, bbase)

    # partOf must form a tree: a twin cannot be (indirectly) part of itself
    parents = {}
    for twin in definition.twins:
        parent = twin.relationships.get("partOf")
        if isinstance(parent, str):
            parents[twin.id] = parent
    for start in parents:
        walk, node = [start], parents.get(start)
        while node is not None and node not in walk:
            walk.append(node)
            node = parents.get(node)
        if node == start:
            problems.append(
                (
                    ("twins", seen[start], "relationships", "partOf"),
                    "partOf forms a cycle: " + " → ".join([*walk, start]),
                    "a hierarchy without cycles",
                )
            )
    problems += check_production(definition)
    problems += check_model_bindings(definition)
    problems += check_mqtt_bindings(definition)
    problems += check_opcua_bindings(definition)
    return problems
