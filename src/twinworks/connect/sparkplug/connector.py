"""Sparkplug B host application connector (protocol ``sparkplug``).

**Session.** Connects with a clean session and a will on ``spBv1.0/STATE/<host_id>``
(retained, QoS 1, ``{"online": false, "timestamp": t}``), then publishes the same
topic retained with ``{"online": true, "timestamp": t}`` -- the same ``t`` as the
will, as Sparkplug 3.0 asks -- and subscribes to ``spBv1.0/<group>/#`` for each
group. A clean stop publishes the offline STATE before it disconnects.

**Births, data, deaths.** NBIRTH/DBIRTH define each metric (name, alias, datatype,
engineering unit from the properties) and carry current values; NDATA/DDATA update
metrics by alias (or name). NDEATH (with the birth's bdSeq) and DDEATH mark the node
or device offline: its twins show ``disconnected`` and a ``ConnectorDisconnected``
event names the node or device (``ConnectorConnected`` when it is born again).

**Sequence numbers.** Every message of a node after NBIRTH carries the next number
(mod 256). A gap, data before a birth and an unknown alias make the host ask the
node for a rebirth (NCMD ``Node Control/Rebirth``); data before a birth and unknown
aliases are dead-lettered too. Requests to one node are at most one per
``_REBIRTH_HOLDOFF_S``.

**Bad input.** Each unusable message or metric becomes a dead letter with its
reason: ``not_sparkplug``, ``bad_topic``, ``oversized``, ``before_birth``,
``unknown_alias``, ``wrong_datatype``, ``datatype_changed`` (a birth that changes a
metric's datatype: the new birth is taken, the letter records the change),
``unsupported_datatype``. The other metrics of the same message are still ingested.

**Commands.** Desired values and commands are sent as NCMD/DCMD with the datatype
of the metric's birth. Sparkplug has no acknowledgement: the command has succeeded
once it is published; the node reports the new value in its next data message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from twinworks.connect.base import (
    Connector,
    IngestSink,
    Origin,
    Reading,
    StatusListener,
    register_connector,
)
from twinworks.connect.sparkplug.columns import ColumnBatch
from twinworks.connect.sparkplug.host import Endpoint, MetricDef, NodeState
from twinworks.connect.sparkplug.payload import (
    DTYPE_OF,
    DecodedMetric,
    PayloadError,
    decode,
    encode,
    field_of,
    signed,
)
from twinworks.connect.sparkplug.session import MqttSession
from twinworks.connect.sparkplug.topics import (
    NAMESPACE,
    command_topic,
    parse_topic,
    state_topic,
)
from twinworks.connect.sparkplug.wire import DataMetric, WireError, decode_data
from twinworks.errors import CommandError
from twinworks.spec.schema import BindingSpec, SparkplugBinding, SparkplugConnectorSpec

__all__ = ["REBIRTH_METRIC", "SparkplugConnector"]

log = logging.getLogger(__name__)

REBIRTH_METRIC = "Node Control/Rebirth"
_REBIRTH_HOLDOFF_S = 2.0  # one rebirth request per node at most this often
_KEEP_BYTES = 4096
_ALIVE_EVERY_S = 0.25  # how often a connected link counts as activity (twin freshness)

# (group, edge node, device or None)
_Key = tuple[str, str, str | None]
_DATA_KINDS = frozenset({"NDATA", "DDATA", "DDEATH"})


_FLOAT_FIELDS = frozenset({"double_value", "float_value"})


def _as_data(m: DecodedMetric) -> DataMetric:
    return (m.name, m.alias, m.timestamp, m.datatype, m.value, m.value_field, m.is_null)


@register_connector
class SparkplugConnector(Connector):
    protocol = "sparkplug"
    # edge nodes report by exception and say when they die (NDEATH, DDEATH): a quiet
    # metric of a living node is current, so freshness follows the link, not the value
    by_exception = True
    spec: SparkplugConnectorSpec

    def __init__(
        self,
        name: str,
        spec: SparkplugConnectorSpec,
        bindings: Sequence[tuple[str, BindingSpec]],
        sink: IngestSink,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name, spec, bindings, sink, on_status)
        self.client_id = spec.client_id or f"twinworks-{name}"
        # per node or device: the twins bound to it, each with metric name → signal
        self._routes: dict[_Key, list[tuple[str, dict[str, str]]]] = {}
        # (twin, "desired:x" / "command:x") → (endpoint key, metric name)
        self._targets: dict[tuple[str, str], tuple[_Key, str]] = {}
        self._twin_keys: dict[str, list[_Key]] = {}
        for twin_id, binding in self.bindings:
            assert isinstance(binding, SparkplugBinding)
            key = (binding.group, binding.edge_node, binding.device)
            signals = {metric: signal for signal, metric in binding.telemetry.items()}
            self._routes.setdefault(key, []).append((twin_id, signals))
            self._twin_keys.setdefault(twin_id, []).append(key)
            for dname, metric in binding.desired.items():
                self._targets[(twin_id, "desired:" + dname)] = (key, metric)
            for cname, metric in binding.commands.items():
                self._targets[(twin_id, "command:" + cname)] = (key, metric)
        # per node or device: metric name → the (twin, signal) pairs it feeds
        # and the (twin, signal) rows of the columnar batches
        self._signals: dict[_Key, dict[str, list[tuple[str, str, int]]]] = {}
        names: list[tuple[str, str]] = []
        for key, routes in self._routes.items():
            by_metric = self._signals[key] = {}
            for twin_id, signals in routes:
                for metric, signal in signals.items():
                    by_metric.setdefault(metric, []).append((twin_id, signal, len(names)))
                    names.append((twin_id, signal))
        self._names = tuple(names)
        self._bound_nodes = {(group, edge) for group, edge, _ in self._routes}
        self.groups = list(dict.fromkeys([*spec.groups, *(key[0] for key in self._routes)]))
        self.nodes: dict[tuple[str, str], NodeState] = {}
        self._session: MqttSession | None = None
        self._state_ts = 0
        self._rebirth_at: dict[tuple[str, str], float] = {}
        self._pending: set[asyncio.Future[Any]] = set()  # kept until done (weakly held)
        self._columns: ColumnBatch | None = None  # float samples of the batch in hand
        self.status.details.update(
            {
                "broker": f"{spec.host}:{spec.port}",
                "host_id": spec.host_id,
                "groups": self.groups,
                "messages": 0,
                "rebirths_requested": 0,
                "sequence_gaps": 0,
                "nodes_online": 0,
            }
        )

    # ------------------------------------------------------------------ status

    def reachable(self, twin_id: str) -> bool:
        """A twin is heard while the broker link is up and its node (and device) are born."""
        if not self.status.connected:
            return False
        for group, edge, device in self._twin_keys.get(twin_id, ()):
            endpoint = self._endpoint((group, edge, device), create=False)
            if endpoint is None or not endpoint.online:
                return False
        return True

    def _endpoint(self, key: _Key, create: bool = True) -> Endpoint | None:
        group, edge, device = key
        node = self.nodes.get((group, edge))
        if node is None:
            if not create:
                return None
            node = self.nodes[(group, edge)] = NodeState(Endpoint(group, edge, None))
        if device is None:
            return node.node
        found = node.devices.get(device)
        if found is None and create:
            found = node.devices[device] = Endpoint(group, edge, device)
        return found

    def _announce(self, endpoint: Endpoint, online: bool, why: str) -> None:
        """Report a node or device that came or went, if twins are bound to it."""
        keys = [(endpoint.group, endpoint.edge_node, endpoint.device)]
        if endpoint.device is None and not online:
            node = self.nodes.get((endpoint.group, endpoint.edge_node))
            if node is not None:
                keys += [(endpoint.group, endpoint.edge_node, d) for d in node.devices]
        twins = sorted({t for k in keys for t, _ in self._routes.get(k, ())})
        self.status.details["nodes_online"] = sum(n.node.online for n in self.nodes.values())
        if not twins or self._on_status is None:
            return
        kind = "ConnectorConnected" if online else "ConnectorDisconnected"
        scope = {"device": endpoint.device} if endpoint.device is not None else {}
        self._on_status(
            kind,
            self.name,
            {
                "protocol": self.protocol,
                "error": None if online else why,
                "node": f"{endpoint.group}/{endpoint.edge_node}",
                **scope,
                "twins": twins,
            },
        )

    # ------------------------------------------------------------------ link

    async def _run(self) -> None:
        spec = self.spec
        loop = asyncio.get_running_loop()
        password = spec.password.get_secret_value() if spec.password is not None else None
        session = MqttSession(
            loop,
            self.client_id,
            self._on_batch,
            username=spec.username,
            password=password,
            tls=spec.tls,
        )
        self.nodes.clear()  # what was known before the link dropped is not current
        self._state_ts = int(time.time() * 1000)
        try:
            await session.connect(
                spec.host, spec.port, spec.keepalive_s, will=(self._state_topic, self._state(False))
            )
            filters = [f"{NAMESPACE}/{g}/#" for g in self.groups]
            refused = await session.subscribe(filters, qos=spec.qos)
            refused += await session.subscribe([self._state_topic], qos=1)
            if refused:
                log.error("%s: the broker refused subscriptions: %s", self.name, refused)
            self.status.details["refused_subscriptions"] = refused
            await session.publish(self._state_topic, self._state(True), qos=1, retain=True)
            self._session = session
            self._set_connected(True, None)
            if spec.rebirth_on_connect:
                for group, edge, _ in self._routes:
                    self._request_rebirth(group, edge, "host connected")
            # asyncio.wait leaves the future alone when a stop cancels this task: the
            # session must still be open then. Meanwhile the link is alive as long as
            # paho keeps it (its keep-alive pings).
            while not session.closed.done():
                await asyncio.wait({session.closed}, timeout=_ALIVE_EVERY_S)
                if session.client.is_connected():
                    self.status.last_activity = time.time()
            why = session.closed.result()
            raise ConnectionError(f"connection to {spec.host}:{spec.port} lost: {why}")
        finally:
            if self._session is session:
                self._session = None
                for node in self.nodes.values():
                    node.next_seq = None
            if not session.closed.done() and session.client.is_connected():
                # a clean stop: say so before the will would
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        session.publish(self._state_topic, self._state(False), 1, True), 2.0
                    )
            await asyncio.get_running_loop().run_in_executor(None, session.close)

    @property
    def _state_topic(self) -> str:
        return state_topic(self.spec.host_id)

    def _state(self, online: bool) -> bytes:
        return orjson.dumps({"online": online, "timestamp": self._state_ts})

    # ------------------------------------------------------------------ messages

    def _on_batch(self, batch: list[tuple[str, bytes]]) -> None:
        """Turn a batch of messages into readings, dead letters and rebirth requests."""
        readings: list[Reading] = []
        columns = self._columns = ColumnBatch()
        bound = self._bound_nodes
        arrival = time.time()
        self.status.last_activity = arrival
        self.status.details["messages"] += len(batch)
        limit = self.spec.max_payload_bytes
        for topic, payload in batch:
            if topic == self._state_topic:
                self._on_own_state(payload)
                continue
            if len(payload) > limit:
                self.dead_letter(
                    "oversized",
                    f"{topic}: the payload is {len(payload)} bytes, more than "
                    f"max_payload_bytes ({limit})",
                    payload[:_KEEP_BYTES],
                    topic=topic,
                    size=len(payload),
                )
                continue
            try:
                parts = parse_topic(topic)
            except ValueError as exc:
                if topic.startswith(f"{NAMESPACE}/STATE/"):
                    continue  # other host applications' STATE
                self.dead_letter("bad_topic", str(exc), payload[:_KEEP_BYTES], topic=topic)
                continue
            if parts.kind in ("NCMD", "DCMD"):
                continue  # commands: ours, or another host's
            if (parts.group, parts.edge_node) not in bound:
                self.status.details["ignored"] = self.status.details.get("ignored", 0) + 1
                continue  # a node no twin is bound to
            key = (parts.group, parts.edge_node, parts.device)
            kind = parts.kind
            try:
                if kind in _DATA_KINDS:
                    try:
                        stamp, seq, metrics = decode_data(payload)
                    except WireError:  # the protobuf runtime accepts it, or says why not
                        full = decode(payload)
                        stamp, seq = full.timestamp, full.seq
                        metrics = [_as_data(m) for m in full.metrics]
                else:
                    decoded = decode(payload)
            except PayloadError as exc:
                routes = self._routes.get(key)
                self.dead_letter(
                    exc.reason,
                    f"{topic}: {exc}",
                    payload[:_KEEP_BYTES],
                    twin_id=routes[0][0] if routes else None,
                    topic=topic,
                )
                continue
            origin = Origin(payload, topic)
            before = len(readings)
            try:
                if kind in _DATA_KINDS:
                    self._data(key, kind, stamp, seq, metrics, origin, arrival, readings)
                elif kind == "NBIRTH":
                    self._node_birth(key, decoded, origin, arrival, readings)
                elif kind == "NDEATH":
                    self._node_death(key, decoded, origin)
                else:  # DBIRTH
                    self._device_birth(key, decoded, origin, arrival, readings)
            except Exception as exc:  # a message we fail on must not stop the others
                log.exception("%s: cannot handle the message on %s", self.name, topic)
                del readings[before:]
                columns.forget(origin)
                self.dead_letter(
                    "unreadable",
                    f"{topic}: the message could not be handled ({type(exc).__name__}: {exc})",
                    payload[:_KEEP_BYTES],
                    topic=topic,
                )
        self._columns = None
        if readings:
            self.status.readings += len(readings)
            self._track(asyncio.ensure_future(self.sink(readings, self.name)))
        if columns.series:
            self.status.readings += len(columns.series)
            arrays = columns.readings(self._names)
            self._track(asyncio.ensure_future(self.sink(arrays, self.name)))

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._pending.add(future)
        future.add_done_callback(self._submitted)

    def _submitted(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("%s: readings not stored: %s", self.name, error)

    def _on_own_state(self, payload: bytes) -> None:
        # Sparkplug 3.0: a host that sees itself declared offline says it is online again
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            doc = orjson.loads(payload)
            if doc.get("online") is False and self._session is not None:
                session = self._session
                self._track(
                    asyncio.ensure_future(
                        session.publish(self._state_topic, self._state(True), 1, True)
                    )
                )

    def _node_birth(
        self,
        key: _Key,
        decoded: Any,
        origin: Origin,
        arrival: float,
        readings: list[Reading],
    ) -> None:
        group, edge, _ = key
        node = self.nodes.get((group, edge))
        if node is None:
            node = self.nodes[(group, edge)] = NodeState(Endpoint(group, edge, None))
        for device in node.devices.values():
            device.online = False  # they are born again after the node
        node.next_seq = ((decoded.seq or 0) + 1) % 256
        node.bd_seq = next(
            (int(m.value) for m in decoded.metrics if m.name == "bdSeq" and m.value is not None),
            None,
        )
        self._birth(node.node, decoded, origin, arrival, readings)

    def _device_birth(
        self,
        key: _Key,
        decoded: Any,
        origin: Origin,
        arrival: float,
        readings: list[Reading],
    ) -> None:
        group, edge, _ = key
        node = self.nodes.get((group, edge))
        if node is None or node.next_seq is None:
            self._before_birth(key, origin, "DBIRTH of a node that has not been born")
            return
        expected = node.next_seq
        if not node.check_seq(decoded.seq):
            self._gap(key, decoded.seq, expected)
        endpoint = self._endpoint(key)
        assert endpoint is not None
        self._birth(endpoint, decoded, origin, arrival, readings)

    def _birth(
        self,
        endpoint: Endpoint,
        decoded: Any,
        origin: Origin,
        arrival: float,
        readings: list[Reading],
    ) -> None:
        metrics: list[MetricDef] = []
        unnamed = 0
        for m in decoded.metrics:
            if m.name is None or m.datatype is None:
                unnamed += 1
                continue
            metrics.append(MetricDef(m.name, m.alias, m.datatype, m.unit, field_of(m.datatype)))
        changed = endpoint.rebirth(metrics)
        what = "NBIRTH" if endpoint.device is None else "DBIRTH"
        if changed:
            self.dead_letter(
                "datatype_changed",
                f"{origin.topic}: the {what} of {endpoint.label} changes the datatype of "
                + ", ".join(f"{m.name!r} from {old} to {m.datatype}" for m, old in changed)
                + "; values are taken with the new datatype",
                origin.payload,
                twin_id=self._first_twin(endpoint),
                topic=origin.topic,
            )
        if unnamed:
            self.dead_letter(
                "bad_birth",
                f"{origin.topic}: {unnamed} metric(s) of the {what} of {endpoint.label} have "
                "no name or no datatype (a birth must give both)",
                origin.payload,
                twin_id=self._first_twin(endpoint),
                topic=origin.topic,
            )
        self._announce(endpoint, True, what)
        values = [_as_data(m) for m in decoded.metrics]
        self._readings(endpoint, decoded.timestamp, values, origin, arrival, readings)

    def _node_death(self, key: _Key, decoded: Any, origin: Origin) -> None:
        group, edge, _ = key
        node = self.nodes.get((group, edge))
        if node is None or not node.node.online:
            return
        bd_seq = next(
            (int(m.value) for m in decoded.metrics if m.name == "bdSeq" and m.value is not None),
            None,
        )
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            # the will of an earlier session, delivered late: the node is alive
            log.info("%s: NDEATH of %s/%s with an old bdSeq %s", self.name, group, edge, bd_seq)
            return
        node.next_seq = None
        node.node.online = False
        for device in node.devices.values():
            device.online = False
        self._announce(node.node, False, f"NDEATH of {group}/{edge}")

    def _data(
        self,
        key: _Key,
        kind: str,
        stamp: int | None,
        seq: int | None,
        metrics: list[DataMetric],
        origin: Origin,
        arrival: float,
        readings: list[Reading],
    ) -> None:
        group, edge, device = key
        node = self.nodes.get((group, edge))
        if node is None or node.next_seq is None:
            self._before_birth(key, origin, f"{kind} of a node that has not been born")
            return
        expected = node.next_seq
        if not node.check_seq(seq):
            self._gap(key, seq, expected)
        endpoint = node.node if device is None else node.devices.get(device)
        if endpoint is None or not endpoint.online:
            if kind != "DDEATH":
                self._before_birth(key, origin, f"{kind} of a device that has not been born")
            return
        if kind == "DDEATH":
            endpoint.online = False
            self._announce(endpoint, False, f"DDEATH of {endpoint.label}")
            return
        self._readings(endpoint, stamp, metrics, origin, arrival, readings, self._columns)

    def _readings(
        self,
        endpoint: Endpoint,
        stamp: int | None,
        metrics: list[DataMetric],
        origin: Origin,
        arrival: float,
        out: list[Reading],
        columns: ColumnBatch | None = None,
    ) -> None:
        """Readings of the bound metrics; the rest are checked against the birth only.

        With ``columns``, float values go there (the runtime checks them as arrays).
        """
        targets = self._signals.get((endpoint.group, endpoint.edge_node, endpoint.device))
        by_alias, by_name = endpoint.by_alias, endpoint.by_name
        unknown: list[str] = []
        mistyped: list[str] = []
        unsupported: list[str] = []
        base_ts = stamp / 1000 if stamp is not None else arrival
        new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
        for name, alias, ts, datatype, value, field, is_null in metrics:
            known = by_alias.get(alias) if alias is not None else None
            if known is None and name is not None:
                known = by_name.get(name)
            if known is None:
                unknown.append(str(alias if name is None else name))
                continue
            pairs = targets.get(known.name) if targets else None
            if pairs is None:
                continue  # not bound to a twin: the alias check is all there is to do
            if (field is not None and field != known.field) or (
                datatype is not None and datatype != known.datatype
            ):
                got = datatype or (field or "").replace("_value", "")
                mistyped.append(f"{known.name!r} ({got}, born {known.datatype})")
                continue
            if is_null:
                continue  # a null value: nothing to store
            if known.signed:
                value = signed(value, known.datatype)
            if known.datatype not in DTYPE_OF:
                unsupported.append(f"{known.name!r} ({known.datatype})")
                continue
            at = ts / 1000 if ts is not None else base_ts
            if columns is not None and field in _FLOAT_FIELDS:
                numbers = columns.samples[columns.message(origin)]
                for _, _, row in pairs:
                    numbers.append(len(columns.series))
                    columns.series.append(row)
                    columns.ts.append(at)
                    columns.values.append(value)
                continue
            for twin_id, signal, _ in pairs:
                out.append(new(Reading, (twin_id, signal, at, value, None, origin)))
        where = f"{origin.topic}"
        twin = self._first_twin(endpoint)
        if unknown:
            self.dead_letter(
                "unknown_alias",
                f"{where}: metric(s) {', '.join(unknown)} are not in the birth certificate of "
                f"{endpoint.label}; a rebirth is requested",
                origin.payload,
                twin_id=twin,
                topic=origin.topic,
            )
            self._request_rebirth(endpoint.group, endpoint.edge_node, "unknown alias")
        if mistyped:
            self.dead_letter(
                "wrong_datatype",
                f"{where}: value(s) of another datatype than the birth declared: "
                + ", ".join(mistyped),
                origin.payload,
                twin_id=twin,
                topic=origin.topic,
            )
        if unsupported:
            self.dead_letter(
                "unsupported_datatype",
                f"{where}: metric(s) of a datatype twins cannot hold: " + ", ".join(unsupported),
                origin.payload,
                twin_id=twin,
                topic=origin.topic,
            )

    def _first_twin(self, endpoint: Endpoint) -> str | None:
        routes = self._routes.get((endpoint.group, endpoint.edge_node, endpoint.device))
        return routes[0][0] if routes else None

    def _before_birth(self, key: _Key, origin: Origin, what: str) -> None:
        group, edge, _ = key
        routes = self._routes.get(key)
        self.dead_letter(
            "before_birth",
            f"{origin.topic}: {what}; its metrics are unknown until it is born "
            "(a rebirth is requested)",
            origin.payload,
            twin_id=routes[0][0] if routes else None,
            topic=origin.topic,
        )
        self._request_rebirth(group, edge, "data before birth")

    def _gap(self, key: _Key, seq: int | None, expected: int | None) -> None:
        group, edge, _ = key
        self.status.details["sequence_gaps"] += 1
        log.warning(
            "%s: sequence gap from %s/%s: got %s, expected %s; requesting a rebirth",
            self.name,
            group,
            edge,
            seq,
            expected,
        )
        self._request_rebirth(group, edge, "sequence gap")

    def _request_rebirth(self, group: str, edge: str, why: str) -> None:
        session = self._session
        if session is None:
            return
        now = time.monotonic()
        last = self._rebirth_at.get((group, edge))
        if last is not None and now - last < _REBIRTH_HOLDOFF_S:
            return
        self._rebirth_at[(group, edge)] = now
        self.status.details["rebirths_requested"] += 1
        log.info("%s: asking %s/%s for a rebirth (%s)", self.name, group, edge, why)
        payload = encode(
            [{"name": REBIRTH_METRIC, "datatype": "Boolean", "value": True}],
            timestamp=int(time.time() * 1000),
        )
        self._track(
            asyncio.ensure_future(session.publish(command_topic(group, edge, None), payload, 0))
        )

    # ------------------------------------------------------------------ commands

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        await self._command(twin_id, "desired:" + name, f"{twin_id}.{name}", value)

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        what = f"{twin_id}.{name}()"
        if len(args) > 1:
            raise CommandError(
                f"{what}: a Sparkplug command writes one metric; got arguments {sorted(args)}"
            )
        value = next(iter(args.values())) if args else None
        await self._command(twin_id, "command:" + name, what, value)
        return None

    async def _command(self, twin_id: str, target: str, what: str, value: Any) -> None:
        found = self._targets.get((twin_id, target))
        if found is None:
            raise CommandError(f"{what}: the Sparkplug binding does not carry it (not declared)")
        key, metric = found
        session = self._session
        if session is None or not self.status.connected:
            raise CommandError(
                f"{what}: not connected to the broker at {self.spec.host}:{self.spec.port}"
            )
        endpoint = self._endpoint(key, create=False)
        label = "/".join(k for k in key if k is not None)
        if endpoint is None or not endpoint.online:
            raise CommandError(f"{what}: {label} is offline (no birth since its last death)")
        known = endpoint.by_name.get(metric)
        if known is None:
            raise CommandError(f"{what}: metric {metric!r} is not in the birth of {label}")
        if value is None:
            if known.datatype != "Boolean":
                raise CommandError(
                    f"{what}: metric {metric!r} is a {known.datatype}; the command needs a value"
                )
            value = True
        try:
            payload = encode(
                [{"name": metric, "datatype": known.datatype, "value": value}],
                timestamp=int(time.time() * 1000),
            )
        except ValueError as exc:
            raise CommandError(f"{what}: {exc}") from None
        try:
            await session.publish(command_topic(*key), payload, qos=0)
        except ConnectionError as exc:
            raise CommandError(f"{what}: {exc}") from None
