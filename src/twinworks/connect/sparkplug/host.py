"""The Sparkplug B host application: what it knows of each edge node and device.

Kept apart from the MQTT link so it can be read (and tested) as the protocol's rules:
births define metrics (name, alias, datatype, unit), data updates them by alias,
deaths mark nodes and devices offline, and every message of a node after its birth
carries the next sequence number (0..255, wrapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Endpoint", "MetricDef", "NodeState"]


@dataclass(slots=True)
class MetricDef:
    """A metric as its birth certificate declared it."""

    name: str
    alias: int | None
    datatype: str
    unit: str | None = None
    field: str | None = None  # the payload field its values travel in
    signed: bool = False  # an IntN: values travel as unsigned patterns

    def __post_init__(self) -> None:
        self.signed = self.datatype in ("Int8", "Int16", "Int32", "Int64")


@dataclass
class Endpoint:
    """An edge node itself or one device under it."""

    group: str
    edge_node: str
    device: str | None
    online: bool = False
    by_name: dict[str, MetricDef] = field(default_factory=dict)
    by_alias: dict[int, MetricDef] = field(default_factory=dict)

    @property
    def label(self) -> str:
        node = f"{self.group}/{self.edge_node}"
        return f"{node}/{self.device}" if self.device is not None else node

    def rebirth(self, metrics: list[MetricDef]) -> list[tuple[MetricDef, str]]:
        """Take a new birth certificate; return the metrics whose datatype it changed."""
        changed = [
            (m, old.datatype)
            for m in metrics
            if (old := self.by_name.get(m.name)) is not None and old.datatype != m.datatype
        ]
        self.by_name = {m.name: m for m in metrics}
        self.by_alias = {m.alias: m for m in metrics if m.alias is not None}
        self.online = True
        return changed


@dataclass
class NodeState:
    """An edge node's session: its bdSeq, the sequence number expected next, its devices."""

    node: Endpoint
    bd_seq: int | None = None
    next_seq: int | None = None  # None: not born (or dead): data is refused
    devices: dict[str, Endpoint] = field(default_factory=dict)

    def check_seq(self, seq: int | None) -> bool:
        """Advance the sequence; False when ``seq`` is not the one expected (a gap)."""
        expected = self.next_seq
        self.next_seq = ((seq if seq is not None else expected or 0) + 1) % 256
        return seq is not None and seq == expected
