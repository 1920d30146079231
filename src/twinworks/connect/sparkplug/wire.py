"""A fast reader of Sparkplug B data messages (NDATA, DDATA, DDEATH), straight from the bytes.

Turning the protobuf runtime's message objects into Python values costs several
times more than parsing them (see bench/sparkplug_decode.py); data messages are
nearly all of the traffic and need only a few fields of each metric (alias or name,
timestamp, datatype, value, null flag), so they are read here from the protobuf wire
format in one pass. Anything this reader does not accept -- a cut-off message, an
over-long varint, a field number 0, a wire type it does not know, text that is not
UTF-8 -- raises :class:`WireError`, and the caller falls back to the protobuf
runtime, which accepts or refuses the payload with its own message. Births keep
going through the runtime (they carry properties). A property test checks that
whatever this reader accepts, the runtime reads the same.
"""

from __future__ import annotations

import struct
from typing import Any

from twinworks.connect.sparkplug.payload import DATATYPES

__all__ = ["DataMetric", "WireError", "decode_data"]

# (name, alias, timestamp ms, datatype name, value, value field, is_null); integer values
# as they travel (unsigned): the caller applies the sign of the datatype the birth declared
DataMetric = tuple[str | None, int | None, int | None, str | None, Any, str | None, bool]

_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


class WireError(ValueError):
    """Bytes this reader does not accept (the protobuf runtime has the last word)."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("cut-off or over-long varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _metric(buf: bytes, pos: int, end: int) -> DataMetric:
    name: str | None = None
    alias = ts = None
    datatype: str | None = None
    value: Any = None
    field: str | None = None
    is_null = False
    while pos < end:
        tag = buf[pos]  # one byte for field numbers below 16, as every value field has
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            if pos < end and buf[pos] < 0x80:
                v = buf[pos]
                pos += 1
            else:
                v, pos = _varint(buf, pos, end)
            if number == 2:
                alias = v & _MASK64
            elif number == 3:
                ts = v & _MASK64
            elif number == 4:
                v &= _MASK32
                datatype = DATATYPES.get(v, f"type {v}") if v else None
            elif number == 7:
                is_null = v != 0
            elif number == 10:
                value, field = v & _MASK32, "int_value"
            elif number == 11:
                value, field = v & _MASK64, "long_value"
            elif number == 14:
                value, field = v != 0, "boolean_value"
        elif wire == 1:
            if pos + 8 > end:
                raise WireError("cut-off fixed64")
            if number == 13:
                value, field = _DOUBLE(buf, pos)[0], "double_value"
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise WireError("cut-off fixed32")
            if number == 12:
                value, field = _FLOAT(buf, pos)[0], "float_value"
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise WireError("cut-off length-delimited field")
            if number == 1:
                name = buf[pos : pos + size].decode()
            elif number == 15:
                value, field = buf[pos : pos + size].decode(), "string_value"
            elif number == 16:
                value, field = bytes(buf[pos : pos + size]), "bytes_value"
            elif number in (8, 9, 17, 18, 19):
                raise WireError("metadata, properties, data sets and templates: runtime")
            pos += size
        else:
            raise WireError(f"wire type {wire}")
    if pos != end:
        raise WireError("a field runs past its metric")
    if is_null:
        value = None
    return (name, alias, ts, datatype, value, field, is_null)


def decode_data(buf: bytes) -> tuple[int | None, int | None, list[DataMetric]]:
    """(timestamp, seq, metrics) of a data message; WireError when not read here."""
    pos, end = 0, len(buf)
    ts = seq = None
    metrics: list[DataMetric] = []
    try:
        while pos < end:
            tag, pos = _varint(buf, pos, end)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                raise WireError("field number 0")
            if wire == 0:
                v, pos = _varint(buf, pos, end)
                if number == 1:
                    ts = v & _MASK64
                elif number == 3:
                    seq = v & _MASK64
            elif wire == 2:
                size, pos = _varint(buf, pos, end)
                if pos + size > end:
                    raise WireError("cut-off length-delimited field")
                if number == 2:
                    metrics.append(_metric(buf, pos, pos + size))
                pos += size
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                raise WireError(f"wire type {wire}")
        if pos != end:
            raise WireError("the last field runs past the payload")
    except UnicodeDecodeError as exc:
        raise WireError(str(exc)) from None
    return ts, seq, metrics
