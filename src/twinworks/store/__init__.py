"""Twin data (DD): telemetry time series, twin documents with revisions, events.

``SqliteStore`` is the embedded default; ``MemoryStore`` is the in-process fake for
unit tests. Both implement :class:`TwinStore`.
"""

from twinworks.store.base import (
    Bucket,
    Columns,
    DeadLetter,
    Event,
    ModelVersion,
    Point,
    Revision,
    StoredDeadLetter,
    StoredEvent,
    TwinStore,
    Value,
    from_us,
    to_us,
)
from twinworks.store.memory import MemoryStore
from twinworks.store.sqlite import SqliteStore

__all__ = [
    "Bucket",
    "Columns",
    "DeadLetter",
    "Event",
    "MemoryStore",
    "ModelVersion",
    "Point",
    "Revision",
    "SqliteStore",
    "StoredDeadLetter",
    "StoredEvent",
    "TwinStore",
    "Value",
    "from_us",
    "open_store",
    "to_us",
]


def open_store(url: str) -> TwinStore:
    """Open a store from a URL-ish string: ``memory:`` or a path to a SQLite file."""
    if url in ("memory:", ":memory:"):
        return MemoryStore()
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    return SqliteStore(url)
