"""OPC UA bindings are checked when the definition is read: node ids parsed (with the
line of a bad one), array elements and enumerations declared, and one node may feed
several signals."""

from __future__ import annotations

import uuid

import pytest

from twinworks.errors import SpecError
from twinworks.spec import OpcUaBinding, parse_definition
from twinworks.spec.nodeids import NodeIdError, ParsedNodeId, parse_node_id

DEFINITION = """\
connectors:
  ua: {protocol: opcua, endpoint: "opc.tcp://plc:4840"}
types:
  press:
    telemetry:
      temperature: {}
      mode: {dtype: string, values: [Stopped, Running]}
      code: {dtype: int}
      p2: {}
      p4: {}
    desired:
      speed: {}
    commands:
      start: {}
twins:
  - id: press7
    type: press
    bindings:
      - connector: ua
        telemetry:
          temperature: TEMPERATURE
          mode: {node: "nsu=urn:vendor:press;s=Mode", enum: {0: Stopped, 1: Running}}
          code: {node: "nsu=urn:vendor:press;s=Mode", enum: false}
          p2: {node: "ns=3;s=Line1/Press7/Profile", index: 2}
          p4: {node: "ns=3;s=Line1/Press7/Profile", index: 4}
        desired: {speed: "ns=3;i=1002"}
        commands: {start: {object: "ns=3;s=Press7", method: "ns=3;s=Press7.Start"}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_definition(text, "press.yaml")
    return [str(issue) for issue in info.value.issues]


def test_node_ids_of_every_form_parse() -> None:
    assert parse_node_id("ns=3;i=1002") == ParsedNodeId("i", 1002, 3)
    assert parse_node_id("ns=2;s=Line1/Press7/Temperature.PV") == ParsedNodeId(
        "s", "Line1/Press7/Temperature.PV", 2
    )
    assert parse_node_id("nsu=urn:vendor:press;s=a;b") == ParsedNodeId(
        "s", "a;b", None, "urn:vendor:press"
    )
    assert parse_node_id("i=85") == ParsedNodeId("i", 85, 0)
    guid = "72962b91-fa75-4ae6-8d28-b404dc7daf63"
    assert parse_node_id(f"ns=1;g={guid}").identifier == uuid.UUID(guid)
    assert parse_node_id("ns=1;b=AAEC").identifier == b"\x00\x01\x02"
    for text in ("ns=3;i=1002", "nsu=urn:x;s=A/B.C", "s=plain"):
        assert parse_node_id(text).text() == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ns=3;q=1002", "unknown identifier type 'q='; expected i= (numeric), s= (string)"),
        ("ns=x;s=A", "namespace index 'x' is not a number from 0 to 65535"),
        ("ns=3;i=12a", "i= takes a number from 0 to 4294967295, not '12a'"),
        ("nsu=;s=A", "nsu= needs a namespace URI"),
        ("ns=1;g=nope", "g= takes a GUID"),
        ("ns=2;s=", "s= needs a string identifier"),
        ("Temperature", "unknown identifier type 'Temperature'"),
        (" ns=2;s=A", "no leading or trailing spaces"),
    ],
)
def test_malformed_node_ids_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(NodeIdError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_node_id(text)


def test_a_malformed_node_id_is_reported_with_its_line() -> None:
    found = problems(DEFINITION.replace("TEMPERATURE", "ns=3;q=1002"))
    assert found == [
        "line 21, twins[0].bindings[0].telemetry.temperature.node: 'ns=3;q=1002': unknown "
        "identifier type 'q='; expected i= (numeric), s= (string), g= (GUID) or b= (opaque), "
        "e.g. ns=2;s=Line1.Temperature"
    ]
    found = problems(DEFINITION.replace("TEMPERATURE", "ns=3;s=T").replace("ns=3;i=1002", "i=x"))
    assert len(found) == 1 and found[0].startswith("line 26, twins[0].bindings[0].desired.speed:")
    found = problems(
        DEFINITION.replace("TEMPERATURE", "ns=3;s=T").replace("ns=3;s=Press7.Start", "Start")
    )
    assert len(found) == 1
    assert found[0].startswith("line 27, twins[0].bindings[0].commands.start.method:")


def test_arrays_enums_and_one_node_for_two_signals_are_declared() -> None:
    d = parse_definition(DEFINITION.replace("TEMPERATURE", "ns=3;s=T"))
    binding = d.twin("press7").bindings[0]
    assert isinstance(binding, OpcUaBinding)
    assert binding.telemetry["temperature"].node == "ns=3;s=T"  # the short form
    assert binding.telemetry["mode"].enum == {0: "Stopped", 1: "Running"}
    assert binding.telemetry["code"].enum is False
    assert (binding.telemetry["p2"].index, binding.telemetry["p4"].index) == (2, 4)
    assert binding.telemetry["p2"].node == binding.telemetry["p4"].node
    assert binding.uncertain == "keep"
    assert type(d).model_validate(d.model_dump()) == d


def test_enum_tables_must_fit_the_signal() -> None:
    text = DEFINITION.replace("TEMPERATURE", "ns=3;s=T")
    found = problems(text.replace("enum: false", "enum: true"))
    assert found == [
        "line 23, twins[0].bindings[0].telemetry.code.enum: enum turns codes into names, but "
        "'code' is a int signal (expected dtype: string on the signal, or enum: false to keep "
        "the codes)"
    ]
    found = problems(text.replace("1: Running}", "1: Runing}"))
    assert found == [
        "line 22, twins[0].bindings[0].telemetry.mode.enum: names ['Runing'] are not values of "
        "the signal 'mode' (expected one of: Stopped, Running)"
    ]
    found = problems(text.replace("index: 4", "index: -1"))
    assert len(found) == 1 and "telemetry.p4.index" in found[0]
