"""MQTT packets as bytes: the PUBLISH reader of the fast path."""

from __future__ import annotations

import struct

from twinworks.connect.mqtt.wire import Message, correlation_data, pubacks, split_packets


def _publish(topic: str, payload: bytes, qos: int, mid: int, retain: bool = False) -> bytes:
    body = struct.pack(">H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack(">H", mid)
    body += payload
    return bytes([0x30 | (qos << 1) | int(retain), len(body)]) + body


def test_publish_packets_are_read_and_others_passed_on_whole() -> None:
    pingresp = b"\xd0\x00"
    stream = (
        _publish("a/b", b"1", 1, 7)
        + pingresp
        + _publish("c", b"{}", 0, 0, retain=True)
        + _publish("d", b"xyz", 1, 9)
    )
    cut = len(stream) - 2  # the last packet is cut off: it comes with the next read
    inbox: list[Message] = []
    other, pos = split_packets(stream[:cut], False, inbox)
    assert other == pingresp
    assert inbox == [
        Message(b"a/b", b"1", 1, 7, None, False),
        Message(b"c", b"{}", 0, 0, None, True),
    ]
    rest = stream[pos:cut] + stream[cut:]
    other, pos = split_packets(rest, False, inbox)
    assert other == b"" and pos == len(rest)
    assert inbox[-1] == Message(b"d", b"xyz", 1, 9, None, False)


def test_mqtt5_properties_and_correlation_data() -> None:
    props = b"\x09\x00\x03abc"  # correlation data "abc"
    body = b"\x00\x01t" + b"\x00\x05" + bytes([len(props)]) + props + b"p"
    inbox: list[Message] = []
    split_packets(bytes([0x32, len(body)]) + body, True, inbox)
    assert inbox[0].payload == b"p" and correlation_data(inbox[0].props) == b"abc"


def test_pubacks_of_a_batch() -> None:
    assert pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
