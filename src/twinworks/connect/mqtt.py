"""MQTT connector (paho-mqtt, MQTT 3.1.1 and 5): telemetry in, commands out, acks back.

**Delivery.** Subscriptions use the connector's QoS (default 1) on a persistent
session (default), and QoS 1 messages are acknowledged to the broker (PUBACK) only
after the runtime reports their points durable -- in the store, or in its on-disk
buffer while the store is down. A crash before that leaves the messages
unacknowledged, and the broker delivers them again on the next connection; the
store's key (twin, signal, time) drops the repeats, so counts stay exact. If the
runtime cannot take points at all (store down, buffer full), nothing more is
acknowledged and the connector reconnects after a delay to have the broker resend.

**Threads.** paho runs inside the asyncio loop (its socket is registered with the
loop, as aiomqtt does it), so messages, acknowledgements and commands all happen on
one thread. Messages that arrive together are mapped and submitted as one batch.

**Payloads.** Each binding maps a topic template and a JSON payload to telemetry
(see :mod:`twinworks.connect.mapping`). Payloads that cannot be used -- not JSON,
none of the mapped fields, an unknown twin in the topic, larger than
``max_payload_bytes`` -- become dead letters with their raw bytes; values that fail
the twin's declared rules are dead-lettered by the runtime, one letter per message.

**Commands.** A desired value or a command is published as JSON to the binding's
``command_topic``; the device answers on ``reply_topic``. With MQTT 5 the request
carries the Response Topic and Correlation Data properties; with 3.1.1 the same
facts travel in the payload (``id``, ``reply_to``). No answer within
``ack_timeout_s`` fails the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import socket
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twinworks.connect.base import (
    Connector,
    IngestSink,
    Origin,
    Reading,
    ReadingColumns,
    StatusListener,
    register_connector,
)
from twinworks.connect.mapping import (
    Columnar,
    JsonMapping,
    PayloadError,
    TopicTemplate,
    columns_of,
    parse_json,
)
from twinworks.errors import CommandError, InsecureFileError
from twinworks.security.tls import client_ssl_context
from twinworks.spec.schema import BindingSpec, MqttBinding, MqttConnectorSpec
from twinworks.store.base import Columns

__all__ = ["MqttConnector"]

log = logging.getLogger(__name__)

_KEEP_BYTES = 4096  # of an oversized payload, kept in its dead letter
_ROUTE_CACHE = 100_000  # topics remembered with their route; cleared when full
_CONNACK_TIMEOUT_S = 10.0


_PUBACK = 0x40
_READ_BYTES = 256 * 1024
_READ_BUDGET = 4 * 1024 * 1024  # bytes read in one turn of the loop, then the others run


class _Message(NamedTuple):
    """A received PUBLISH, as the fast path hands it over."""

    topic: bytes
    payload: bytes
    qos: int
    mid: int
    props: bytes | None  # MQTT 5 properties, still encoded


class _FeedSocket:
    """The socket paho sees: it reads only the bytes we hand it; it writes to the real one.

    Incoming PUBLISH packets -- all the telemetry -- are parsed by the connector
    itself, many per system call: paho's reader takes three ``recv`` calls and
    several objects (with a lock) per message, which at tens of thousands of
    messages a second costs more than everything else together. Every other packet
    (CONNACK, SUBACK, PUBACK, PINGRESP, ...) is fed to paho unchanged, so paho still
    runs the protocol: connecting, subscribing, publishing, acknowledging, keep-alive.
    """

    __slots__ = ("_buf", "_end", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._end: BaseException | bool = False  # True: closed by the peer

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    @property
    def fed(self) -> bool:
        return bool(self._buf)

    def end(self, error: BaseException | None) -> None:
        self._end = error if error is not None else True

    def recv(self, size: int) -> bytes:
        if self._buf:
            chunk = bytes(self._buf[:size])
            del self._buf[:size]
            return chunk
        if isinstance(self._end, BaseException):
            raise self._end
        if self._end:
            return b""
        raise BlockingIOError

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """An MQTT variable byte integer at ``pos``: (value, position after it); -1 if cut off."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 21:
            return -1, pos
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _correlation(props: bytes | None) -> bytes | None:
    """Correlation Data (property 9) from encoded MQTT 5 PUBLISH properties."""
    if not props:
        return None
    pos, n = 0, len(props)
    while pos < n:
        pid = props[pos]
        pos += 1
        if pid in (8, 9, 3):  # response topic, correlation data, content type
            size = int.from_bytes(props[pos : pos + 2], "big")
            if pid == 9:
                return bytes(props[pos + 2 : pos + 2 + size])
            pos += 2 + size
        elif pid == 1:
            pos += 1
        elif pid == 2:
            pos += 4
        elif pid == 35:
            pos += 2
        elif pid == 11:
            _, pos = _varint(props, pos)
        elif pid == 38:  # user property: two strings
            for _ in range(2):
                size = int.from_bytes(props[pos : pos + 2], "big")
                pos += 2 + size
        else:
            return None  # not a PUBLISH property: stop rather than misread
    return None


