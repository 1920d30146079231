"""Read views: a twin's document and state (now or as of a past time), and its history.

The present comes from the live state; the past from the store (the document's
revision at the time, the latest samples before it). Values come back as declared:
booleans that the store keeps as 0/1 are booleans again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twinworks.runtime.quality import mark_quality
from twinworks.runtime.registry import TwinRegistry
from twinworks.runtime.state import TwinLive
from twinworks.store.base import TwinStore, Value

__all__ = ["TwinViews"]


class TwinViews:
    def __init__(
        self, registry: TwinRegistry, store: TwinStore, live: Mapping[str, TwinLive]
    ) -> None:
        self.registry = registry
        self.store = store
        self.live = live

    def twin_view(self, twin_id: str, as_of: float | None = None) -> dict[str, Any]:
        """A twin's document, reported and desired state; as it was at ``as_of`` if given.

        Signals whose source reported their quality carry it (``reported[s]["quality"]``).
        """
        self.registry.twin(twin_id)  # raises UnknownTwinError
        return mark_quality(self._view(twin_id, as_of))

    def _view(self, twin_id: str, as_of: float | None) -> dict[str, Any]:
        if as_of is None:
            live = self.live[twin_id]
            return {
                **self.registry.document(twin_id),
                "revision": live.revision,
                "status": live.status,
                "last_received": live.last_received,
                "reported": self._reported_view(twin_id, live.reported),
                "virtual": {
                    s: {"ts": ts, "value": v} for s, (ts, v) in sorted(live.virtual.items())
                },
                "desired": live.desired,
                "as_of": None,
            }
        revision = self.store.get_document(twin_id, as_of)
        if revision is not None:
            doc = {k: v for k, v in revision.doc.items() if k != "desired"}
            rev, desired = revision.rev, revision.doc.get("desired", {})
        else:
            # before the twin was registered (e.g. back-filled history): nothing was desired
            doc, rev, desired = self.registry.document(twin_id), 0, {}
        latest = self.store.latest(twin_id, as_of)
        rules = self.registry.rules
        reported = {
            s: (ts, rules[(twin_id, s)].restore(v))
            for s, (ts, v) in latest.items()
            if (twin_id, s) in rules
        }
        virtual = {
            s: {"ts": ts, "value": v}
            for s, (ts, v) in sorted(latest.items())
            if (twin_id, s) not in rules
        }
        return {
            **doc,
            "revision": rev,
            "status": None,
            "last_received": None,
            "reported": self._reported_view(twin_id, reported),
            "virtual": virtual,
            "desired": desired,
            "as_of": as_of,
        }

    def _reported_view(
        self, twin_id: str, reported: Mapping[str, tuple[float, Value]]
    ) -> dict[str, Any]:
        ttype = self.registry.type_of(twin_id)
        out = {}
        for signal, (ts, value) in sorted(reported.items()):
            spec = ttype.telemetry.get(signal)
            if spec is not None:
                out[signal] = {"ts": ts, "value": value, "unit": spec.unit}
        return out

    def history(
        self,
        twin_id: str,
        signal: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[float, Value]]:
        """Stored samples of a measured (declared) or derived (virtual) signal."""
        rule = self.registry.rules.get((twin_id, signal))
        if rule is None and not self.is_virtual(twin_id, signal):
            self.registry.rule(twin_id, signal)  # raises UnknownSignalError naming the choices
        rows = self.store.range(twin_id, signal, start, end, limit, newest_first)
        if rule is None:
            return rows
        return [(ts, rule.restore(v)) for ts, v in rows]

    def is_virtual(self, twin_id: str, signal: str) -> bool:
        """Whether ``signal`` is a derived signal of the twin (now or in the store)."""
        self.registry.twin(twin_id)
        if signal in self.live[twin_id].virtual:
            return True
        return (twin_id, signal) not in self.registry.rules and self.store.count(
            twin_id, signal
        ) > 0
