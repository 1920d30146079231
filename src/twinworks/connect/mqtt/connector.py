"""The MQTT connector: telemetry in, commands out, acknowledgements back.

**Delivery.** Subscriptions use the connector's QoS (default 1) on a persistent
session (default), and QoS 1 messages are acknowledged to the broker (PUBACK) only
after the runtime reports their points durable -- in the store, or in its on-disk
buffer while the store is down. A crash before that leaves the messages
unacknowledged, and the broker delivers them again on the next connection; the
store's key (twin, signal, time) drops the repeats, so counts stay exact. If the
runtime cannot take points at all (store down, buffer full), nothing more is
acknowledged and the connector reconnects after a delay to have the broker resend.

**Batches.** Messages that arrive together (see :mod:`.session`) are mapped and
submitted as one batch.

**Payloads.** Each binding maps a topic template and a payload to telemetry (see
:mod:`twinworks.connect.mapping`). Payloads that cannot be used -- not JSON,
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
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
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
    ArrivalClock,
    Columnar,
    JsonMapping,
    PayloadError,
    Route,
    TopicTemplate,
    columns_of,
    parse_json,
    summary,
)
from twinworks.connect.mqtt.session import Session
from twinworks.connect.mqtt.wire import Message, correlation_data
from twinworks.errors import CommandError
from twinworks.spec.schema import BindingSpec, MqttBinding, MqttConnectorSpec
from twinworks.store.base import Columns

__all__ = ["MqttConnector"]

log = logging.getLogger(__name__)

_KEEP_BYTES = 4096  # of an oversized payload, kept in its dead letter
_ROUTE_CACHE = 100_000  # topics remembered with their route; cleared when full


class _Unroutable:
    """A topic that leads to no twin, remembered with the dead-letter reason."""

    __slots__ = ("message", "reason", "twin_id")

    def __init__(self, reason: str, message: str, twin_id: str | None) -> None:
        self.reason = reason
        self.message = message
        self.twin_id = twin_id


_REPLY = object()  # route of a topic on which devices acknowledge commands


def _as_text(payload: bytes) -> str | None:
    """A payload that is not JSON, as the text of a bare value ("7.2 bar"); None if binary."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


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
        # templates without {twin_id} that are not plain topics (+, #, {signal})
        self._patterns: dict[str, tuple[TopicTemplate, list[JsonMapping]]] = {}
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
            if template.literal:
                self._literal.setdefault(binding.topic, []).append(mapping)
            elif template.twin_level is None:
                self._patterns.setdefault(binding.topic, (template, []))[1].append(mapping)
            else:
                entry = self._templates.setdefault(binding.topic, (template, {}))
                entry[1].setdefault(mapping.device, []).append(mapping)
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
        self._clock = ArrivalClock()  # distinct arrival stamps for readings without a time
        self._link: Session | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._redeliver_delay = self.backoff.spec.initial_s
        self.status.details.update(
            {"broker": f"{spec.host}:{spec.port}", "acknowledged": 0, "not_acknowledged": 0}
        )

    def filters(self) -> list[str]:
        """The subscriptions: one per topic template, replies included."""
        telemetry = (
            [t.filter for t, _ in self._templates.values()]
            + [t.filter for t, _ in self._patterns.values()]
            + list(self._literal)
        )
        replies = [t.filter for t in self._replies.values()]
        return list(dict.fromkeys(telemetry + replies))

    # ------------------------------------------------------------------ link

    async def _run(self) -> None:
        link = Session(
            self.spec, self.client_id, self.name, self._process, asyncio.get_running_loop()
        )
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
        targets: list[tuple[JsonMapping, str | None]] = [
            (m, None) for m in self._literal.get(topic, ())
        ]
        claimed: str | None = None
        for template, twins in self._templates.values():
            found = template.match(topic)
            if found is None:
                continue
            twin, signal = found
            if twin is not None and twin in twins:
                targets += [(m, signal) for m in twins[twin]]
            else:
                claimed = twin
        for template, mappings in self._patterns.values():
            found = template.match(topic)
            if found is not None:
                targets += [(m, found[1]) for m in mappings]
        if targets:
            return Route(targets)
        if claimed is not None:
            return _Unroutable(
                "unknown_twin",
                f"{topic}: no twin {claimed!r} is bound to connector {self.name!r}",
                claimed,
            )
        return _Unroutable("unknown_topic", f"{topic}: no binding has this topic", None)

    def _process(self, link: Session) -> None:
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
        clock = self._clock
        limit = self.spec.max_payload_bytes
        loads = orjson.loads
        # the fast path's messages: parsed document, mapping, payload and topic of each,
        # and per group of same-shaped mappings the picked fields and message numbers
        docs: list[dict[str, Any]] = []
        stamps: list[float] = []  # arrival stamp of each, for bindings without timestamps
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
            if route.__class__ is Route:
                payload = msg.payload
                if len(payload) > limit:
                    self.dead_letter(
                        "oversized",
                        f"{topic}: the payload is {len(payload)} bytes, more than "
                        f"max_payload_bytes ({limit})",
                        payload[:_KEEP_BYTES],
                        twin_id=route.twin_id,
                        topic=topic,
                        size=len(payload),
                    )
                    continue
                plan = route.columnar
                if plan is not None and not msg.retain:
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
                            stamps.append(0.0 if plan.has_ts else clock())
                            owners.append(route.targets[0][0])
                            payloads.append(payload)
                            topics.append(topic)
                            continue
                    except (orjson.JSONDecodeError, KeyError):
                        pass  # NaN, not JSON, a missing field: the per-reading path says which
                self._read(payload, topic, route, msg.retain, readings)
            else:
                self.dead_letter(
                    route.reason,
                    route.message,
                    msg.payload[:_KEEP_BYTES],
                    twin_id=route.twin_id,
                    topic=topic,
                    size=len(msg.payload),
                )
        batch = self._columns(groups, docs, stamps, owners, payloads, topics, readings)
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
        self, payload: bytes, topic: str, route: Route, retained: bool, out: list[Reading]
    ) -> None:
        """The per-reading path: readings of one message; its problems as one dead letter."""
        origin = tuple.__new__(Origin, (payload, topic))
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            try:
                doc = parse_json(payload, topic)  # NaN, or a clear "not JSON"
            except PayloadError as exc:
                text = _as_text(payload) if route.text_ok else None
                if text is None:
                    self.dead_letter(
                        exc.reason, str(exc), payload, twin_id=route.twin_id, topic=topic
                    )
                    return
                doc = text  # a bare value as text: 7.2 bar
        readings, problems, skipped = route.map(doc, self._clock, topic, origin, retained)
        out += readings
        if skipped:
            self._skipped_retained(topic, skipped)
        if problems:
            reason, message, twin = summary(problems)
            self.dead_letter(reason, message, payload, twin_id=twin or route.twin_id, topic=topic)

    def _skipped_retained(self, topic: str, count: int) -> None:
        details = self.status.details
        if not details.get("retained_skipped"):
            log.info(
                "%s: %s: a retained message without a timestamp is not stored (its age is "
                "unknown; set retained: arrival on the binding to store such messages)",
                self.name,
                topic,
            )
        details["retained_skipped"] = details.get("retained_skipped", 0) + count

    def _columns(
        self,
        groups: dict[Any, tuple[Columnar, list[tuple[Any, ...]], list[int]]],
        docs: list[dict[str, Any]],
        stamps: list[float],
        owners: list[JsonMapping],
        payloads: list[bytes],
        topics: list[str],
        readings: list[Reading],
    ) -> ReadingColumns | None:
        """The fast path's messages as one columnar batch; odd ones join ``readings``."""
        if not groups:
            return None
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for plan, rows, members in groups.values():
            arrivals = None if plan.has_ts else np.array([stamps[m] for m in members])
            taken, ts, values = columns_of(plan, rows, arrivals)
            numbers = np.array(members, dtype=np.int64)
            if taken is not None:
                mask = np.ones(len(members), dtype=bool)
                mask[taken] = False
                for m in numbers[mask].tolist():
                    self._odd(m, docs, stamps, owners, payloads, topics, readings)
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
                out += owners[m].readings(docs[m], stamps[m], topics[m], origin)
            return out

        return ReadingColumns(Columns(self._names, series, ts, values), message, exact, len(docs))

    def _odd(
        self,
        m: int,
        docs: list[dict[str, Any]],
        stamps: list[float],
        owners: list[JsonMapping],
        payloads: list[bytes],
        topics: list[str],
        readings: list[Reading],
    ) -> None:
        """A fast-path message that is not all plain numbers, read one reading at a time."""
        origin = Origin(payloads[m], topics[m])
        arrival = stamps[m]
        route = Route([(owners[m], None)])
        found, problems, _ = route.map(docs[m], lambda: arrival, topics[m], origin)
        readings += found
        if problems:
            reason, message, twin = summary(problems)
            self.dead_letter(
                reason, message, payloads[m], twin_id=twin or owners[m].twin_id, topic=topics[m]
            )

    def _durable(
        self, link: Session, acks: list[int], futures: Sequence[asyncio.Future[Any]]
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

    def _on_reply(self, link: Session, msg: Message, topic: str) -> None:
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
        data = correlation_data(msg.props)
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
        device = binding.device or twin_id  # {twin_id} holds what the device calls itself
        topic = TopicTemplate(binding.command_topic).topic_for(device)
        reply = (
            TopicTemplate(binding.reply_topic).topic_for(device)
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
