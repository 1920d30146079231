"""What the runtime hands back: ingest reports, rejections and command records.

These are plain values shared by the kernel's parts (ingest, write-behind,
commands) and by their callers (connectors, routes), so they live apart from the
parts that fill them in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from twinworks.connect.base import Origin

__all__ = ["CommandKind", "CommandRecord", "CommandStatus", "IngestReport", "Rejection", "shown"]


def shown(value: Any) -> str:
    """A value as it appears in rejections: its repr, cut short if it is long."""
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True, slots=True)
class Rejection:
    twin_id: str
    signal: str
    reason: str
    message: str
    value: str
    source: str
    origin: Origin | None = None  # the raw message of the reading, if the connector kept it

    def as_dict(self) -> dict[str, str]:
        return {
            "twin_id": self.twin_id,
            "signal": self.signal,
            "reason": self.reason,
            "message": self.message,
            "value": self.value,
            "source": self.source,
        }


@dataclass
class IngestReport:
    accepted: int = 0
    stored: int = 0  # new points; redelivered duplicates are accepted but not stored twice
    rejected: list[Rejection] = field(default_factory=list)
    # durable in the on-disk buffer while the store is unavailable; stored when it returns
    spooled: int = 0

    @property
    def duplicates(self) -> int:
        return self.accepted - self.stored - self.spooled

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "spooled": self.spooled,
            "rejected": [r.as_dict() for r in self.rejected],
        }


CommandStatus = Literal["pending", "acknowledged", "failed", "rejected"]
CommandKind = Literal["desired", "command"]


@dataclass
class CommandRecord:
    id: str
    twin_id: str
    name: str
    kind: CommandKind
    args: dict[str, Any]
    status: CommandStatus = "pending"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    result: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    by: str = "api"  # who asked for it (the user name behind the API request)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "twin_id": self.twin_id,
            "name": self.name,
            "kind": self.kind,
            "args": self.args,
            "status": self.status,
            "created": self.created,
            "finished": self.finished,
            "error": self.error,
            "result": self.result,
        }
