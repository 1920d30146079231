"""OPC UA connector (asyncua): subscriptions in, typed writes and method calls out.

Telemetry arrives through one OPC UA subscription (the server pushes changes; we
never poll). When the server goes away, asyncua's watchdog notices, the link is torn
down, and :class:`~twinworks.connect.base.Connector` reconnects with back-off and
subscribes again. Values carry the server's SourceTimestamp, so the store keeps the
time at which the asset measured them, not the time we received them.

On every connection the node ids of the bindings are resolved again: ``nsu=`` ids
through the server's namespace array, so that a server whose namespace indexes
moved is still read right. A value's OPC UA status is kept as the signal's quality
(good, uncertain, bad): see :meth:`Connector.report_quality`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asyncua import Client, Node, ua

from twinworks.connect.base import (
    Connector,
    IngestSink,
    Reading,
    StatusListener,
    register_connector,
)
from twinworks.connect.opcua.diagnose import diagnose_connect_error
from twinworks.connect.opcua.nodes import (
    enum_names,
    is_integer_node,
    resolve,
    to_expanded,
    variant_type_of,
)
from twinworks.connect.opcua.values import (
    ConversionError,
    from_ua,
    quality_of,
    to_variant,
    typed_arguments,
)
from twinworks.errors import CommandError
from twinworks.spec.nodeids import ParsedNodeId, parse_node_id
from twinworks.spec.schema import BindingSpec, OpcUaBinding, OpcUaConnectorSpec

__all__ = ["OpcUaConnector"]

log = logging.getLogger(__name__)

# asyncua logs every reconnect attempt at WARNING with a traceback; our supervisor
# reports the same facts once, as events and in the connector status
for _noisy in (
    "asyncua.client.client",
    "asyncua.client.ua_client",
    "asyncua.client.ua_session",
    "asyncua.common.subscription",
):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)

# an identical conversion failure is kept once, then counted and summarised this often
REPEAT_SUMMARY_S = 60.0


@dataclass(frozen=True)
class _Target:
    """One signal fed by a node: which element of it, and how its codes become names."""

    twin_id: str
    signal: str
    index: int | None
    enum: dict[int, str] | bool | None
    keep_uncertain: bool


@dataclass
class _Repeats:
    count: int = 0
    since: float = 0.0


class _Handler:
    """Receives data changes and forwards them to the sink in batches."""

    def __init__(self, connector: OpcUaConnector, by_node: dict[ua.NodeId, list[_Target]]) -> None:
        self._connector = connector
        self._by_node = by_node
        self._pending: list[Reading] = []
        self._loop = asyncio.get_running_loop()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        targets = self._by_node.get(node.nodeid)
        if not targets:
            return
        value = data.monitored_item.Value
        quality = quality_of(value.StatusCode)
        ts = _epoch(value.SourceTimestamp) or _epoch(value.ServerTimestamp) or time.time()
        variant = value.Value
        vtype = variant.VariantType if variant is not None else None
        for target in targets:
            self._connector._signal(target, node.nodeid, ts, val, vtype, quality, value.StatusCode)

    def add(self, reading: Reading) -> None:
        if not self._pending:
            # one flush per burst of notifications from one publish response
            self._loop.call_soon(self._flush)
        self._pending.append(reading)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self._connector.status.readings += len(batch)
            self._connector.status.last_activity = time.time()
            self._connector.sink(batch, self._connector.name)

    def status_change_notification(self, status: Any) -> None:
        log.info("%s: subscription status %s", self._connector.name, status)


def _epoch(stamp: Any) -> float | None:
    if stamp is None:
        return None
    return float(from_ua(stamp, ua.VariantType.DateTime))


@register_connector
class OpcUaConnector(Connector):
    protocol = "opcua"
    by_exception = True
    spec: OpcUaConnectorSpec

    HEALTH_PROBE_S = 2.0

    def __init__(
        self,
        name: str,
        spec: OpcUaConnectorSpec,
        bindings: Sequence[tuple[str, BindingSpec]],
        sink: IngestSink,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name, spec, bindings, sink, on_status)
        # node ids as written; resolved against the server's namespaces on each connection
        self._telemetry: dict[ParsedNodeId, list[_Target]] = {}
        self._desired: dict[tuple[str, str], ParsedNodeId] = {}
        self._methods: dict[tuple[str, str], tuple[ParsedNodeId, ParsedNodeId]] = {}
        for twin_id, binding in self.bindings:
            assert isinstance(binding, OpcUaBinding)
            keep = binding.uncertain == "keep"
            for signal, entry in binding.telemetry.items():
                target = _Target(twin_id, signal, entry.index, entry.enum, keep)
                self._telemetry.setdefault(parse_node_id(entry.node), []).append(target)
            for dname, node_id in binding.desired.items():
                self._desired[(twin_id, dname)] = parse_node_id(node_id)
            for cname, method in binding.commands.items():
                self._methods[(twin_id, cname)] = (
                    parse_node_id(method.object),
                    parse_node_id(method.method),
                )
        self._client: Client | None = None
        self._namespaces: list[str] = []
        self._handler: _Handler | None = None
        self._names: dict[tuple[ua.NodeId, _Target], dict[int, str] | None] = {}
        self._quality: dict[tuple[str, str], str] = {}
        self._written: dict[ua.NodeId, list[str]] = {}  # resolved id → the ids as written
        self._repeats: dict[tuple[str, str, str], _Repeats] = {}
        self._variant_types: dict[ua.NodeId, ua.VariantType] = {}
        self._arguments: dict[ua.NodeId, list[tuple[str, ua.VariantType]]] = {}

    # ----------------------------------------------------------------- values in

    def _signal(
        self,
        target: _Target,
        node_id: ua.NodeId,
        ts: float,
        val: Any,
        vtype: ua.VariantType | None,
        quality: str,
        status: ua.StatusCode | None,
    ) -> None:
        detail = None if status is None or quality == "good" else status.name
        if quality == "bad" or (quality == "uncertain" and not target.keep_uncertain):
            # a Bad value is whatever the device left in the register: never a measurement
            self._set_quality(target, ts, quality, detail)
            return
        try:
            names = self._names.get((node_id, target))
            value = from_ua(val, vtype, index=target.index, names=names)
        except ConversionError as exc:
            self._conversion_failed(target, node_id, val, exc)
            return
        self._set_quality(target, ts, quality, detail)
        if self._handler is not None:
            self._handler.add(Reading(target.twin_id, target.signal, ts, value))

    def _set_quality(self, target: _Target, ts: float, quality: str, detail: str | None) -> None:
        key = (target.twin_id, target.signal)
        if self._quality.get(key, "good") != quality:
            self._quality[key] = quality
            self.report_quality(target.twin_id, target.signal, ts, quality, detail)

    def _conversion_failed(
        self, target: _Target, node_id: ua.NodeId, val: Any, exc: ConversionError
    ) -> None:
        """Keep the first failure as a dead letter; count repeats and summarise them."""
        key = (target.twin_id, target.signal, exc.reason)
        now = time.monotonic()
        repeats = self._repeats.get(key)
        node = to_expanded(node_id, self._namespaces)
        message = f"{target.twin_id}.{target.signal} from {node}: {exc}"
        if repeats is None:
            self._repeats[key] = _Repeats(0, now)
        elif now - repeats.since < REPEAT_SUMMARY_S:
            repeats.count += 1
            return
        else:
            message = f"{message} (and {repeats.count} more like it in {now - repeats.since:.0f} s)"
            repeats.count, repeats.since = 0, now
        payload = json.dumps({"node": node, "value": repr(val)[:200]}).encode()
        self.dead_letter(exc.reason, message, payload, twin_id=target.twin_id, topic=node)

    # ----------------------------------------------------------------- the link

    async def _run(self) -> None:
        client = Client(self.spec.endpoint, timeout=self.spec.request_timeout_s)
        if self.spec.security is not None:
            from twinworks.security.opcua import secure_client

            await secure_client(client, self.spec.security)
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            log.info("%s: connection lost: %s", self.name, exc)
            lost.set()

        client.connection_lost_callback = on_lost
        try:
            await client.connect()
        except Exception as exc:
            client.disconnect_socket()
            await self._refused(await diagnose_connect_error(exc, self.spec))
        self.status.details.pop("error_kind", None)
        try:
            self._namespaces = await client.get_namespace_array()
            by_node, unresolved = await self._resolve_telemetry(client)
            self._handler = _Handler(self, by_node)
            subscription = await client.create_subscription(
                self.spec.publishing_interval_ms, self._handler
            )
            nodes = [client.get_node(node_id) for node_id in by_node]
            if nodes:
                handles = await subscription.subscribe_data_change(nodes)
                for node, handle in zip(nodes, handles, strict=True):
                    if isinstance(handle, ua.StatusCode):
                        unresolved[self._written_as(node.nodeid)] = handle.name
                        for target in by_node[node.nodeid]:
                            self._set_quality(target, time.time(), "bad", handle.name)
            self.status.details["unresolved_nodes"] = [f"{k} ({v})" for k, v in unresolved.items()]
            if unresolved:
                log.warning("%s: nodes the server does not have: %s", self.name, unresolved)
            self._client = client
            self._set_connected(True, None)
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self.HEALTH_PROBE_S)
                except TimeoutError:
                    # values that do not change send nothing; a cheap read proves the
                    # server is alive so that the twins are not shown as stale
                    await asyncio.wait_for(
                        client.nodes.server_state.read_value(), self.spec.request_timeout_s
                    )
                    self.status.last_activity = time.time()
            raise ConnectionError(f"lost the connection to {self.spec.endpoint}")
        finally:
            self._client = None
            self._handler = None
            self._variant_types.clear()
            self._arguments.clear()
            try:
                await asyncio.wait_for(client.disconnect(), timeout=2)
            except Exception:  # the server is gone; nothing to close politely
                client.disconnect_socket()

    async def _refused(self, diagnosis: tuple[str, str | None]) -> None:
        """Show why the server refused us; wait long before asking again when retrying is futile."""
        message, kind = diagnosis
        if kind is None:
            raise ConnectionError(message)
        # a wrong password or certificate does not fix itself: say so and ask rarely,
        # so that the server's log (and an account lockout) are not flooded
        self.status.last_error = message
        self.status.details["error_kind"] = kind
        log.error("%s: %s", self.name, message)
        max_s = self.spec.reconnect.max_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max_s)
        raise ConnectionRefusedError(message)

    async def _resolve_telemetry(
        self, client: Client
    ) -> tuple[dict[ua.NodeId, list[_Target]], dict[str, str]]:
        by_node: dict[ua.NodeId, list[_Target]] = {}
        unresolved: dict[str, str] = {}
        self._names.clear()
        self._written.clear()
        for parsed, targets in self._telemetry.items():
            try:
                node_id = resolve(parsed, self._namespaces)
            except LookupError as exc:
                unresolved[parsed.text()] = str(exc)
                for target in targets:
                    self._set_quality(target, time.time(), "bad", "BadNodeIdUnknown")
                continue
            # nsu= and ns= forms of one node, or one node bound twice: one subscription
            by_node.setdefault(node_id, []).extend(targets)
            self._written.setdefault(node_id, []).append(parsed.text())
            wanted = [t for t in targets if t.enum is not False]
            if not wanted:
                continue
            found = None
            if any(t.enum is not None for t in wanted) or await is_integer_node(
                client.get_node(node_id)
            ):
                found = await enum_names(client.get_node(node_id))
            for target in wanted:
                if isinstance(target.enum, dict):
                    self._names[(node_id, target)] = target.enum
                elif found is not None:
                    self._names[(node_id, target)] = found
                elif target.enum is True:
                    unresolved[parsed.text()] = "has no EnumStrings or EnumValues for enum: true"
        return by_node, unresolved

    def _written_as(self, node_id: ua.NodeId) -> str:
        """A node as the definition wrote it, and what that means on this server if it differs."""
        here = to_expanded(node_id, self._namespaces)
        written = self._written.get(node_id) or [here]
        return ", ".join(w if w == here else f"{w} (here: {here})" for w in written)

    # ----------------------------------------------------------------- values out

    def _connected_client(self, what: str) -> Client:
        client = self._client
        if client is None or not self.status.connected:
            raise CommandError(f"{what}: not connected to {self.spec.endpoint}")
        return client

    def _resolved(self, parsed: ParsedNodeId, what: str) -> ua.NodeId:
        try:
            return resolve(parsed, self._namespaces)
        except LookupError as exc:
            raise CommandError(f"{what}: {exc}") from None

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        parsed = self._desired.get((twin_id, name))
        what = f"{twin_id}.{name}"
        if parsed is None:
            raise CommandError(f"{what}: no OPC UA node is bound for this desired value")
        client = self._connected_client(what)
        node = client.get_node(self._resolved(parsed, what))
        try:
            vtype = self._variant_types.get(node.nodeid)
            if vtype is None:
                vtype = await variant_type_of(node)
                self._variant_types[node.nodeid] = vtype
            variant = to_variant(value, vtype, f"{what} ({parsed.text()})")
            await node.write_value(ua.DataValue(variant))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except ua.UaStatusCodeError as exc:
            raise CommandError(
                f"{what}: the server refused the write to {parsed.text()}: "
                f"{type(exc).__name__} ({exc})"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"{what}: write failed: {type(exc).__name__} {exc}") from None

    async def _input_arguments(self, method: Node) -> list[tuple[str, ua.VariantType]]:
        known = self._arguments.get(method.nodeid)
        if known is None:
            known = []
            try:
                prop = await method.get_child("0:InputArguments")
                declared = await prop.read_value()
            except ua.UaStatusCodeError:
                declared = []  # a method without arguments has no InputArguments property
            for arg in declared or []:
                vtype = await variant_type_of(method, arg.DataType)
                known.append((arg.Name, vtype))
            self._arguments[method.nodeid] = known
        return known

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        target = self._methods.get((twin_id, name))
        what = f"{twin_id}.{name}()"
        if target is None:
            raise CommandError(f"{what}: no OPC UA method is bound for this command")
        client = self._connected_client(what)
        object_id = self._resolved(target[0], what)
        method_id = self._resolved(target[1], what)
        try:
            declared = await self._input_arguments(client.get_node(method_id))
            variants = typed_arguments(what, declared, args)
            return await client.get_node(object_id).call_method(method_id, *variants)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except ua.UaStatusCodeError as exc:
            raise CommandError(
                f"{what}: the server refused the call: {type(exc).__name__} ({exc})"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"{what}: call failed: {type(exc).__name__} {exc}") from None
