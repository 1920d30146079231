"""OPC UA connector (asyncua): subscriptions in, writes and method calls out.

Telemetry arrives through one OPC UA subscription (the server pushes changes; we
never poll). When the server goes away, asyncua's watchdog notices, the link is torn
down, and :class:`~twinworks.connect.base.Connector` reconnects with back-off and
subscribes again. Values carry the server's SourceTimestamp, so the store keeps the
time at which the asset measured them, not the time we received them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, Node, ua

from twinworks.connect.base import (
    Connector,
    IngestSink,
    Reading,
    StatusListener,
    register_connector,
)
from twinworks.errors import CommandError
from twinworks.spec.schema import BindingSpec, OpcUaBinding, OpcUaConnectorSpec

__all__ = ["OpcUaConnector"]

log = logging.getLogger(__name__)

# asyncua logs every reconnect attempt at WARNING with a traceback; our supervisor
# reports the same facts once, as events and in the connector status
for _noisy in ("asyncua.client.client", "asyncua.client.ua_client", "asyncua.common.subscription"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


def _epoch(stamp: datetime | None) -> float | None:
    if stamp is None:
        return None
    # OPC UA times are UTC; asyncua may hand them over without a tzinfo
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


class _Handler:
    """Receives data changes and forwards them to the sink in batches."""

    def __init__(self, connector: OpcUaConnector) -> None:
        self._connector = connector
        self._pending: list[Reading] = []
        self._loop = asyncio.get_running_loop()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        target = self._connector._by_node.get(node.nodeid)
        if target is None:
            return
        value = data.monitored_item.Value
        status = value.StatusCode
        if status is not None and not status.is_good():
            log.debug("%s: %s reported status %s", self._connector.name, node.nodeid, status)
            return
        ts = _epoch(value.SourceTimestamp) or _epoch(value.ServerTimestamp) or time.time()
        if not self._pending:
            # one flush per burst of notifications from one publish response
            self._loop.call_soon(self._flush)
        self._pending.append(Reading(target[0], target[1], ts, val))

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self._connector.status.readings += len(batch)
            self._connector.status.last_activity = time.time()
            self._connector.sink(batch, self._connector.name)

    def status_change_notification(self, status: Any) -> None:
        log.info("%s: subscription status %s", self._connector.name, status)


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
        self._by_node: dict[ua.NodeId, tuple[str, str]] = {}
        self._desired: dict[tuple[str, str], str] = {}
        self._methods: dict[tuple[str, str], tuple[ua.NodeId, ua.NodeId]] = {}
        for twin_id, binding in self.bindings:
            assert isinstance(binding, OpcUaBinding)
            for signal, node_id in binding.telemetry.items():
                self._by_node[ua.NodeId.from_string(node_id)] = (twin_id, signal)
            for dname, node_id in binding.desired.items():
                self._desired[(twin_id, dname)] = node_id
            for cname, method in binding.commands.items():
                # node ids, not strings: asyncua reads a string as a browse name
                self._methods[(twin_id, cname)] = (
                    ua.NodeId.from_string(method.object),
                    ua.NodeId.from_string(method.method),
                )
        self._client: Client | None = None
        self._variant_types: dict[str, ua.VariantType] = {}

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
        await client.connect()
        try:
            subscription = await client.create_subscription(
                self.spec.publishing_interval_ms, _Handler(self)
            )
            nodes = [client.get_node(node_id) for node_id in self._by_node]
            if nodes:
                handles = await subscription.subscribe_data_change(nodes)
                unresolved = [
                    f"{node.nodeid.to_string()} ({handle.name})"
                    for node, handle in zip(nodes, handles, strict=True)
                    if isinstance(handle, ua.StatusCode)
                ]
                self.status.details["unresolved_nodes"] = unresolved
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
            try:
                await asyncio.wait_for(client.disconnect(), timeout=2)
            except Exception:  # the server is gone; nothing to close politely
                client.disconnect_socket()

    def _connected_client(self, what: str) -> Client:
        client = self._client
        if client is None or not self.status.connected:
            raise CommandError(f"{what}: not connected to {self.spec.endpoint}")
        return client

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        node_id = self._desired.get((twin_id, name))
        what = f"{twin_id}.{name}"
        if node_id is None:
            raise CommandError(f"{what}: no OPC UA node is bound for this desired value")
        client = self._connected_client(what)
        node = client.get_node(node_id)
        try:
            vtype = self._variant_types.get(node_id)
            if vtype is None:
                vtype = await node.read_data_type_as_variant_type()
                self._variant_types[node_id] = vtype
            if vtype in (ua.VariantType.Double, ua.VariantType.Float):
                value = float(value)
            await node.write_value(ua.DataValue(ua.Variant(value, vtype)))
        except ua.UaStatusCodeError as exc:
            raise CommandError(f"{what}: the server refused the write: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"{what}: write failed: {type(exc).__name__} {exc}") from None

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        target = self._methods.get((twin_id, name))
        what = f"{twin_id}.{name}()"
        if target is None:
            raise CommandError(f"{what}: no OPC UA method is bound for this command")
        client = self._connected_client(what)
        object_id, method_id = target
        try:
            return await client.get_node(object_id).call_method(method_id, *args.values())
        except ua.UaStatusCodeError as exc:
            raise CommandError(f"{what}: the server refused the call: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"{what}: call failed: {type(exc).__name__} {exc}") from None
