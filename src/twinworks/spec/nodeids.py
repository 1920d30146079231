"""OPC UA node ids as written in twin definitions, parsed when the definition is read.

A node id is ``[ns=<index>;|nsu=<namespace URI>;]<type>=<identifier>`` with type
``i`` (numeric), ``s`` (string), ``g`` (GUID) or ``b`` (opaque, base64), as in
OPC UA Part 6 §5.3.1.10. ``nsu=`` names the namespace by its URI; the connector
looks the URI up in the server's namespace array when it connects, so a binding
keeps working when a server update renumbers its namespaces (the robust form).

Parsing here has no protocol library behind it: the spec layer must be able to
say "line 12: ns=3;q=1002 is not a node id" without connecting to anything.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import NamedTuple

__all__ = ["NodeIdError", "ParsedNodeId", "parse_node_id"]

_EXPECTED = (
    "a node id such as ns=2;s=Line1.Temperature, ns=3;i=1002 or nsu=urn:vendor:press;s=Speed"
)
_TYPES = {"i": "numeric", "s": "string", "g": "GUID", "b": "opaque (base64)"}


class NodeIdError(ValueError):
    """A node id that cannot be parsed; the message says what was wrong and the expected form."""


class ParsedNodeId(NamedTuple):
    kind: str  # i, s, g or b
    identifier: int | str | uuid.UUID | bytes
    namespace_index: int | None = None  # ns=...; None with nsu=... (and 0 when neither is given)
    namespace_uri: str | None = None

    def text(self) -> str:
        """The node id written back in the form it was given (``nsu=`` kept)."""
        if self.kind == "b":
            ident = base64.b64encode(self.identifier).decode()  # type: ignore[arg-type]
        else:
            ident = str(self.identifier)
        prefix = ""
        if self.namespace_uri is not None:
            prefix = f"nsu={self.namespace_uri};"
        elif self.namespace_index:
            prefix = f"ns={self.namespace_index};"
        return f"{prefix}{self.kind}={ident}"


_PREFIX = re.compile(r"^(?:(ns)=([^;]*);|(nsu)=([^;]*);)?")


def parse_node_id(text: str) -> ParsedNodeId:
    """Parse ``text``; raises :class:`NodeIdError` saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise NodeIdError(f"{text!r} is not a node id; expected {_EXPECTED}")
    if text != text.strip():
        raise NodeIdError(f"{text!r}: a node id has no leading or trailing spaces")
    match = _PREFIX.match(text)
    assert match is not None  # the prefix is optional, so it always matches
    index: int | None = 0
    uri: str | None = None
    if match.group(1):
        digits = match.group(2)
        if not digits.isdigit() or int(digits) > 65_535:
            raise NodeIdError(
                f"{text!r}: namespace index {digits!r} is not a number from 0 to 65535"
            )
        index = int(digits)
    elif match.group(3):
        uri = match.group(4)
        if not uri:
            raise NodeIdError(f"{text!r}: nsu= needs a namespace URI such as urn:vendor:press")
        index = None
    rest = text[match.end() :]
    kind, sep, ident = rest.partition("=")
    if not sep or kind not in _TYPES:
        got = f"'{kind}='" if sep else repr(rest)
        raise NodeIdError(
            f"{text!r}: unknown identifier type {got}; expected i= (numeric), s= (string), "
            f"g= (GUID) or b= (opaque), e.g. ns=2;s=Line1.Temperature"
        )
    if kind == "i":
        if not ident.isdigit() or int(ident) > 0xFFFFFFFF:
            raise NodeIdError(f"{text!r}: i= takes a number from 0 to 4294967295, not {ident!r}")
        return ParsedNodeId(kind, int(ident), index, uri)
    if kind == "g":
        try:
            return ParsedNodeId(kind, uuid.UUID(ident), index, uri)
        except ValueError:
            raise NodeIdError(
                f"{text!r}: g= takes a GUID such as 72962b91-fa75-4ae6-8d28-b404dc7daf63"
            ) from None
    if kind == "b":
        try:
            return ParsedNodeId(kind, base64.b64decode(ident, validate=True), index, uri)
        except ValueError:
            raise NodeIdError(f"{text!r}: b= takes base64 text") from None
    if not ident:
        raise NodeIdError(f"{text!r}: s= needs a string identifier")
    return ParsedNodeId(kind, ident, index, uri)
