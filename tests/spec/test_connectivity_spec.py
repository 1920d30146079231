"""MQTT and Modbus parts of a twin definition: read by the right model, explained when wrong."""

from __future__ import annotations

import pytest

from twinworks.errors import SpecError
from twinworks.spec import parse_definition
from twinworks.spec.schema import ModbusBinding, MqttBinding, OpcUaBinding

BASE = """
connectors:
  broker: {protocol: mqtt, port: 1884, version: 5}
  plc: {protocol: modbus, port: 5020}
  ua: {protocol: opcua, endpoint: "opc.tcp://h:4840"}
types:
  pump:
    telemetry: {flow: {min: 0}, state: {dtype: string, values: [off, on]}}
    desired: {speed: {}}
    commands: {start: {}}
twins:
  - id: p1
    type: pump
    bindings:
      - connector: broker
        topic: site/{twin_id}/data
        timestamp: {path: meta.ts, unit: ms}
        telemetry: {flow: {path: v.0, scale: 0.1}, state: {path: s, enum: {0: off, 1: on}}}
        command_topic: site/{twin_id}/cmd
        reply_topic: site/{twin_id}/reply
        desired: [speed]
        commands: {start: {name: run}}
  - id: p2
    type: pump
    bindings:
      - connector: plc
        unit_id: 3
        telemetry: {flow: {address: 4, type: float32, word_order: little}}
        desired: {speed: {address: 10, type: int16, scale: 0.1}}
        commands: {start: [{address: 20, value: 1}]}
  - id: p3
    type: pump
    bindings: [{connector: ua, telemetry: {flow: "ns=2;s=p3.flow"}}]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_definition(text, "plant.yaml")
    return [str(issue) for issue in info.value.issues]


def test_each_binding_is_read_by_its_connectors_protocol() -> None:
    d = parse_definition(BASE)
    mqtt, modbus, ua = (d.twin(t).bindings[0] for t in ("p1", "p2", "p3"))
    assert isinstance(mqtt, MqttBinding) and isinstance(modbus, ModbusBinding)
    assert isinstance(ua, OpcUaBinding)
    assert d.connectors["broker"].version == "5"  # YAML's number 5 is accepted
    assert mqtt.telemetry["flow"].scale == 0.1 and mqtt.telemetry["state"].enum == {
        "0": "off",
        "1": "on",
    }
    assert mqtt.commands["start"].name == "run" and mqtt.desired["speed"].name is None
    assert modbus.telemetry["flow"].word_order == "little" and modbus.unit_id == 3
    # a definition round-trips through its serialised form
    assert type(d).model_validate(d.model_dump()) == d


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "topic: site/{twin_id}/data",
            "topic: site/x{twin_id}/data",
            "must be a whole topic level",
        ),
        # telemetry topics may hold + and # (MQTT gateways); a command goes to one topic
        (
            "command_topic: site/{twin_id}/cmd",
            "command_topic: site/+/cmd",
            "wildcards + and # are not allowed",
        ),
        (
            "topic: site/{twin_id}/data",
            "topic: site/{twin}/data",
            "unknown placeholder {twin}; the placeholders are {twin_id} and {signal}",
        ),
        ("unit: ms}", "unit: minutes}", "'minutes' is not allowed"),
        ("        command_topic: site/{twin_id}/cmd\n", "", "need a command_topic"),
        ("type: float32, word_order", "type: float24, word_order", "'float24' is not allowed"),
        ("{address: 20, value: 1}", "{address: 20}", "exactly one of 'value'"),
        ("address: 4,", "address: 70000,", "less than or equal to 65535"),
        (
            "scale: 0.1}}\n        commands: {start: [",
            "scale: 0}}\n        commands: {start: [",
            "scale must not be 0",
        ),
        ("port: 5020", "port: 0", "greater than or equal to 1"),
    ],
)
def test_mistakes_are_explained_with_their_place(old: str, new: str, message: str) -> None:
    assert old in BASE
    found = problems(BASE.replace(old, new, 1))
    assert any(message in p for p in found), found
    assert all("line" in p for p in found), found


def test_a_binding_key_of_another_protocol_names_the_allowed_keys() -> None:
    found = problems(BASE.replace("unit_id: 3", "unit_id: 3\n        topic: x"))
    assert any(
        "twins[1].bindings[0].topic: unknown key 'topic' (expected one of: commands," in p
        for p in found
    ), found
