"""The DTDL v3 rules both directions share: identifiers, names, schemas, and the comment extras.

DTDL has no place for a valid range, a rate limit or the states in which a command
is allowed. twinworks writes them into the element's ``comment`` as
``twinworks:{...}`` (compact JSON): DTDL tools show a comment and ignore it, and an
import reads it back, so that an export followed by an import gives the same types.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "COMMENT_MAX",
    "CONTENT_CLASSES",
    "CONTEXT",
    "DTMI",
    "GEOSPATIAL",
    "INTERFACE_DTMI_MAX",
    "NAME",
    "NAME_MAX",
    "PRIMITIVES",
    "RESERVED_PREFIXES",
    "decode_extras",
    "encode_extras",
    "text_of",
]

CONTEXT = "dtmi:dtdl:context;3"

# dtmi:<segment>(:<segment>)*;<version>; a segment starts with a letter and does not
# end with an underscore (DTDL v3 section "Digital Twin Model Identifier")
DTMI = re.compile(
    r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
    r";[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?$"
)
INTERFACE_DTMI_MAX = 2048
RESERVED_PREFIXES = ("dtmi:dtdl:", "dtmi:standard:")

NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$")
NAME_MAX = 512
COMMENT_MAX = 512

CONTENT_CLASSES = ("Telemetry", "Property", "Command", "Relationship", "Component")

# DTDL primitive schema -> twinworks dtype, and whether the value keeps its meaning
PRIMITIVES: dict[str, tuple[str, bool]] = {
    "boolean": ("bool", True),
    "integer": ("int", True),
    "long": ("int", True),
    "short": ("int", True),
    "byte": ("int", True),
    "unsignedByte": ("int", True),
    "unsignedShort": ("int", True),
    "unsignedInteger": ("int", True),
    "unsignedLong": ("int", True),
    "double": ("float", True),
    "float": ("float", True),
    "decimal": ("float", True),
    "string": ("string", True),
    "uuid": ("string", True),
    # kept as their text: twinworks has no date, time, duration or byte-string dtype
    "date": ("string", False),
    "dateTime": ("string", False),
    "time": ("string", False),
    "duration": ("string", False),
    "bytes": ("string", False),
}
GEOSPATIAL = ("point", "multiPoint", "lineString", "multiLineString", "polygon", "multiPolygon")

_EXTRAS = "twinworks:"


def encode_extras(extras: dict[str, Any]) -> str | None:
    """The comment that carries what DTDL cannot say, or None when there is nothing."""
    if not extras:
        return None
    return _EXTRAS + json.dumps(extras, separators=(",", ":"), sort_keys=True)


def decode_extras(comment: Any) -> tuple[dict[str, Any], str | None]:
    """``(extras, error)`` from a comment; a comment of someone else's gives no extras."""
    if not isinstance(comment, str) or not comment.startswith(_EXTRAS):
        return {}, None
    try:
        data = json.loads(comment[len(_EXTRAS) :])
    except ValueError as exc:
        return {}, f"comment starts with {_EXTRAS!r} but is not JSON after it: {exc}"
    if not isinstance(data, dict):
        return {}, f"comment after {_EXTRAS!r} is a {type(data).__name__}, not an object"
    return data, None


def text_of(value: Any) -> str:
    """A description or display name: a string, or a language map (English preferred)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        for key in ("en", "en-US", "en-GB"):
            if isinstance(value.get(key), str):
                return str(value[key])
        first = next(iter(value.values()))
        return first if isinstance(first, str) else ""
    return ""
