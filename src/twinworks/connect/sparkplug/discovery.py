"""Discovery: listen to the births on a broker and write a twin definition from them.

Each device (DBIRTH) becomes a twin, and so does an edge node whose NBIRTH carries
metrics of its own (beyond ``bdSeq`` and ``Node Control/*``). Twins whose births
declare the same metrics (names and datatypes) share a type. Nodes heard without a
birth (their data only) are asked for a rebirth unless ``rebirth`` is off.

Metric names become signal names: characters a twin definition does not allow in a
name (``/``, spaces, ...) become ``_``; the binding keeps the original name.
Datatypes twins cannot hold (DataSet, Template, Bytes, File, arrays) are left out and
listed in the type's description.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

from twinworks.connect.sparkplug.connector import REBIRTH_METRIC
from twinworks.connect.sparkplug.payload import DTYPE_OF, PayloadError, decode, encode
from twinworks.connect.sparkplug.session import MqttSession
from twinworks.connect.sparkplug.topics import NAMESPACE, command_topic, parse_topic
from twinworks.spec.schema import TlsSpec
from twinworks.spec.units import UnitError, check_unit

__all__ = ["Discovered", "definition_from_births", "discover", "signal_name"]

_NOT_SIGNALS = ("bdSeq", "Node Control/", "Device Control/", "Properties/")


@dataclass
class Discovered:
    """What was heard: births per (edge node, device or None), and nodes heard unborn."""

    group: str
    births: dict[tuple[str, str | None], list[Any]] = field(default_factory=dict)
    unborn: set[str] = field(default_factory=set)


def signal_name(metric: str) -> str:
    """A metric name as a signal name of a twin definition (letters, digits, _ . -)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_.-") or "metric"
    if not name[0].isalpha():
        name = "m_" + name
    return name[:128]


async def discover(
    host: str,
    port: int,
    group: str,
    seconds: float,
    *,
    rebirth: bool = True,
    username: str | None = None,
    password: str | None = None,
    tls: TlsSpec | None = None,
) -> Discovered:
    """Listen on ``spBv1.0/<group>/#`` for ``seconds`` and collect the births."""
    found = Discovered(group)
    asked: set[str] = set()
    loop = asyncio.get_running_loop()
    session: MqttSession
    requests: set[asyncio.Task[None]] = set()  # kept until done (the loop holds weak refs)

    def on_batch(batch: list[tuple[str, bytes]]) -> None:
        for topic, payload in batch:
            try:
                parts = parse_topic(topic)
                decoded = decode(payload)
            except (ValueError, PayloadError):
                continue
            if parts.kind in ("NBIRTH", "DBIRTH"):
                found.births[(parts.edge_node, parts.device)] = decoded.metrics
                found.unborn.discard(parts.edge_node)
            elif parts.kind in ("NDATA", "DDATA") and (parts.edge_node, None) not in found.births:
                found.unborn.add(parts.edge_node)
                if rebirth and parts.edge_node not in asked:
                    asked.add(parts.edge_node)
                    request = encode(
                        [{"name": REBIRTH_METRIC, "datatype": "Boolean", "value": True}],
                        timestamp=int(time.time() * 1000),
                    )
                    task = loop.create_task(
                        session.publish(command_topic(group, parts.edge_node, None), request)
                    )
                    requests.add(task)
                    task.add_done_callback(requests.discard)

    session = MqttSession(
        loop,
        f"twinworks-discover-{int(time.time())}",
        on_batch,
        username=username,
        password=password,
        tls=tls,
    )
    await session.connect(host, port, 30)
    try:
        refused = await session.subscribe([f"{NAMESPACE}/{group}/#"])
        if refused:
            raise ConnectionError(f"the broker refused the subscription {refused[0]}")
        await asyncio.sleep(seconds)
    finally:
        await loop.run_in_executor(None, session.close)
    return found


def _signals(metrics: list[Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(telemetry specs, signal → metric name, left-out metrics) of one birth."""
    telemetry: dict[str, Any] = {}
    names: dict[str, str] = {}
    skipped: list[str] = []
    for m in metrics:
        if m.name is None or m.datatype is None or m.name.startswith(_NOT_SIGNALS):
            continue
        dtype = DTYPE_OF.get(m.datatype)
        if dtype is None:
            skipped.append(f"{m.name} ({m.datatype})")
            continue
        signal = base = signal_name(m.name)
        n = 2
        while signal in telemetry:
            signal, n = f"{base}_{n}", n + 1
        spec: dict[str, Any] = {"dtype": dtype}
        if m.unit:
            try:
                check_unit(m.unit)
                spec["unit"] = m.unit
            except UnitError:
                spec["description"] = f"unit {m.unit!r} (not a known unit)"
        if m.datatype == "DateTime":
            spec["description"] = "DateTime: milliseconds since the epoch"
        telemetry[signal] = spec
        names[signal] = m.name
    return telemetry, names, skipped


def definition_from_births(
    found: Discovered,
    host: str,
    port: int,
    connector: str = "sparkplug",
    host_id: str = "twinworks",
) -> dict[str, Any]:
    """A twin definition (as a dict ready for YAML) from discovered births."""
    types: dict[str, Any] = {}
    type_of_shape: dict[Any, str] = {}
    twins: list[dict[str, Any]] = []
    taken: set[str] = set()
    devices = [d for _, d in found.births if d is not None]
    ordered = sorted(found.births.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    for (node, device), metrics in ordered:
        telemetry, names, skipped = _signals(metrics)
        if not telemetry:
            continue
        shape = tuple(sorted((s, spec["dtype"]) for s, spec in telemetry.items()))
        type_name = type_of_shape.get(shape)
        if type_name is None:
            stem = signal_name(re.sub(r"[\d_.-]+$", "", device or node) or "asset")
            type_name, n = stem, 2
            while type_name in types:
                type_name, n = f"{stem}_{n}", n + 1
            type_of_shape[shape] = type_name
            description = f"from the {'DBIRTH' if device else 'NBIRTH'} of {found.group}/{node}"
            description += f"/{device}" if device else ""
            if skipped:
                description += "; not covered: " + ", ".join(skipped)
            types[type_name] = {"description": description, "telemetry": telemetry}
        label = device if device is not None else node
        twin_id = signal_name(label if devices.count(label) <= 1 else f"{node}_{label}")
        base, n = twin_id, 2
        while twin_id in taken:
            twin_id, n = f"{base}_{n}", n + 1
        taken.add(twin_id)
        binding: dict[str, Any] = {"connector": connector, "group": found.group, "edge_node": node}
        if device is not None:
            binding["device"] = device
        binding["telemetry"] = names
        twins.append({"id": twin_id, "type": type_name, "bindings": [binding]})
    return {
        "name": f"sparkplug-{found.group}",
        "description": f"discovered from the Sparkplug B births of group {found.group} "
        f"on {host}:{port}",
        "connectors": {
            connector: {"protocol": "sparkplug", "host": host, "port": port, "host_id": host_id}
        },
        "types": types,
        "twins": twins,
    }
