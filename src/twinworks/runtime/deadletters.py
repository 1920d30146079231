"""Turning rejected readings into dead letters: one per raw message, with every reason.

A message whose readings fail validation (a NaN, a value out of range, a string
where a number belongs) is kept as a dead letter with its raw payload, so that
whoever looks into it sees exactly what the device sent. The good readings of the
same message are stored as usual. Readings that came without a raw message (OPC UA
values, HTTP points) are kept as a small JSON document of the reading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from twinworks.runtime.reports import Rejection
from twinworks.store.base import DeadLetter

__all__ = ["letters_for_rejections"]

# a message with many bad fields keeps its letter readable
_MAX_MESSAGE = 2000


def letters_for_rejections(bad: Sequence[Rejection]) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    by_origin: dict[int, list[Rejection]] = {}
    for r in bad:
        if r.origin is None:
            payload = json.dumps(
                {"twin_id": r.twin_id, "signal": r.signal, "value": r.value}, ensure_ascii=False
            ).encode()
            letters.append(DeadLetter(r.source, r.reason, r.message, payload, r.twin_id))
        else:
            by_origin.setdefault(id(r.origin), []).append(r)
    for group in by_origin.values():
        origin = group[0].origin
        assert origin is not None
        message = "; ".join(r.message for r in group)
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        letters.append(
            DeadLetter(
                group[0].source,
                group[0].reason,
                message,
                origin.payload,
                group[0].twin_id,
                origin.topic,
            )
        )
    return letters
