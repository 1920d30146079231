"""The marker for a state code that a definition does not declare.

A device may report a code its binding's table of states does not list (a new
firmware's fault number, a vendor's undocumented mode). Dropping it would leave
the twin showing its previous state as if nothing had happened, so the code
arrives as the text ``unknown(<code>)``, e.g. ``unknown(7)``: the operator sees
that the device is in a state nobody named, and which one. A signal restricted
to ``values`` accepts this marker besides the listed values.

>>> unknown_code(7)
'unknown(7)'
>>> is_unknown_code("unknown(7)"), is_unknown_code("unknown"), is_unknown_code("running")
(True, False, False)
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["is_unknown_code", "unknown_code"]

_UNKNOWN = re.compile(r"unknown\(-?\d+\)")


def unknown_code(code: int) -> str:
    """The value a signal takes for an undeclared state ``code``."""
    return f"unknown({code})"


def is_unknown_code(value: Any) -> bool:
    """Whether ``value`` is the marker of an undeclared state code."""
    return isinstance(value, str) and _UNKNOWN.fullmatch(value) is not None