class _Unroutable:
    """A topic that leads to no twin, remembered with the dead-letter reason."""

    __slots__ = ("message", "reason", "twin_id")

    def __init__(self, reason: str, message: str, twin_id: str | None) -> None:
        self.reason = reason
        self.message = message
        self.twin_id = twin_id


_REPLY = object()  # route of a topic on which devices acknowledge commands


class _Link:
    """One connection: a paho client whose socket is served by the asyncio loop."""

    def __init__(self, connector: MqttConnector, loop: asyncio.AbstractEventLoop) -> None:
        spec = connector.spec
        self.connector = connector
        self.loop = loop
        self.v5 = spec.version == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=connector.client_id,
            clean_session=None if self.v5 else spec.clean_session,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if spec.username is not None:
            self.client.username_pw_set(spec.username, spec.password)
        if spec.tls is not None:
            self.client.tls_set_context(_tls_context(spec))
        self.client.max_inflight_messages_set(1000)  # our own commands, not telemetry
        self.client.max_queued_messages_set(0)
        self.connack: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.suback: dict[int, asyncio.Future[list[Any]]] = {}
        self.puback: dict[int, asyncio.Future[None]] = {}
        self.inbox: list[_Message] = []
        self.scheduled = False
        self.ack_blocked = False  # a batch failed: later acks would skip it
        self._thread = threading.get_ident()
        self._sock: socket.socket | None = None
        self._feed: _FeedSocket | None = None
        self._partial = b""  # the start of a packet whose rest has not arrived yet
        self._misc: asyncio.Task[None] | None = None
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write

    # ------------------------------------------------------------ socket ↔ loop

    def _in_loop(self, fn: Callable[[], None]) -> None:
        # paho's connect() runs on a worker thread (it blocks on TCP connect)
        if threading.get_ident() == self._thread:
            fn()
        else:
            self.loop.call_soon_threadsafe(fn)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._sock = sock
        if getattr(client, "_sock", None) is sock:
            # paho 2.x keeps its socket in _sock; should that change, paho reads alone
            self._feed = _FeedSocket(sock)
            client._sock = self._feed
        self._in_loop(lambda: self.loop.add_reader(sock, self._readable))

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self._forget(sock))

    def _forget(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self.loop.add_writer(sock, self._writable))

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self._stop_writing(sock))

    def _stop_writing(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_writer(sock)

    def _readable(self) -> None:
        feed, sock = self._feed, self._sock
        if feed is None or sock is None:
            self.client.loop_read()
            return
        chunks: list[bytes] = []
        total = 0
        error: BaseException | None = None
        closed = False
        try:
            while total < _READ_BUDGET:
                data = sock.recv(_READ_BYTES)
                if not data:
                    closed = True
                    break
                chunks.append(data)
                total += len(data)
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except ssl.SSLWantWriteError:
            self.client.loop_write()
        except OSError as exc:
            error = exc
        if chunks:
            self._parse(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        if closed or error is not None:
            feed.end(error)  # paho reads the end, closes, and reports the disconnect
            self.client.loop_read()
        elif total >= _READ_BUDGET:
            self.loop.call_soon(self._readable)  # TLS may hold decrypted data epoll cannot see

    def _parse(self, data: bytes) -> None:
        """Split bytes into packets: PUBLISH to the connector, the rest to paho."""
        buf = self._partial + data if self._partial else data
        n = len(buf)
        pos = 0
        inbox = self.inbox
        v5 = self.v5
        new = tuple.__new__  # a NamedTuple's own constructor costs three times as much
        other = bytearray()
        while pos < n:
            start = pos
            first = buf[pos]
            length, body = _varint(buf, pos + 1)
            if length < 0 or body + length > n:
                break  # the rest of this packet comes with the next read
            end = body + length
            qos = (first >> 1) & 3
            if first >> 4 == 3 and qos < 2:
                size = (buf[body] << 8) | buf[body + 1]
                p = body + 2 + size
                topic = buf[body + 2 : p]
                mid = 0
                if qos:
                    mid = (buf[p] << 8) | buf[p + 1]
                    p += 2
                props = None
                if v5:
                    plen, p = _varint(buf, p)
                    if plen:
                        props = buf[p : p + plen]
                        p += plen
                inbox.append(new(_Message, (topic, buf[p:end], qos, mid, props)))
            else:
                other += buf[start:end]
            pos = end
        self._partial = buf[pos:] if pos < n else b""
        if other and self._feed is not None:
            self._feed.feed(other)
            while self._feed.fed and self.client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                pass
        if inbox and not self.scheduled:
            # everything read in this turn of the loop is handled as one batch
            self.scheduled = True
            self.loop.call_soon(self.connector._process, self)

    def _writable(self) -> None:
        self.client.loop_write()

    async def _misc_loop(self) -> None:
        # keep-alive pings, and noticing a broker that stopped answering them
        while True:
            await asyncio.sleep(1.0)
            self.client.loop_misc()

    # ------------------------------------------------------------ paho callbacks

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connack.done():
            return
        if reason.is_failure:
            self.connack.set_exception(ConnectionRefusedError(_refusal(reason)))
        else:
            self.connack.set_result(bool(flags.session_present))

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        text = str(reason)
        if not self.connack.done():
            hint = ""
            tls = self.connector.spec.tls
            if tls is not None and tls.certificate is None:
                # a broker that requires client certificates ends the session this way
                hint = (
                    " (over TLS: does the broker require a client certificate? "
                    "see the connector's tls.certificate and tls.private_key)"
                )
            self.connack.set_exception(ConnectionError(f"closed before CONNACK: {text}{hint}"))
        if not self.closed.done():
            self.closed.set_result(text)
        waiting: list[asyncio.Future[Any]] = [*self.suback.values(), *self.puback.values()]
        for future in waiting:
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {text}"))

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, codes: list[Any], props: Any
    ) -> None:
        future = self.suback.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(codes)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        future = self.puback.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        # only what the fast path leaves to paho (QoS 2, or no fast path) arrives here
        props = getattr(msg, "properties", None)
        data = getattr(props, "CorrelationData", None) if props is not None else None
        encoded = b"\x09" + len(data).to_bytes(2, "big") + bytes(data) if data else None
        self.inbox.append(
            _Message(msg._topic, bytes(msg.payload), min(msg.qos, 1), msg.mid, encoded)
        )
        if not self.scheduled:
            # everything read in this turn of the loop is handled as one batch
            self.scheduled = True
            self.loop.call_soon(self.connector._process, self)

    # ------------------------------------------------------------ operations

    async def connect(self) -> bool:
        """Connect and wait for the broker's CONNACK; return whether it kept our session."""
        spec = self.connector.spec
        props: Properties | None = None
        clean_start: Any = paho.MQTT_CLEAN_START_FIRST_ONLY
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0 if spec.clean_session else spec.session_expiry_s
            props.ReceiveMaximum = spec.receive_maximum
            clean_start = spec.clean_session
        failure: str | None = None
        try:
            await self.loop.run_in_executor(
                None,
                functools.partial(
                    self.client.connect,
                    spec.host,
                    spec.port,
                    spec.keepalive_s,
                    clean_start=clean_start,
                    properties=props,
                ),
            )
        except ssl.SSLCertVerificationError as exc:
            failure = (
                f"TLS: the broker at {spec.host}:{spec.port} was not verified: "
                f"{exc.verify_message or exc} (check the connector's tls.ca_file and host)"
            )
        except ssl.SSLError as exc:
            failure = f"TLS handshake with the broker at {spec.host}:{spec.port} failed: {exc}"
        except OSError as exc:
            failure = f"cannot reach the broker at {spec.host}:{spec.port}: {exc}"
        if failure is not None:
            # paho drops the socket of a failed TLS handshake without closing it; once
            # the traceback is gone, collect it quietly instead of warning later
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
            raise ConnectionError(failure)
        self._misc = self.loop.create_task(self._misc_loop())
        try:
            return await asyncio.wait_for(asyncio.shield(self.connack), _CONNACK_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionError(
                f"the broker at {spec.host}:{spec.port} did not answer CONNECT "
                f"within {_CONNACK_TIMEOUT_S:g} s"
            ) from None

    async def subscribe(self, filters: Sequence[str], qos: int) -> list[str]:
        """Subscribe and wait for SUBACK; return the filters the broker refused."""
        if not filters:
            return []
        rc, mid = self.client.subscribe([(f, qos) for f in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe failed: {paho.error_string(rc)}")
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        self.suback[mid] = future
        codes = await asyncio.wait_for(future, _CONNACK_TIMEOUT_S)
        return [f for f, code in zip(filters, codes, strict=False) if code.is_failure]

    async def publish(self, topic: str, payload: bytes, qos: int, props: Any) -> None:
        info = self.client.publish(topic, payload, qos=qos, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise CommandError(f"publishing to {topic} failed: {paho.error_string(info.rc)}")
        if qos == 0 or info.is_published():
            return
        future: asyncio.Future[None] = self.loop.create_future()
        self.puback[info.mid] = future
        await future

    def ack(self, mids: Sequence[int]) -> None:
        queue = getattr(self.client, "_packet_queue", None)
        if queue is None or len(mids) < 2:
            for mid in mids:
                self.client.ack(mid, 1)
            return
        # one write for a whole batch: paho would send each 4-byte PUBACK on its own
        # (a system call each); the short form (no reason code) means success in MQTT 5 too
        data = b"".join([b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids])
        queue(_PUBACK, data, 0, 0)

    def drop(self, why: str) -> None:
        """End the connection (the session stays with the broker) so that it resends."""
        log.warning("%s: %s", self.connector.name, why)
        self.client.disconnect()
        if not self.closed.done():
            self.closed.set_result(why)

    def close(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
        with contextlib.suppress(Exception):
            if self.client.is_connected():
                self.client.disconnect()
                self.client.loop_write()
        if self._feed is not None:
            self._feed.end(None)  # paho reads the end of the stream, and closes its socket
        with contextlib.suppress(Exception):
            self.client.loop_read()
        if self._sock is not None:
            self._forget(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()


def _tls_context(spec: MqttConnectorSpec) -> ssl.SSLContext:
    """The connector's TLS context, or a clear error about the files it names."""
    assert spec.tls is not None
    try:
        return client_ssl_context(spec.tls)
    except InsecureFileError:
        raise
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("ca_file", spec.tls.ca_file),
                ("certificate", spec.tls.certificate),
                ("private_key", spec.tls.private_key),
            )
            if v
        )
        raise ConnectionError(f"TLS: cannot load {files or 'the system CAs'}: {exc}") from None


def _refusal(reason: Any) -> str:
    text = str(reason)
    hint = ""
    if "authori" in text.lower() or "password" in text.lower():
        hint = " (check the connector's username and password)"
    elif "identifier" in text.lower():
        hint = " (check client_id)"
    return f"the broker refused the connection: {text}{hint}"


@register_connector
class MqttConnector(Connector):
    protocol = "mqtt"
    spec: MqttConnectorSpec

    def __init__(
        self,
        name: str,
        spec: MqttConnectorSpec,
        bindings: Sequence[tuple[str, BindingSpec]],
        sink: IngestSink,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name, spec, bindings, sink, on_status)
        self.client_id = spec.client_id or f"twinworks-{name}"
        # telemetry: templates with {twin_id} and the mappings of each twin under them;
        # literal topics (no {twin_id}) map straight to their mappings
        self._templates: dict[str, tuple[TopicTemplate, dict[str, list[JsonMapping]]]] = {}
        self._literal: dict[str, list[JsonMapping]] = {}
        self._replies: dict[str, TopicTemplate] = {}
        self._targets: dict[tuple[str, str], tuple[MqttBinding, str, str]] = {}
        # (twin, signal) of every field of the plain mappings: the rows of columnar batches
        names: list[tuple[str, str]] = []
        for twin_id, binding in self.bindings:
            assert isinstance(binding, MqttBinding)
            template = TopicTemplate(binding.topic)
            mapping = JsonMapping(twin_id, binding)
            if mapping.columnar is not None:
                mapping.column_base = len(names)
                names += [(twin_id, f.signal) for f in mapping.fields]
            if template.twin_level is None:
                self._literal.setdefault(binding.topic, []).append(mapping)
            else:
                entry = self._templates.setdefault(binding.topic, (template, {}))
                entry[1].setdefault(twin_id, []).append(mapping)
            if binding.reply_topic is not None:
                self._replies[binding.reply_topic] = TopicTemplate(binding.reply_topic)
            for dname, cmd in binding.desired.items():
                self._targets[(twin_id, "desired:" + dname)] = (
                    binding,
                    cmd.name or dname,
                    "desired",
                )
            for cname, cmd in binding.commands.items():
                self._targets[(twin_id, "command:" + cname)] = (
                    binding,
                    cmd.name or cname,
                    "command",
                )
        self._names = tuple(names)
        self._routes: dict[bytes, tuple[str, Any]] = {}
        self._link: _Link | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._redeliver_delay = self.backoff.spec.initial_s
        self.status.details.update(
            {"broker": f"{spec.host}:{spec.port}", "acknowledged": 0, "not_acknowledged": 0}
        )

    def filters(self) -> list[str]:
        """The subscriptions: one per topic template, replies included."""
        telemetry = [t.filter for t, _ in self._templates.values()] + list(self._literal)
        replies = [t.filter for t in self._replies.values()]
        return list(dict.fromkeys(telemetry + replies))

    # ------------------------------------------------------------------ link

    async def _run(self) -> None:
        link = _Link(self, asyncio.get_running_loop())
        try:
            session_present = await link.connect()
            refused = await link.subscribe(self.filters(), self.spec.qos)
            self.status.details["session_present"] = session_present
            self.status.details["refused_subscriptions"] = refused
            if refused:
                log.error("%s: the broker refused subscriptions: %s", self.name, refused)
            self._link = link
            self._set_connected(True, None)
            why = await link.closed
            raise ConnectionError(f"connection to {self.spec.host}:{self.spec.port} lost: {why}")
        finally:
            if self._link is link:
                self._link = None
            link.close()

    # ------------------------------------------------------------------ telemetry

    def _route(self, raw: bytes) -> tuple[str, Any]:
        """The topic as text and where its messages go, cached by the topic's bytes."""
        found = self._routes.get(raw)
        if found is not None:
            return found
        if len(self._routes) >= _ROUTE_CACHE:
            self._routes.clear()  # a flood of distinct topics must not grow memory
        topic = raw.decode("utf-8", "replace")
        found = (topic, self._resolve(topic))
        self._routes[bytes(raw)] = found
        return found

    def _resolve(self, topic: str) -> Any:
        for template in self._replies.values():
            if template.matches(topic):
                return _REPLY
        mappings = list(self._literal.get(topic, ()))
        claimed: str | None = None
        for template, twins in self._templates.values():
            twin = template.twin_of(topic)
            if twin is None:
                continue
            if twin in twins:
                mappings += twins[twin]
            else:
                claimed = twin
        if mappings:
            return mappings
        if claimed is not None:
            return _Unroutable(
                "unknown_twin",
                f"{topic}: no twin {claimed!r} is bound to connector {self.name!r}",
                claimed,
            )
        return _Unroutable("unknown_topic", f"{topic}: no binding has this topic", None)

    def _process(self, link: _Link) -> None:
        """Map a batch of messages to readings, submit them, acknowledge once durable.

        Messages of plain bindings (one key per field, see ``Columnar``) are read into
        arrays and handed over as one :class:`ReadingColumns`; the runtime checks them
        with NumPy. Everything else -- and every message whose values are not all plain
        numbers -- is read one reading at a time, as before.
        """
        link.scheduled = False
        messages, link.inbox = link.inbox, []
        if link is not self._link and link.closed.done():
            return  # the broker resends them on the next connection
        readings: list[Reading] = []
        acks: list[int] = []
        arrival = time.time()
        limit = self.spec.max_payload_bytes
        loads = orjson.loads
        # the fast path's messages: parsed document, mapping, payload and topic of each,
        # and per group of same-shaped mappings the picked fields and message numbers
        docs: list[dict[str, Any]] = []
        owners: list[JsonMapping] = []
        payloads: list[bytes] = []
        topics: list[str] = []
        groups: dict[Any, tuple[Columnar, list[tuple[Any, ...]], list[int]]] = {}
        for msg in messages:
            topic, route = self._route(msg.topic)
            if route is _REPLY:
                self._on_reply(link, msg, topic)  # acknowledged at once: nothing to store
                continue
            if msg.qos:
                acks.append(msg.mid)
            if route.__class__ is list:
                payload = msg.payload
                if len(payload) > limit:
                    self.dead_letter(
                        "oversized",
                        f"{topic}: the payload is {len(payload)} bytes, more than "
                        f"max_payload_bytes ({limit})",
                        payload[:_KEEP_BYTES],
                        twin_id=route[0].twin_id,
                        topic=topic,
                        size=len(payload),
                    )
                    continue
                plan = route[0].columnar if len(route) == 1 else None
                if plan is not None:
                    try:
                        doc = loads(payload)
                        if doc.__class__ is dict:
                            row = plan.get(doc)
                            group = groups.get(plan.shape)
                            if group is None:
                                group = groups[plan.shape] = (plan, [], [])
                            group[1].append(row)
                            group[2].append(len(docs))
                            docs.append(doc)
                            owners.append(route[0])
                            payloads.append(payload)
                            topics.append(topic)
                            continue
                    except (orjson.JSONDecodeError, KeyError):
                        pass  # NaN, not JSON, a missing field: the per-reading path says which
                self._read(payload, topic, route, arrival, readings)
            else:
                self.dead_letter(
                    route.reason,
                    route.message,
                    msg.payload[:_KEEP_BYTES],
                    twin_id=route.twin_id,
                    topic=topic,
                    size=len(msg.payload),
                )
        batch = self._columns(groups, docs, owners, payloads, topics, arrival, readings)
        count = len(readings) + (len(batch) if batch is not None else 0)
        self.status.readings += count
        self.status.details["messages"] = self.status.details.get("messages", 0) + len(messages)
        futures = [asyncio.ensure_future(self.sink(readings, self.name))]
        if batch is not None:
            if readings:
                futures.append(asyncio.ensure_future(self.sink(batch, self.name)))
            else:
                futures = [asyncio.ensure_future(self.sink(batch, self.name))]
        waiting = [len(futures)]

        def done(_: asyncio.Future[Any]) -> None:
            waiting[0] -= 1
            if not waiting[0]:
                self._durable(link, acks, futures)

        for future in futures:
            future.add_done_callback(done)

    def _read(
        self,
        payload: bytes,
        topic: str,
        route: list[JsonMapping],
        arrival: float,
        out: list[Reading],
    ) -> None:
        """The per-reading path: readings of one message, or its dead letter."""
        origin = tuple.__new__(Origin, (payload, topic))
        mapping = route[0]
        try:
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError:
                doc = parse_json(payload, topic)  # NaN, or a clear "not JSON"
            for mapping in route:
                out += mapping.readings(doc, arrival, topic, origin)
        except PayloadError as exc:
            self.dead_letter(exc.reason, str(exc), payload, twin_id=mapping.twin_id, topic=topic)

    def _columns(
        self,
        groups: dict[Any, tuple[Columnar, list[tuple[Any, ...]], list[int]]],
        docs: list[dict[str, Any]],
        owners: list[JsonMapping],
        payloads: list[bytes],
        topics: list[str],
        arrival: float,
        readings: list[Reading],
    ) -> ReadingColumns | None:
        """The fast path's messages as one columnar batch; odd ones join ``readings``."""
        if not groups:
            return None
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for plan, rows, members in groups.values():
            taken, ts, values = columns_of(plan, rows, arrival)
            numbers = np.array(members, dtype=np.int64)
            if taken is not None:
                mask = np.ones(len(members), dtype=bool)
                mask[taken] = False
                for m in numbers[mask].tolist():
                    self._read(payloads[m], topics[m], [owners[m]], arrival, readings)
                numbers = numbers[taken]
            if not len(numbers):
                continue
            width = values.shape[1]
            bases = np.array([owners[m].column_base for m in numbers.tolist()], dtype=np.int64)
            parts.append(
                (
                    (bases[:, None] + np.arange(width)).ravel(),
                    np.repeat(ts, width),
                    values.ravel(),
                    np.repeat(numbers, width),
                )
            )
        if not parts:
            return None
        series, ts, values, message = (
            parts[0]
            if len(parts) == 1
            else tuple(np.concatenate(p) for p in zip(*parts, strict=True))
        )

        def exact(numbers: Sequence[int]) -> list[Reading]:
            out: list[Reading] = []
            for m in numbers:
                origin = Origin(payloads[m], topics[m])
                out += owners[m].readings(docs[m], arrival, topics[m], origin)
            return out

        return ReadingColumns(Columns(self._names, series, ts, values), message, exact, len(docs))

    def _durable(
        self, link: _Link, acks: list[int], futures: Sequence[asyncio.Future[Any]]
    ) -> None:
        # every future is looked at, so that no exception goes unretrieved
        failures = [f for f in futures if f.cancelled() or f.exception() is not None]
        if failures:
            future = failures[0]
            self.status.details["not_acknowledged"] += len(acks)
            if not link.ack_blocked:
                # acknowledging later messages would skip these; the broker resends them all
                link.ack_blocked = True
                error = "cancelled" if future.cancelled() else str(future.exception())
                delay, self._redeliver_delay = (
                    self._redeliver_delay,
                    min(self.backoff.spec.max_s, self._redeliver_delay * 2),
                )
                log.error(
                    "%s: points not durable (%s); reconnecting in %.1f s for redelivery",
                    self.name,
                    error,
                    delay,
                )
                link.loop.call_later(
                    delay, link.drop, "reconnecting to have unacknowledged messages resent"
                )
            return
        self._redeliver_delay = self.backoff.spec.initial_s
        if not acks or link.ack_blocked or link is not self._link:
            # after a reconnect the broker resends these; the store drops the repeats
            if acks:
                self.status.details["not_acknowledged"] += len(acks)
            return
        link.ack(acks)
        self.status.details["acknowledged"] += len(acks)

    # ------------------------------------------------------------------ commands

    def _on_reply(self, link: _Link, msg: _Message, topic: str) -> None:
        if msg.qos and not link.ack_blocked:
            link.ack([msg.mid])
        try:
            doc = parse_json(msg.payload, topic)
        except PayloadError as exc:
            log.warning("%s: unreadable command reply: %s", self.name, exc)
            return
        if not isinstance(doc, dict):
            log.warning("%s: command reply on %s is not a JSON object", self.name, topic)
            return
        data = _correlation(msg.props)
        correlation = data.decode("utf-8", "replace") if data else doc.get("id")
        future = self._waiting.get(str(correlation)) if correlation is not None else None
        if future is None or future.done():
            log.info("%s: reply %r on %s matches no waiting command", self.name, correlation, topic)
            return
        future.set_result(doc)

    async def write(self, twin_id: str, name: str, value: Any) -> None:
        await self._request(twin_id, "desired:" + name, f"{twin_id}.{name}", {"value": value})

    async def call(self, twin_id: str, name: str, args: dict[str, Any]) -> Any:
        return await self._request(
            twin_id, "command:" + name, f"{twin_id}.{name}()", {"args": args}
        )

    async def _request(self, twin_id: str, key: str, what: str, body: dict[str, Any]) -> Any:
        target = self._targets.get((twin_id, key))
        if target is None:
            raise CommandError(f"{what}: the MQTT binding does not carry it (not declared)")
        binding, device_name, kind = target
        link = self._link
        if link is None or not self.status.connected:
            raise CommandError(
                f"{what}: not connected to the broker at {self.spec.host}:{self.spec.port}"
            )
        assert binding.command_topic is not None
        topic = TopicTemplate(binding.command_topic).topic_for(twin_id)
        reply = (
            TopicTemplate(binding.reply_topic).topic_for(twin_id)
            if binding.reply_topic is not None
            else None
        )
        correlation = uuid.uuid4().hex
        envelope = {"id": correlation, "kind": kind, "name": device_name, **body, "ts": time.time()}
        props = None
        if reply is not None:
            envelope["reply_to"] = reply
            if link.v5:
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = reply
                props.CorrelationData = correlation.encode()
        payload = orjson.dumps(envelope)
        if reply is None:
            # nothing to correlate with: the broker's PUBACK is all the confirmation there is
            try:
                await asyncio.wait_for(
                    link.publish(topic, payload, 1, props), binding.ack_timeout_s
                )
            except TimeoutError:
                raise CommandError(
                    f"{what}: the broker did not confirm within {binding.ack_timeout_s:g} s"
                ) from None
            except ConnectionError as exc:
                raise CommandError(f"{what}: {exc}") from None
            return None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        try:
            await link.publish(topic, payload, 1, props)
            answer = await asyncio.wait_for(future, binding.ack_timeout_s)
        except TimeoutError:
            raise CommandError(
                f"{what}: no acknowledgement on {reply} within {binding.ack_timeout_s:g} s"
            ) from None
        except ConnectionError as exc:
            raise CommandError(f"{what}: {exc}") from None
        finally:
            self._waiting.pop(correlation, None)
        ok = answer.get("ok", "error" not in answer)
        if ok is not True:
            reason = answer.get("error") or "no reason given"
            raise CommandError(f"{what}: the device refused: {reason}")
        return answer.get("result")
