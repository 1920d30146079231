"""Bound values laid out as requests: which unit, table and addresses one poll reads.

The values a definition binds are grouped per unit, table and polling period into
contiguous blocks, so that a poll costs a few requests, not one per value: close
addresses share a request (small gaps are read over), up to the most one request
may carry (``max_block`` registers; 2000 coils or discrete inputs, the protocol's
limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twinworks.connect.modbus.names import function_name
from twinworks.connect.registers import decode, decode_string, words_of
from twinworks.spec.schema import ModbusRegister

__all__ = ["READ_FUNCTION", "Block", "Field", "Poll", "group_blocks", "raw_value"]

# table → Modbus function code of its read request
READ_FUNCTION = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}
MAX_BITS = 2000  # coils / discrete inputs in one read request (Modbus specification)
_GAP_WORDS, _GAP_BITS = 8, 16  # unbound addresses read over rather than split a request


@dataclass
class Field:
    """One bound value: where it is and which twin signal it feeds."""

    twin_id: str
    signal: str
    reg: ModbusRegister
    unknown: int | None = None  # the undeclared state code last seen (announced once)

    @property
    def size(self) -> int:
        """Registers (or bits) the value spans."""
        return 1 if self.reg.is_bit else words_of(self.reg.type, self.reg.length)

    @property
    def name(self) -> str:
        return f"{self.twin_id}.{self.signal}"


@dataclass
class Block:
    """Contiguous registers or bits of one unit read in one request."""

    unit: int
    table: str
    start: int
    count: int
    fields: list[Field] = field(default_factory=list)
    refused: str | None = None  # why the device last refused it; None while it answers

    @property
    def end(self) -> int:
        return self.start + self.count - 1

    @property
    def where(self) -> str:
        """``unit 1 holding 120-121``: short, for dead letters and logs."""
        return f"unit {self.unit} {self.table} {self.start}-{self.end}"

    @property
    def request(self) -> str:
        """``read holding registers 120-121 (start 120, count 2)``."""
        fn = function_name(READ_FUNCTION[self.table])
        return f"{fn} {self.start}-{self.end} (start {self.start}, count {self.count})"

    @property
    def signals(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass
class Poll:
    """The blocks of one unit and table read together at one period."""

    unit: int
    table: str
    interval_s: float
    blocks: list[Block]


def group_blocks(unit: int, table: str, fields: list[Field], max_block: int) -> list[Block]:
    """Group fields into requests: close ones share a request, small gaps are read over."""
    bits = table in ("coil", "discrete_input")
    limit, gap = (MAX_BITS, _GAP_BITS) if bits else (max_block, _GAP_WORDS)
    blocks: list[Block] = []
    for f in sorted(fields, key=lambda f: f.reg.address):
        end = f.reg.address + f.size
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and f.reg.address <= last.start + last.count + gap
            and end - last.start <= limit
        ):
            last.count = max(last.count, end - last.start)
            last.fields.append(f)
        else:
            blocks.append(Block(unit, table, f.reg.address, f.size, [f]))
    return blocks


def raw_value(f: Field, values: Sequence[Any], start: int) -> int | float | bool | str:
    """The value of ``f`` in a block's response (register words or bits) before scaling.

    Raises ValueError when the registers do not hold text a string binding expects.
    """
    reg = f.reg
    i = reg.address - start
    if reg.is_bit:
        return bool(values[i])
    own = values[i : i + f.size]
    if reg.type == "string":
        return decode_string(own, reg.byte_order)
    return decode(own, reg.type, reg.word_order, reg.byte_order, reg.bit)
