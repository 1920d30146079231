"""Query parameters that hold a time: one parser, one range, one way to be wrong.

Every route declares its time parameters as :data:`TimeQuery`. The value is read
by :func:`twinworks.timeutil.parse_time` while the request is validated -- before
the route runs -- so a time outside 1970-01-01 .. 9999-12-31 is answered 422 naming
the parameter and the bound, and never reaches a store or a date library where it
would overflow. The OpenAPI schema marks these parameters with ``x-twinworks-time``
so that tools (and the tests) can find every one of them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from twinworks.timeutil import parse_time

__all__ = ["TIME_FORMS", "TimeQuery"]

TIME_FORMS = (
    "ISO 8601 (2026-11-24T10:00:00Z; no zone means UTC), seconds since 1970, 'now', "
    "or an age (10m, 2h, -30s); from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"
)


def _read_time(value: Any) -> float | None:
    if value is None or value == "":  # ``?since=`` is the same as leaving it out
        return None
    try:
        return parse_time(str(value))
    except ValueError as exc:
        # a custom error keeps the message as written (no "Value error, " prefix)
        raise PydanticCustomError("invalid_time", "{message}", {"message": str(exc)}) from None


TimeQuery = Annotated[
    float | None,
    BeforeValidator(_read_time),
    WithJsonSchema({"type": "string", "description": TIME_FORMS, "x-twinworks-time": True}),
]
"""A time query parameter: ``name: Annotated[TimeQuery, Query(description=...)] = None``."""
