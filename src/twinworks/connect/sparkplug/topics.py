"""Sparkplug B topic names: ``spBv1.0/<group>/<type>/<edge node>[/<device>]``."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "DEVICE_TYPES",
    "NAMESPACE",
    "NODE_TYPES",
    "SparkplugTopic",
    "command_topic",
    "parse_topic",
    "state_topic",
]

NAMESPACE = "spBv1.0"
NODE_TYPES = frozenset({"NBIRTH", "NDEATH", "NDATA", "NCMD"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDEATH", "DDATA", "DCMD"})


class SparkplugTopic(NamedTuple):
    group: str
    kind: str  # NBIRTH, DDATA, ...
    edge_node: str
    device: str | None


def parse_topic(topic: str) -> SparkplugTopic:
    """The parts of a Sparkplug topic; ValueError saying what is wrong otherwise."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != NAMESPACE:
        raise ValueError(
            f"{topic}: not a Sparkplug B topic (expected "
            f"{NAMESPACE}/<group>/<message type>/<edge node>[/<device>])"
        )
    group, kind, node = levels[1], levels[2], levels[3]
    if kind in NODE_TYPES and len(levels) == 4:
        return SparkplugTopic(group, kind, node, None)
    if kind in DEVICE_TYPES and len(levels) == 5:
        return SparkplugTopic(group, kind, node, levels[4])
    raise ValueError(
        f"{topic}: unknown message type {kind!r} or wrong number of levels "
        "(N* types take 4 levels, D* types 5)"
    )


def command_topic(group: str, edge_node: str, device: str | None) -> str:
    if device is None:
        return f"{NAMESPACE}/{group}/NCMD/{edge_node}"
    return f"{NAMESPACE}/{group}/DCMD/{edge_node}/{device}"


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"
