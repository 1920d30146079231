"""Modbus function and exception codes in words, for messages an operator can act on.

pymodbus reports a refusal as ``ExceptionResponse(dev_id=1, function_code=131,
exception_code=2)``; an operator needs "unit 1 refused read holding registers
120-121 (start 120, count 2): exception 2, illegal data address". The names are
those of the Modbus Application Protocol specification (V1.1b3, section 7).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXCEPTIONS",
    "FUNCTIONS",
    "UNIT_UNREACHABLE",
    "exception_name",
    "function_name",
    "refusal",
]

FUNCTIONS = {
    1: "read coils",
    2: "read discrete inputs",
    3: "read holding registers",
    4: "read input registers",
    5: "write single coil",
    6: "write single register",
    15: "write multiple coils",
    16: "write multiple registers",
}

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}

# a gateway's answers for a device behind it that it cannot reach or that did not
# answer: the unit is away (back off), not refusing one block
UNIT_UNREACHABLE = (10, 11)


def function_name(code: int) -> str:
    """``read holding registers`` for 3 (and for 131, its exception reply)."""
    code &= 0x7F
    return FUNCTIONS.get(code, f"function {code}")


def exception_name(code: int) -> str:
    """``exception 2, illegal data address``; unknown codes keep their number."""
    name = EXCEPTIONS.get(code)
    return f"exception {code}, {name}" if name else f"exception {code} (not a standard code)"


def refusal(response: Any) -> str:
    """Why the device refused, from a pymodbus error response, in words."""
    code = getattr(response, "exception_code", None)
    if isinstance(code, int):
        return exception_name(code)
    return str(response)
