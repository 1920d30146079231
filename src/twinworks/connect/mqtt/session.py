"""One MQTT connection: a paho client whose socket is served by the asyncio loop.

paho runs the protocol (connecting, subscribing, publishing, acknowledging,
keep-alive); its socket is registered with the loop, as aiomqtt does it, so
messages, acknowledgements and commands all happen on one thread.

**The fast path, and the one place that leans on paho's internals.** Incoming
PUBLISH packets -- all the telemetry -- are read from the socket and parsed here
(:func:`~twinworks.connect.mqtt.wire.split_packets`), many per system call: paho's
reader takes three ``recv`` calls and several objects (with a lock) per message,
which at tens of thousands of messages a second costs more than everything else
together. Every other packet is handed to paho unchanged. paho 2.x has no public
way to be fed bytes, so :class:`FeedClient` -- our subclass of ``paho.Client`` --
overrides paho's ``_sock_recv`` (the method all its reads go through) to read from
a buffer we fill, and batched PUBACKs go out through ``_packet_queue``. Nothing of
paho's state is assigned. This seam is checked against the installed paho when a
session starts (:func:`fast_path_supported`): on a paho without these methods, or
of another major version, the session falls back to paho's own reader -- correct,
only slower -- and logs it once. ``tests/connect/test_mqtt_session.py`` fails if
the seam stops working on the pinned paho.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import ssl
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt as paho_package
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twinworks.connect.mqtt.wire import Message, pubacks, split_packets
from twinworks.errors import CommandError, InsecureFileError
from twinworks.security.tls import client_ssl_context
from twinworks.spec.schema import MqttConnectorSpec

__all__ = ["FeedClient", "Session", "fast_path_supported"]

log = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 10.0
_PUBACK = 0x40
_READ_BYTES = 256 * 1024
_READ_BUDGET = 4 * 1024 * 1024  # bytes read in one turn of the loop, then the others run


def fast_path_supported() -> bool:
    """Whether the installed paho has the two methods the fast path overrides and calls."""
    major = str(getattr(paho_package, "__version__", "0")).split(".")[0]
    return (
        major == "2"
        and callable(getattr(paho.Client, "_sock_recv", None))
        and callable(getattr(paho.Client, "_packet_queue", None))
    )


_warned_fallback = False


class FeedClient(paho.Client):
    """A paho client that reads the bytes we feed it instead of reading its socket.

    ``feeding`` off: paho reads its socket itself (the fallback). On: every read
    paho makes is served from :meth:`feed`'s buffer; ``end`` tells it the stream
    ended (``None``: closed by the peer; an exception: the error to raise).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feeding = False
        self._fed = bytearray()
        self._fed_end: BaseException | bool = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._fed += data

    @property
    def fed(self) -> bool:
        return bool(self._fed)

    def end(self, error: BaseException | None) -> None:
        self._fed_end = error if error is not None else True

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.feeding:
            return super()._sock_recv(bufsize)
        if self._fed:
            chunk = bytes(self._fed[:bufsize])
            del self._fed[:bufsize]
            return chunk
        if isinstance(self._fed_end, BaseException):
            raise self._fed_end
        if self._fed_end:
            return b""
        raise BlockingIOError

    def queue_pubacks(self, mids: Sequence[int]) -> None:
        """One write for a whole batch: paho would send each 4-byte PUBACK on its own."""
        self._packet_queue(_PUBACK, pubacks(list(mids)), 0, 0)


class Session:
    """One connection to the broker; ``on_batch(session)`` is called once per loop turn
    in which messages arrived (they wait in ``inbox``)."""

    def __init__(
        self,
        spec: MqttConnectorSpec,
        client_id: str,
        name: str,
        on_batch: Callable[[Session], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.spec = spec
        self.name = name
        self.on_batch = on_batch
        self.loop = loop
        self.v5 = spec.version == "5"
        self.client = FeedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if self.v5 else spec.clean_session,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if spec.username is not None:
            self.client.username_pw_set(spec.username, spec.password)
        if spec.tls is not None:
            self.client.tls_set_context(tls_context(spec))
        self.client.max_inflight_messages_set(1000)  # our own commands, not telemetry
        self.client.max_queued_messages_set(0)
        self.connack: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.suback: dict[int, asyncio.Future[list[Any]]] = {}
        self.puback: dict[int, asyncio.Future[None]] = {}
        self.inbox: list[Message] = []
        self.scheduled = False
        self.ack_blocked = False  # a batch failed: later acks would skip it
        self._thread = threading.get_ident()
        self._sock: Any = None
        self._feeding = False  # the fast path reads the socket; paho reads what we feed it
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
        global _warned_fallback
        if fast_path_supported():
            self.client.feeding = self._feeding = True
        elif not _warned_fallback:
            _warned_fallback = True
            log.warning(
                "paho-mqtt %s is not the 2.x this connector's fast path was built for; "
                "paho reads telemetry itself (correct, slower)",
                getattr(paho_package, "__version__", "?"),
            )
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
        sock = self._sock
        if not self._feeding or sock is None:
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
            self.client.end(error)  # paho reads the end, closes, and reports the disconnect
            self.client.loop_read()
        elif total >= _READ_BUDGET:
            self.loop.call_soon(self._readable)  # TLS may hold decrypted data epoll cannot see

    def _parse(self, data: bytes) -> None:
        """Split bytes into packets: PUBLISH to the connector, the rest to paho."""
        buf = self._partial + data if self._partial else data
        inbox = self.inbox
        other, pos = split_packets(buf, self.v5, inbox)
        self._partial = buf[pos:] if pos < len(buf) else b""
        if other:
            self.client.feed(other)
            while self.client.fed and self.client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                pass
        if inbox and not self.scheduled:
            # everything read in this turn of the loop is handled as one batch
            self.scheduled = True
            self.loop.call_soon(self.on_batch, self)

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
            tls = self.spec.tls
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
            Message(msg._topic, bytes(msg.payload), min(msg.qos, 1), msg.mid, encoded, msg.retain)
        )
        if not self.scheduled:
            # everything read in this turn of the loop is handled as one batch
            self.scheduled = True
            self.loop.call_soon(self.on_batch, self)

    # ------------------------------------------------------------ operations

    async def connect(self) -> bool:
        """Connect and wait for the broker's CONNACK; return whether it kept our session."""
        spec = self.spec
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
            return await asyncio.wait_for(asyncio.shield(self.connack), CONNACK_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionError(
                f"the broker at {spec.host}:{spec.port} did not answer CONNECT "
                f"within {CONNACK_TIMEOUT_S:g} s"
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
        codes = await asyncio.wait_for(future, CONNACK_TIMEOUT_S)
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
        if not self._feeding or len(mids) < 2:
            for mid in mids:
                self.client.ack(mid, 1)
            return
        self.client.queue_pubacks(mids)  # one system call for the batch

    def drop(self, why: str) -> None:
        """End the connection (the session stays with the broker) so that it resends."""
        log.warning("%s: %s", self.name, why)
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
        if self._feeding:
            self.client.end(None)  # paho reads the end of the stream, and closes its socket
        with contextlib.suppress(Exception):
            self.client.loop_read()
        if self._sock is not None:
            self._forget(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()


def tls_context(spec: MqttConnectorSpec) -> ssl.SSLContext:
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
