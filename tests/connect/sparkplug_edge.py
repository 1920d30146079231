"""A simulated Sparkplug B edge node for the connector tests: a real paho client on a real broker.

It encodes its payloads with the connector's own payload module, follows the edge
node's rules (bdSeq in NBIRTH and in the NDEATH will, a sequence number per
message, births again when asked with ``Node Control/Rebirth``) and records the
commands it receives. Tests drive it step by step; ``skip_seq`` makes a gap on
purpose.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from twinworks.connect.sparkplug.payload import decode, encode

__all__ = ["EdgeNode", "Metric"]

# name → (alias, datatype, value, properties)
Metric = tuple[int, str, Any, dict[str, Any]]


class EdgeNode:
    def __init__(
        self,
        port: int,
        group: str,
        node: str,
        node_metrics: dict[str, Metric] | None = None,
        devices: dict[str, dict[str, Metric]] | None = None,
        *,
        rebirth_on_request: bool = True,
        primary_host: str | None = None,
    ) -> None:
        self.port = port
        self.group = group
        self.node = node
        self.node_metrics = dict(node_metrics or {})
        self.devices = {d: dict(m) for d, m in (devices or {}).items()}
        self.rebirth_on_request = rebirth_on_request
        # Sparkplug 3.0: a node that names its primary host births when that host comes online
        self.primary_host = primary_host
        self.host_seen: int | None = None  # timestamp of the host's last online STATE
        self.bd_seq = 0
        self.seq = 0
        self.commands: list[tuple[str, list[Any]]] = []  # (topic, decoded metrics)
        self.rebirths = 0  # rebirth requests received
        self.reborn = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = self._client()

    def _client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"edge-{self.group}-{self.node}-{self.bd_seq}",
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        death = encode([{"name": "bdSeq", "datatype": "Int64", "value": self.bd_seq}])
        client.will_set(self.topic("NDEATH"), death, qos=1)
        client.on_message = self._on_message
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *a: self.subscribed.set()
        client.reconnect_delay_set(0.05, 0.2)
        return client

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"spBv1.0/{self.group}/{kind}/{self.node}"
        return base if device is None else f"{base}/{device}"

    # ------------------------------------------------------------------ session

    def connect(self) -> None:
        self.client.connect("127.0.0.1", self.port, 30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("the edge node could not subscribe")

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        topics = [(self.topic("NCMD"), 0), (f"spBv1.0/{self.group}/DCMD/{self.node}/+", 0)]
        if self.primary_host is not None:
            topics.append((f"spBv1.0/STATE/{self.primary_host}", 1))
        client.subscribe(topics)
        if self.subscribed.is_set():
            # back after a lost connection: a new session, born again (Sparkplug's rule)
            self.bd_seq += 1
            threading.Thread(target=self.birth, daemon=True).start()

    def reconnect(self) -> None:
        """A new session after a crash: the next bdSeq, a fresh client (the caller births)."""
        self.bd_seq += 1
        self.subscribed.clear()
        self.client = self._client()
        self.connect()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def crash(self) -> None:
        """Drop the connection without DISCONNECT: the broker publishes the NDEATH will."""
        sock = self.client.socket()
        if sock is not None:
            sock.close()
        self.client.loop_stop()

    def _next_seq(self) -> int:
        with self.lock:
            seq = self.seq
            self.seq = (self.seq + 1) % 256
            return seq

    def _publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0).wait_for_publish(10)

    # ------------------------------------------------------------------ messages

    def birth(self, ts_ms: int | None = None) -> None:
        """NBIRTH (seq 0, with bdSeq and Node Control/Rebirth), then a DBIRTH per device."""
        ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
        with self.lock:
            self.seq = 0
        metrics = [
            {"name": "bdSeq", "datatype": "Int64", "value": self.bd_seq},
            {"name": "Node Control/Rebirth", "datatype": "Boolean", "value": False},
            *self._described(self.node_metrics),
        ]
        self._publish(self.topic("NBIRTH"), encode(metrics, timestamp=ts, seq=self._next_seq()))
        for device in self.devices:
            self.device_birth(device, ts)

    def device_birth(self, device: str, ts_ms: int | None = None) -> None:
        ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
        payload = encode(self._described(self.devices[device]), timestamp=ts, seq=self._next_seq())
        self._publish(self.topic("DBIRTH", device), payload)

    @staticmethod
    def _described(metrics: dict[str, Metric]) -> list[dict[str, Any]]:
        return [
            {"name": n, "alias": a, "datatype": t, "value": v, "properties": p}
            for n, (a, t, v, p) in metrics.items()
        ]

    def data(
        self,
        values: dict[str, Any],
        device: str | None = None,
        ts_ms: int | None = None,
        *,
        skip_seq: int = 0,
        raw: list[dict[str, Any]] | None = None,
    ) -> None:
        """NDATA/DDATA of ``values`` by alias (``raw``: metrics exactly as given)."""
        table = self.node_metrics if device is None else self.devices[device]
        metrics = list(raw or [])
        for name, value in values.items():
            alias, datatype, _, props = table[name]
            table[name] = (alias, datatype, value, props)
            metrics.append({"alias": alias, "datatype": datatype, "value": value})
        with self.lock:
            self.seq = (self.seq + skip_seq) % 256
        ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
        payload = encode(metrics, timestamp=ts, seq=self._next_seq())
        kind = "NDATA" if device is None else "DDATA"
        self._publish(self.topic(kind, device), payload)

    def device_death(self, device: str) -> None:
        payload = encode([], timestamp=int(time.time() * 1000), seq=self._next_seq())
        self._publish(self.topic("DDEATH", device), payload)

    def death(self) -> None:
        """An NDEATH as the will would carry it, then a new session's bdSeq."""
        death = encode([{"name": "bdSeq", "datatype": "Int64", "value": self.bd_seq}])
        self._publish(self.topic("NDEATH"), death)
        self.bd_seq += 1

    def send_raw(self, kind: str, payload: bytes, device: str | None = None) -> None:
        self._publish(self.topic(kind, device), payload)

    # ------------------------------------------------------------------ commands

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic.startswith("spBv1.0/STATE/"):
            state = json.loads(msg.payload)
            if state.get("online") is True and state.get("timestamp") != self.host_seen:
                # a host that came online (now, or while we were away) needs our birth
                self.host_seen = state.get("timestamp")
                threading.Thread(target=self._rebirth, daemon=True).start()
            return
        metrics = decode(msg.payload).metrics
        with self.lock:
            self.commands.append((msg.topic, metrics))
        if any(m.name == "Node Control/Rebirth" and m.value is True for m in metrics):
            with self.lock:
                self.rebirths += 1
            if self.rebirth_on_request:
                threading.Thread(target=self._rebirth, daemon=True).start()

    def _rebirth(self) -> None:
        self.birth()
        with self.lock:
            # births the host asked for (or came online for), counted once they are out
            self.reborn += 1

    def wait_command(self, predicate: Any, timeout: float = 10.0) -> tuple[str, list[Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for command in self.commands:
                    if predicate(command):
                        return command
            time.sleep(0.02)
        raise AssertionError(f"no matching command; received {self.commands}")
