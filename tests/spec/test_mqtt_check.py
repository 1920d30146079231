"""MQTT bindings that share a topic: refused by validate unless each message says whose."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinworks.cli import app
from twinworks.errors import SpecError
from twinworks.spec import parse_definition

HEAD = """\
connectors:
  gw: {protocol: mqtt}
types:
  press:
    telemetry:
      pressure: {unit: bar}
      temperature: {unit: degC}
      state: {dtype: string}
twins:
"""


def twin(tid: str, binding: str) -> str:
    lines = binding.strip("\n").splitlines()
    return f"  - id: {tid}\n    type: press\n    bindings:\n" + "".join(
        f"      {'- ' if i == 0 else '  '}{line}\n" for i, line in enumerate(lines)
    )


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_definition(text, "plant.yaml")
    return [(i.line, i.path, i.message) for i in caught.value.issues]


SHARED = """
connector: gw
topic: gateway/line1
telemetry: {pressure: value}
"""


def test_twins_reading_the_same_field_of_a_shared_topic_are_refused_with_the_line() -> None:
    text = HEAD + twin("a1", SHARED) + twin("a2", SHARED)
    [(line, path, message)] = problems(text)
    assert path == "twins[1].bindings[0].topic"
    lines = text.splitlines()
    topic_lines = [i + 1 for i, t in enumerate(lines) if t.strip() == "topic: gateway/line1"]
    assert line == topic_lines[1]  # the second twin's topic
    assert message == (
        "twins 'a1' and 'a2' both read 'value' from every message on topic 'gateway/line1' "
        "(connector 'gw'): a message cannot say which twin its values are for"
    )


def test_signal_routed_bindings_without_twin_routing_are_refused_too() -> None:
    b = "connector: gw\ntopic: gw/data\nsignal_field: signal\ntelemetry: [pressure]\n"
    [(_, _, message)] = problems(HEAD + twin("a1", b) + twin("a2", b))
    assert "both read 'signal pressure'" in message


def test_an_unrouted_binding_would_take_the_records_of_a_routed_one() -> None:
    routed = "connector: gw\ntopic: gw/data\ntwin_field: device\ntelemetry: {pressure: value}\n"
    [(_, path, message)] = problems(
        HEAD + twin("a1", routed) + twin("a2", SHARED.replace("gateway/line1", "gw/data"))
    )
    assert path == "twins[1].bindings[0].topic"
    assert "also the records of twin 'a1' (routed by 'device')" in message


@pytest.mark.parametrize(
    "bindings",
    [
        # the twin named in each record
        ["connector: gw\ntopic: gw/data\ntwin_field: device\ntelemetry: {pressure: value}\n"] * 2,
        # the twin named by the topic
        ["connector: gw\ntopic: gw/{twin_id}\ntelemetry: {pressure: value}\n"] * 2,
        # different fields of one message (a gateway publishing a whole line)
        [
            "connector: gw\ntopic: gw/data\ntelemetry: {pressure: a1.p}\n",
            "connector: gw\ntopic: gw/data\ntelemetry: {pressure: a2.p}\n",
        ],
    ],
)
def test_shared_topics_that_say_whose_values_they_carry_are_accepted(bindings: list[str]) -> None:
    defn = parse_definition(HEAD + twin("a1", bindings[0]) + twin("a2", bindings[1]), "x.yaml")
    assert [t.id for t in defn.twins] == ["a1", "a2"]


def test_two_twins_with_the_same_device_name_are_refused() -> None:
    b = "connector: gw\ntopic: gw/data\ntwin_field: id\ndevice: PLC1\ntelemetry: {pressure: v}\n"
    [(_, path, message)] = problems(HEAD + twin("a1", b) + twin("a2", b))
    assert path == "twins[1].bindings[0].device"
    assert "twins 'a1' and 'a2' are both called 'PLC1' in id on topic 'gw/data'" in message


@pytest.mark.parametrize(
    ("binding", "words"),
    [
        (
            "topic: gw/{twin_id}\ntwin_field: id\ntelemetry: {pressure: v}",
            "the twin is named twice",
        ),
        ("topic: gw/{signal}\nsignal_field: s\ntelemetry: [pressure]", "the signal is named twice"),
        ("topic: gw/d\ntelemetry: {pressure: 'data.sensors[x].v'}", "is not a payload path"),
        ("topic: gw/d\ntelemetry: {pressure: 'a..b'}", "is not a payload path"),
        ("topic: gw/#/x\ntelemetry: {pressure: v}", "# last"),
        ("topic: gw/d\ntelemetry: [pressure]", "telemetry 'pressure': no path"),
        ("topic: gw/d\ntelemetry: {pressure: {path: v, name: P}}", "this binding has neither"),
        (
            "topic: gw/d\ntimestamp: {unit: iso, timezone: Mars/Olympus}\ntelemetry: {pressure: v}",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            "topic: gw/d\ntelemetry: {state: {path: s, unit_in_value: true}}",
            "state is a string; unit_in_value and decimal read numbers",
        ),
        (
            "topic: gw/{signal}\ntelemetry: {pressure: {name: P}, temperature: {name: P}}",
            "both take the source signal 'P'",
        ),
    ],
)
def test_binding_mistakes_are_explained(binding: str, words: str) -> None:
    found = problems(HEAD + twin("a1", "connector: gw\n" + binding))
    assert any(words in message for _, _, message in found), found
    assert all(line is not None for line, _, _ in found)


def test_twinworks_validate_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    text = HEAD + twin("a1", SHARED) + twin("a2", SHARED)
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    line = [i + 1 for i, t in enumerate(text.splitlines()) if "gateway/line1" in t][1]
    assert (
        f"line {line}, twins[1].bindings[0].topic: twins 'a1' and 'a2' both read 'value' "
        "from every message on topic 'gateway/line1'"
    ) in " ".join(result.output.split())
