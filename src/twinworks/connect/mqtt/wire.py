"""MQTT bytes on the wire: splitting a stream into packets, reading PUBLISH packets.

This module knows the MQTT 3.1.1 / 5 packet layout and nothing else: no sockets, no
client library, no twins. The session hands it the bytes read from the broker and
gets back the PUBLISH packets (the telemetry) as :class:`Message` tuples and every
other packet (CONNACK, SUBACK, PUBACK, PINGRESP, ...) as raw bytes for paho.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Message", "correlation_data", "pubacks", "split_packets", "varint"]


class Message(NamedTuple):
    """A received PUBLISH, as the fast path hands it over."""

    topic: bytes
    payload: bytes
    qos: int
    mid: int
    props: bytes | None  # MQTT 5 properties, still encoded
    retain: bool = False  # delivered from the broker's retained store (on subscribe)


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """An MQTT variable byte integer at ``pos``: (value, position after it); -1 if cut off."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 21:
            return -1, pos
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def correlation_data(props: bytes | None) -> bytes | None:
    """Correlation Data (property 9) from encoded MQTT 5 PUBLISH properties."""
    if not props:
        return None
    pos, n = 0, len(props)
    while pos < n:
        pid = props[pos]
        pos += 1
        if pid in (8, 9, 3):  # response topic, correlation data, content type
            size = int.from_bytes(props[pos : pos + 2], "big")
            if pid == 9:
                return bytes(props[pos + 2 : pos + 2 + size])
            pos += 2 + size
        elif pid == 1:
            pos += 1
        elif pid == 2:
            pos += 4
        elif pid == 35:
            pos += 2
        elif pid == 11:
            _, pos = varint(props, pos)
        elif pid == 38:  # user property: two strings
            for _ in range(2):
                size = int.from_bytes(props[pos : pos + 2], "big")
                pos += 2 + size
        else:
            return None  # not a PUBLISH property: stop rather than misread
    return None


def split_packets(buf: bytes, v5: bool, inbox: list[Message]) -> tuple[bytearray, int]:
    """Split ``buf`` into packets: QoS 0/1 PUBLISH to ``inbox``, the rest returned as bytes.

    Returns (the other packets, concatenated; the position where an incomplete packet
    starts -- ``len(buf)`` when none is cut off). QoS 2 PUBLISH packets are left to
    paho, which runs their four-way handshake.
    """
    n = len(buf)
    pos = 0
    new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
    other = bytearray()
    while pos < n:
        start = pos
        first = buf[pos]
        length, body = varint(buf, pos + 1)
        if length < 0 or body + length > n:
            break  # the rest of this packet comes with the next read
        end = body + length
        qos = (first >> 1) & 3
        if first >> 4 == 3 and qos < 2:
            size = (buf[body] << 8) | buf[body + 1]
            p = body + 2 + size
            topic = buf[body + 2 : p]
            mid = 0
            if qos:
                mid = (buf[p] << 8) | buf[p + 1]
                p += 2
            props = None
            if v5:
                plen, p = varint(buf, p)
                if plen:
                    props = buf[p : p + plen]
                    p += plen
            inbox.append(new(Message, (topic, buf[p:end], qos, mid, props, bool(first & 1))))
        else:
            other += buf[start:end]
        pos = end
    return other, pos


def pubacks(mids: list[int] | tuple[int, ...]) -> bytes:
    """PUBACK packets for ``mids``, back to back (the short form: success in MQTT 5 too)."""
    return b"".join([b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids])
