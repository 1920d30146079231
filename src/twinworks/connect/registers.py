"""Values in Modbus registers: 16-bit words, word and byte order, scaling, state codes.

Modbus knows only 16-bit registers. A 32-bit float or integer spans two of them,
a 64-bit one four, and vendors disagree on the order of the words ("word swap") and
of the bytes within a word ("byte swap"). This module turns register words into
values and back, for the types a binding declares.

>>> encode(21.5, "float32")
[16812, 0]
>>> decode([16812, 0], "float32")
21.5
>>> decode(encode(-3, "int32", "little"), "int32", "little")
-3

Text (a serial number, a firmware version) is packed two characters to a register,
the first in the high byte ("big"); some devices swap the bytes ("little"). A string
spans a fixed number of registers; the unused tail is padded with NUL bytes (or
spaces), which are not part of the value:

>>> encode_string("SN-42", 4)
[21326, 11572, 12800, 0]
>>> decode_string([21326, 11572, 12800, 0])
'SN-42'
>>> decode_string([20051, 13357, 50], byte_order="little")
'SN-42'
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = [
    "WORDS",
    "decode",
    "decode_string",
    "encode",
    "encode_string",
    "from_raw",
    "rounded_to_resolution",
    "to_raw",
    "words_of",
]

WORDS = {
    "int16": 1,
    "uint16": 1,
    "bool": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "float64": 4,
}
_FORMAT = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
    "int64": ">q",
    "uint64": ">Q",
    "float64": ">d",
}


def _ordered(raw: bytes, word_order: str, byte_order: str) -> bytes:
    """Between big-endian bytes and the device's order (the same swap both ways)."""
    if byte_order == "little":
        raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
    if word_order == "little":
        raw = b"".join(raw[i : i + 2] for i in range(len(raw) - 2, -1, -2))
    return raw


def decode(
    words: Sequence[int],
    type_: str,
    word_order: str = "big",
    byte_order: str = "big",
    bit: int | None = None,
) -> int | float | bool:
    """The value held in ``words`` (as many as :data:`WORDS` says for the type)."""
    if type_ == "bool":
        word = words[0]
        if byte_order == "little":
            word = ((word & 0xFF) << 8) | (word >> 8)
        return bool((word >> bit) & 1) if bit is not None else word != 0
    raw = b"".join(int(w).to_bytes(2, "big") for w in words[: WORDS[type_]])
    value: int | float = struct.unpack(_FORMAT[type_], _ordered(raw, word_order, byte_order))[0]
    return value


def encode(
    value: int | float | bool, type_: str, word_order: str = "big", byte_order: str = "big"
) -> list[int]:
    """Register words for ``value``; raises ValueError when it does not fit the type."""
    if type_ == "bool":
        word = 1 if value else 0
        return [((word & 0xFF) << 8) | (word >> 8) if byte_order == "little" else word]
    if type_.startswith(("int", "uint")):
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value} is not a whole number, as {type_} needs")
            value = int(value)
    else:
        value = float(value)
    try:
        raw = struct.pack(_FORMAT[type_], value)
    except struct.error:
        raise ValueError(f"{value} does not fit in a {type_}") from None
    raw = _ordered(raw, word_order, byte_order)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def from_raw(raw: int | float | bool, scale: float, offset: float) -> int | float | bool:
    """The engineering value of a raw register value: ``raw * scale + offset``."""
    if isinstance(raw, bool) or (scale == 1.0 and offset == 0.0):
        return raw
    return raw * scale + offset


def to_raw(
    value: float | int | bool, type_: str, scale: float, offset: float
) -> int | float | bool:
    """The raw register value for an engineering value (inverse of :func:`from_raw`)."""
    if isinstance(value, bool) or type_ == "bool" or (scale == 1.0 and offset == 0.0):
        return value
    raw = (value - offset) / scale
    if type_.startswith(("int", "uint")):
        # to the register's resolution: 7.25 bar in a register of 0.01 bar is 725, not 724
        return round(raw)
    return raw


def words_of(type_: str, length: int | None = None) -> int:
    """Registers a value of ``type_`` spans (``length`` for a string)."""
    if type_ == "string":
        if length is None:
            raise ValueError("a string needs its length in registers")
        return length
    return WORDS[type_]


def _swapped(raw: bytes) -> bytes:
    return b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))


def decode_string(words: Sequence[int], byte_order: str = "big", encoding: str = "ascii") -> str:
    """The text in ``words``: two characters a register, without the NUL/space padding.

    Raises ValueError, naming the bytes, when they are not text in ``encoding``.
    """
    raw = b"".join(int(w).to_bytes(2, "big") for w in words)
    if byte_order == "little":
        raw = _swapped(raw)
    raw = raw.split(b"\0", 1)[0].rstrip(b" ")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise ValueError(f"bytes {raw!r} are not {encoding} text") from None


def encode_string(
    value: str, length: int, byte_order: str = "big", encoding: str = "ascii"
) -> list[int]:
    """``length`` register words holding ``value``, NUL-padded; ValueError if it does not fit."""
    try:
        raw = value.encode(encoding)
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not {encoding} text") from None
    if len(raw) > 2 * length:
        raise ValueError(
            f"{value!r} has {len(raw)} bytes; {length} registers hold at most {2 * length}"
        )
    raw = raw.ljust(2 * length, b"\0")
    if byte_order == "little":
        raw = _swapped(raw)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def rounded_to_resolution(
    value: float | int | bool, type_: str, scale: float, offset: float
) -> int | None:
    """The raw integer :func:`to_raw` writes for ``value`` if it had to round, else None.

    33.37 in a register of 0.1 becomes 334, i.e. 33.4: the caller should say so (or
    refuse). Float error of the division (7.3 / 0.1 = 72.999…) is not rounding.
    """
    if isinstance(value, bool) or not type_.startswith(("int", "uint")):
        return None
    exact = (value - offset) / scale
    raw = round(exact)
    return raw if abs(exact - raw) > 1e-6 * max(1.0, abs(exact)) else None
