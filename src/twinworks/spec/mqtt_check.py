"""Checks of MQTT bindings against each other and against the twins' types.

Several twins may share one topic -- a gateway publishing a whole line -- as long as
each message says which values are whose: the topic's ``{twin_id}`` level, a
``twin_field`` in the payload, or different payload fields per twin. Bindings that
would all read the same field of the same messages are refused here, before they
store one device's values in another twin.
"""

from __future__ import annotations

from typing import Any

from twinworks.spec.schema import MqttBinding, TwinDefinition

__all__ = ["check_mqtt_bindings"]

Problem = tuple[tuple[str | int, ...], str, str | None]

_ROUTE_HINT = (
    "twin_field: the payload field that names each record's twin (e.g. twin_field: device), "
    "{twin_id} as a topic level, or different payload fields per twin"
)


def _reads(binding: MqttBinding) -> set[str]:
    """What a binding reads from every message it takes: field paths, or signal names."""
    if binding.signal_routed:
        return {"signal " + (f.name or s) for s, f in binding.telemetry.items()}
    return {f.path for f in binding.telemetry.values() if f.path is not None}


def check_mqtt_bindings(definition: TwinDefinition) -> list[Problem]:
    problems: list[Problem] = []
    # (connector, topic) -> bindings that take every record of its messages, and
    # device names of the bindings that route by twin
    shared: dict[tuple[str, str], list[tuple[tuple[str | int, ...], str, MqttBinding]]] = {}
    devices: dict[tuple[str, str, str], tuple[str, Any]] = {}
    for index, twin in enumerate(definition.twins):
        try:
            ttype = definition.type_of(twin.id)
        except KeyError:
            ttype = None
        for bindex, binding in enumerate(twin.bindings):
            if not isinstance(binding, MqttBinding):
                continue
            base: tuple[str | int, ...] = ("twins", index, "bindings", bindex)
            if ttype is not None:
                for name, f in binding.telemetry.items():
                    signal = ttype.telemetry.get(name)
                    text = f.unit_in_value or f.decimal != "."
                    if text and signal is not None and signal.dtype not in ("float", "int"):
                        problems.append(
                            (
                                (*base, "telemetry", name),
                                f"{name} is a {signal.dtype}; unit_in_value and decimal "
                                "read numbers",
                                "a float or int signal",
                            )
                        )
            levels = binding.topic.split("/")
            if "{twin_id}" in levels or binding.twin_field is not None:
                route = binding.twin_field or "{twin_id}"
                key = (binding.connector, binding.topic, binding.device or twin.id)
                if key in devices and devices[key][0] != twin.id:
                    problems.append(
                        (
                            (*base, "device") if binding.device else (*base, "topic"),
                            f"twins {devices[key][0]!r} and {twin.id!r} are both called "
                            f"{key[2]!r} in {route} on topic {binding.topic!r}",
                            "a distinct device name per twin",
                        )
                    )
                devices.setdefault(key, (twin.id, route))
                if "{twin_id}" in levels:
                    continue
            shared.setdefault((binding.connector, binding.topic), []).append(
                (base, twin.id, binding)
            )
    for (connector, topic), members in shared.items():
        for i, (base, twin_id, binding) in enumerate(members):
            if binding.twin_field is not None:
                continue  # takes only its own records
            for j, (_, other_twin, other) in enumerate(members):
                if other_twin == twin_id or (other.twin_field is None and j > i):
                    continue  # a pair of unrouted bindings is reported once, at the later
                common = _reads(binding) & _reads(other)
                if not common:
                    continue
                shown = ", ".join(repr(c) for c in sorted(common)[:3])
                if other.twin_field is None:
                    what = (
                        f"twins {other_twin!r} and {twin_id!r} both read {shown} from every "
                        f"message on topic {topic!r} (connector {connector!r}): a message "
                        "cannot say which twin its values are for"
                    )
                else:
                    what = (
                        f"twin {twin_id!r} reads {shown} from every message on topic "
                        f"{topic!r}, also the records of twin {other_twin!r} "
                        f"(routed by {other.twin_field!r})"
                    )
                problems.append(((*base, "topic"), what, _ROUTE_HINT))
                break
    return problems
