"""What a write puts in the device: register words or a coil's state, and a rounding note.

An engineering value goes back to raw as ``(value - offset) / scale``. In an
integer register that may fall between two steps (33.37 with a scale of 0.1): it is
then rounded to the nearest step and the acknowledgement says so, or the write is
refused when the connector sets ``scaled_writes: refuse``.
"""

from __future__ import annotations

from typing import Any

from twinworks.connect.registers import (
    encode,
    encode_string,
    from_raw,
    rounded_to_resolution,
    to_raw,
)
from twinworks.errors import CommandError
from twinworks.spec.schema import ModbusRegister, ModbusWrite

__all__ = ["encode_write"]


def encode_write(
    what: str, target: ModbusRegister | ModbusWrite, value: Any, scaled_writes: str = "round"
) -> tuple[list[int] | bool, str | None]:
    """Words (or a coil's state) for ``value``, and a note if it had to be rounded.

    Raises CommandError, naming ``what``, when the value cannot be written.
    """
    if target.is_bit:
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise CommandError(f"{what}: a coil takes true or false, not {value!r}")
        return bool(value), None
    try:
        if target.type == "string":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a string")
            assert target.length is not None
            return encode_string(value, target.length, target.byte_order), None
        note = None
        scaled = target.scale != 1.0 or target.offset != 0.0
        rounded = rounded_to_resolution(value, target.type, target.scale, target.offset)
        if scaled and rounded is not None:
            written = from_raw(rounded, target.scale, target.offset)
            if scaled_writes == "refuse":
                raise CommandError(
                    f"{what}: {value!r} falls between the register's steps of "
                    f"{target.scale:g} (the nearest is {written:.10g}); refused because "
                    "the connector sets scaled_writes: refuse"
                )
            note = (
                f"{value!r} rounded to {written:.10g} (raw {rounded}): register "
                f"{target.address} holds steps of {target.scale:g}"
            )
        raw = to_raw(value, target.type, target.scale, target.offset)
        return encode(raw, target.type, target.word_order, target.byte_order), note
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{what}: {exc}") from None
