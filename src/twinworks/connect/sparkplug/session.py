"""A paho-mqtt client driven from asyncio, shared by the host application and discovery.

paho's network loop runs on its own thread (``loop_start``); received messages are
queued and handed to the asyncio loop in batches, so everything that touches
connector state runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from twinworks.security.tls import client_ssl_context
from twinworks.spec.schema import TlsSpec

__all__ = ["MqttSession"]

log = logging.getLogger(__name__)

_CONNACK_TIMEOUT_S = 10.0


class MqttSession:
    """One MQTT 3.1.1 clean session; ``on_batch`` gets ``[(topic, payload), ...]`` on the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_id: str,
        on_batch: Callable[[list[tuple[str, bytes]]], None],
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsSpec | None = None,
    ) -> None:
        self.loop = loop
        self._on_batch = on_batch
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,  # Sparkplug 3.0: host applications use clean sessions
            protocol=paho.MQTTv311,
            reconnect_on_failure=False,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set_context(client_ssl_context(tls))
        self.client.max_inflight_messages_set(1000)
        self.connack: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self._suback: dict[int, asyncio.Future[list[Any]]] = {}
        self._puback: dict[int, asyncio.Future[None]] = {}
        # deque: append and popleft are atomic, so paho's thread and the loop share it
        self._inbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._scheduled = False
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_message = self._on_message

    def _resolve(self, futures: dict[int, Any], mid: int, result: Any) -> None:
        future = futures.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(result)

    # paho's thread ----------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        def done() -> None:
            if self.connack.done():
                return
            if reason.is_failure:
                self.connack.set_exception(
                    ConnectionRefusedError(f"the broker refused the connection: {reason}")
                )
            else:
                self.connack.set_result(None)

        self.loop.call_soon_threadsafe(done)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        def done() -> None:
            text = str(reason)
            if not self.connack.done():
                self.connack.set_exception(ConnectionError(f"closed before CONNACK: {text}"))
            if not self.closed.done():
                self.closed.set_result(text)
            waiting: list[asyncio.Future[Any]] = [*self._suback.values(), *self._puback.values()]
            for future in waiting:
                if not future.done():
                    future.set_exception(ConnectionError(f"connection lost: {text}"))

        self.loop.call_soon_threadsafe(done)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self.loop.call_soon_threadsafe(self._resolve, self._suback, mid, list(codes))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.loop.call_soon_threadsafe(self._resolve, self._puback, mid, None)

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._inbox.append((msg.topic, bytes(msg.payload)))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._drain)

    # the loop's thread -------------------------------------------------------

    def _drain(self) -> None:
        self._scheduled = False
        inbox = self._inbox
        batch = [inbox.popleft() for _ in range(len(inbox))]
        if batch:
            self._on_batch(batch)

    async def connect(
        self, host: str, port: int, keepalive: int, will: tuple[str, bytes] | None = None
    ) -> None:
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        try:
            await self.loop.run_in_executor(
                None, functools.partial(self.client.connect, host, port, keepalive)
            )
        except OSError as exc:
            raise ConnectionError(f"cannot reach the broker at {host}:{port}: {exc}") from None
        self.client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self.connack), _CONNACK_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionError(
                f"the broker at {host}:{port} did not answer CONNECT within "
                f"{_CONNACK_TIMEOUT_S:g} s"
            ) from None

    async def subscribe(self, filters: list[str], qos: int = 0) -> list[str]:
        """Subscribe and wait for SUBACK; return the filters the broker refused."""
        if not filters:
            return []
        rc, mid = self.client.subscribe([(f, qos) for f in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe failed: {paho.error_string(rc)}")
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        self._suback[mid] = future
        codes = await asyncio.wait_for(future, _CONNACK_TIMEOUT_S)
        return [f for f, code in zip(filters, codes, strict=False) if code.is_failure]

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Publish; with QoS 1 wait until the broker has it (PUBACK)."""
        future: asyncio.Future[None] = self.loop.create_future()
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publishing to {topic} failed: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        self._puback[info.mid] = future
        if info.is_published():
            self._resolve(self._puback, info.mid, None)
        await asyncio.wait_for(future, _CONNACK_TIMEOUT_S)

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
