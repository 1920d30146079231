"""Building a definition's connectors and wiring them to the runtime's ingest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from twinworks.connect.base import Connector, IngestSink, QualityListener, connector_class
from twinworks.spec.schema import BindingSpec, TwinDefinition
from twinworks.store.base import DeadLetter

__all__ = ["build_connectors"]


def build_connectors(
    definition: TwinDefinition,
    sink: IngestSink,
    on_event: Callable[[str, str, dict[str, Any]], None],
    dead_letter: Callable[[DeadLetter], None],
    on_quality: QualityListener | None = None,
) -> dict[str, Connector]:
    """One connector per declared connector, carrying the bindings of every twin to it."""
    bindings: dict[str, list[tuple[str, BindingSpec]]] = defaultdict(list)
    for twin in definition.twins:
        for binding in twin.bindings:
            bindings[binding.connector].append((twin.id, binding))
    built: dict[str, Connector] = {}
    for name, spec in definition.connectors.items():
        cls = connector_class(spec.protocol)
        built[name] = cls(name, spec, bindings.get(name, []), sink, on_event)
        built[name].attach(sink, on_event, dead_letter)
        built[name].on_quality = on_quality
    return built
