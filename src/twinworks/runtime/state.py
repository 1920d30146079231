"""Twin state: what each asset reports, what its models derive, and what we asked for.

Reported state (the newest value of each declared signal) and virtual state (the
newest value of each derived series) are projected from batches after the store
has taken them; desired state (the settings we asked for) is kept with the twin's
document in the store, so that it survives restarts and can be read as of any time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinworks.runtime import events as ev
from twinworks.runtime.registry import TwinRegistry
from twinworks.runtime.writer import Chunk
from twinworks.store.base import Columns, Event, TwinStore, Value

__all__ = ["Applied", "TwinLive", "TwinState"]


@dataclass
class TwinLive:
    reported: dict[str, tuple[float, Value]] = field(default_factory=dict)
    # values computed by the twin's models and services (estimates, scores, RUL, ...)
    virtual: dict[str, tuple[float, Value]] = field(default_factory=dict)
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_received: float | None = None  # wall-clock time of the newest reading
    status: str = "offline"
    revision: int = 0
    status_signal: str | None = None  # the signal the type's status policy reads


@dataclass
class Applied:
    """What a stored batch changed."""

    changes: defaultdict[str, dict[str, list[Any]]]  # twin → signal → [ts, value]
    derived: defaultdict[str, dict[str, list[Any]]]
    state_events: list[Event]  # the status signal moved to another value
    touched: set[str]  # twins that reported something
    restated: set[str]  # twins whose status signal moved


class TwinState:
    """The live state of every twin of a definition."""

    def __init__(self, registry: TwinRegistry) -> None:
        self.registry = registry
        self.live: dict[str, TwinLive] = {}
        for twin_id in registry.ids():
            policy = registry.status_policies.get(twin_id)
            self.live[twin_id] = TwinLive(status_signal=policy[0] if policy else None)
        # per row of registry.keys: the twin's live state, its id and the signal's name
        self._live_of = [(self.live[t], t, sig) for t, sig in registry.keys]

    # ------------------------------------------------------------------ from the store

    def register_documents(self, store: TwinStore, definition_name: str) -> None:
        """Store each twin's document, with a new revision only when the definition changed it.

        Runs on the store's thread, before anything else is written.
        """
        pending: list[Event] = []
        for twin_id in self.registry.ids():
            live = self.live[twin_id]
            static = self.registry.document(twin_id)
            current = store.get_document(twin_id)
            if current is not None:
                desired = current.doc.get("desired", {})
                live.desired = dict(desired)
                live.revision = current.rev
                if {k: v for k, v in current.doc.items() if k != "desired"} == static:
                    continue
                kind = ev.TWIN_UPDATED
            else:
                desired, kind = {}, ev.TWIN_REGISTERED
            live.revision = store.put_document(twin_id, {**static, "desired": desired})
            pending.append(
                Event(kind, twin_id, {"revision": live.revision, "type": static["type"]})
            )
        pending.append(
            Event(ev.DEFINITION_LOADED, None, {"name": definition_name, "twins": len(self.live)})
        )
        store.append_events(pending)

    def load_reported(self, store: TwinStore) -> None:
        """Start from the last values the store holds, so a restart shows them at once."""
        for twin_id, live in self.live.items():
            for signal, (ts, value) in store.latest(twin_id).items():
                rule = self.registry.rules.get((twin_id, signal))
                if rule is not None:
                    live.reported[signal] = (ts, rule.restore(value))

    def desired_document(self, twin_id: str) -> dict[str, Any]:
        """The twin's document with its desired settings, as stored on each write."""
        return {**self.registry.document(twin_id), "desired": self.live[twin_id].desired}

    # ------------------------------------------------------------------ stored batches

    def apply(self, chunks: list[Chunk], now: float, publish: bool) -> Applied:
        """Project a stored batch onto reported and virtual state.

        ``publish``: also collect the changes for stream subscribers (only built when
        someone listens).
        """
        out = Applied(defaultdict(dict), defaultdict(dict), [], set(), set())
        changes = out.changes
        lives = self.live
        for chunk in chunks:
            if not chunk.derived:
                continue
            for twin_id, signal, ts, value in chunk.points:
                live = lives.get(twin_id)
                if live is None:  # buffered under an older definition
                    continue
                old = live.virtual.get(signal)
                if old is None or ts >= old[0]:
                    live.virtual[signal] = (ts, value)
                    out.derived[twin_id][signal] = [ts, value]
        for live, twin_id, signal, ts, value, arrived in self._reported(chunks):
            if arrived:  # arrival time; drained points arrived long ago
                live.last_received = now
                out.touched.add(twin_id)
            old = live.reported.get(signal)
            if old is None or ts >= old[0]:
                live.reported[signal] = (ts, value)
                out.touched.add(twin_id)
                if publish:
                    changes[twin_id][signal] = [ts, value]
                if signal == live.status_signal:
                    out.restated.add(twin_id)
                    if old is not None and old[1] != value:
                        out.state_events.append(
                            Event(ev.STATE_CHANGED, twin_id, {"from": old[1], "to": value}, ts=ts)
                        )
        return out

    def _reported(
        self, chunks: list[Chunk]
    ) -> Iterator[tuple[TwinLive, str, str, float, Value, bool]]:
        """Every measured sample that can move reported state, with whether it just arrived.

        Of columnar batches only each series' newest sample can, so only those are visited.
        """
        lives = self.live
        for chunk in chunks:
            if chunk.derived:
                continue
            arrived = not chunk.drained
            for twin_id, signal, ts, value in chunk.points:
                live = lives.get(twin_id)
                if live is not None:  # else buffered under an older definition
                    yield live, twin_id, signal, ts, value, arrived
        columns = [c.columns for c in chunks if c.columns is not None and len(c.columns)]
        if columns:
            live_of = self._live_of
            for key, ts, value in _newest_per_series(columns):
                live, twin_id, signal = live_of[key]
                yield live, twin_id, signal, ts, value, True


def _newest_per_series(columns: list[Columns]) -> Iterator[tuple[int, float, float]]:
    """(row of registry.keys, time, value) of each series' newest sample in the batches."""
    if len(columns) == 1:
        keys, ts, values = columns[0].series, columns[0].ts, columns[0].values
    else:
        keys = np.concatenate([c.series for c in columns])
        ts = np.concatenate([c.ts for c in columns])
        values = np.concatenate([c.values for c in columns])
    order = np.lexsort((ts, keys))  # stable: of equal times the later delivery wins
    ordered = keys[order]
    last = order[np.r_[ordered[1:] != ordered[:-1], True]]
    return zip(keys[last].tolist(), ts[last].tolist(), values[last].tolist(), strict=True)
