"""Sparkplug B ingest benchmark: 1,000 devices through mosquitto into twinworks, beside JSON.

Three processes, as in a plant: a rate-controlled publisher standing in for 10 edge
nodes of 100 devices each, mosquitto, and ``twinworks up`` (Sparkplug host
application → validation → embedded SQLite store, with its API running). The
publisher first sends every NBIRTH and DBIRTH (aliases and datatypes of 4 Double
metrics per device), then DDATA messages by alias, QoS 1, round-robin over the
devices, each with its node's next sequence number and stamped with the time it was
due. The offered rate is stepped up; a step is *sustained* when every published
message is in the store by the end of the step plus a short grace (zero loss:
stored points = 4 × messages, exactly) and the backlog at the end of the step was
under one second of traffic.

In the same run the plain JSON MQTT path is measured the same way by
``ingest_mqtt.run_twinworks`` (same machine, same rates, same step length), so the
two figures can be compared directly.

Run: ``python3 bootstrap.py bench bench/ingest_sparkplug.py`` (``--quick`` for short
steps). Every step is printed; the last line holds the final figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingest_mqtt import Prober, _text, _varint, cpu_seconds, percentile, run_twinworks
from twinworks.connect.sparkplug.payload import decode, encode
from twinworks.plant.broker import MosquittoBroker, free_port
from twinworks.store import SqliteStore

NODES = 10
DEVICES_PER_NODE = 100
TWINS = NODES * DEVICES_PER_NODE
SIGNALS = ("a", "b", "c", "d")
GROUP = "bench"


def node_of(i: int) -> str:
    return f"n{i // DEVICES_PER_NODE:02d}"


def definition_yaml(port: int, qos: int = 1) -> str:
    lines = [
        "name: bench-sparkplug",
        "connectors:",
        "  spb:",
        "    protocol: sparkplug",
        f"    port: {port}",
        "    host_id: bench",
        f"    qos: {qos}",
        "    rebirth_on_connect: false  # the publisher births once, after the host is up",
        "types:",
        "  sensor:",
        "    telemetry:",
        *[f"      {s}: {{min: -1.0e6, max: 1.0e6}}" for s in SIGNALS],
        "twins:",
    ]
    for i in range(TWINS):
        lines.append(
            f"  - {{id: s{i:04d}, type: sensor, bindings: [{{connector: spb, group: {GROUP}, "
            f"edge_node: {node_of(i)}, device: d{i:04d}, telemetry: [a, b, c, d]}}]}}"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the publisher


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def ddata(ts_ms: int, seq: int, values: tuple[float, ...]) -> bytes:
    """A DDATA payload by hand (protobuf wire format): metrics by alias 1..4, Double values.

    Encoding with the protobuf runtime costs more per message than the publisher can
    spare at high rates; ``check_encoding`` proves the bytes decode to the same values.
    """
    metrics = b"".join(
        b"\x12" + bytes([11]) + b"\x10" + bytes([k + 1]) + b"\x69" + struct.pack("<d", v)
        for k, v in enumerate(values)
    )
    return _field_varint(1, ts_ms) + metrics + _field_varint(3, seq)


def check_encoding() -> None:
    decoded = decode(ddata(1_700_000_000_123, 7, (1.5, -2.0, 3.25, 4.0)))
    assert decoded.timestamp == 1_700_000_000_123 and decoded.seq == 7
    assert [(m.alias, m.value, m.value_field) for m in decoded.metrics] == [
        (1, 1.5, "double_value"),
        (2, -2.0, "double_value"),
        (3, 3.25, "double_value"),
        (4, 4.0, "double_value"),
    ]


class SparkplugPublisher:
    """QoS 1 PUBLISH packets written in bulk on a raw socket (cheap enough to offer tens
    of thousands of messages a second from one core)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _text("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + _text("bench-edge")
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        ack = self.sock.recv(4)
        if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
            raise RuntimeError(f"broker refused the publisher: {ack!r}")
        self.mid = 0
        self.acked = 0
        self.seq = [0] * NODES
        self._topics = [_text(f"spBv1.0/{GROUP}/DDATA/{node_of(i)}/d{i:04d}") for i in range(TWINS)]
        threading.Thread(target=self._read_acks, daemon=True).start()

    def _read_acks(self) -> None:
        pending = 0
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += len(data)
            self.acked += pending // 4
            pending %= 4

    def _packet(self, topic: bytes, payload: bytes) -> bytes:
        self.mid = self.mid % 65535 + 1
        body = topic + struct.pack(">H", self.mid) + payload
        return b"\x32" + _varint(len(body)) + body

    def _next_seq(self, node: int) -> int:
        seq = self.seq[node]
        self.seq[node] = (seq + 1) % 256
        return seq

    def births(self) -> int:
        """NBIRTH of every node, then DBIRTH of every device (values 0); returns the count."""
        now = int(time.time() * 1000)
        packets = []
        for n in range(NODES):
            self.seq[n] = 0
            payload = encode(
                [{"name": "bdSeq", "datatype": "Int64", "value": 0}],
                timestamp=now,
                seq=self._next_seq(n),
            )
            packets.append(self._packet(_text(f"spBv1.0/{GROUP}/NBIRTH/n{n:02d}"), payload))
        for i in range(TWINS):
            metrics = [
                {"name": s, "alias": k + 1, "datatype": "Double", "value": 0.0}
                for k, s in enumerate(SIGNALS)
            ]
            payload = encode(metrics, timestamp=now, seq=self._next_seq(i // DEVICES_PER_NODE))
            topic = _text(f"spBv1.0/{GROUP}/DBIRTH/{node_of(i)}/d{i:04d}")
            packets.append(self._packet(topic, payload))
        self.sock.sendall(b"".join(packets))
        return len(packets)

    def packet(self, index: int, ts: float, value: int) -> bytes:
        i = index % TWINS
        values = (float(value), (value % 997) * 0.5, (value % 101) * 0.25, (value % 13) * 1.5)
        payload = ddata(int(ts * 1000), self._next_seq(i // DEVICES_PER_NODE), values)
        return self._packet(self._topics[i], payload)

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


def publisher_main(port: int, control: Connection) -> None:
    """Its own process: ('births',) → count; ('run', rate, seconds) → sent; ('stop',)."""
    pub = SparkplugPublisher(port)
    sent = 0
    tick = 0.005
    while True:
        command = control.recv()
        if command[0] == "stop":
            pub.close()
            control.send(("stopped", sent, pub.acked))
            return
        if command[0] == "births":
            control.send(("births", pub.births()))
            continue
        _, rate, seconds = command
        start = time.time()
        step_sent = 0
        target_total = int(rate * seconds)
        while step_sent < target_total:
            now = time.time()
            due = min(target_total, int((now - start) * rate)) - step_sent
            if due > 0:
                # stamped with the time each was due (1 ms resolution, as Sparkplug has):
                # one device's messages are 1,000 messages apart, far more than 1 ms at
                # any rate measured here, so their stamps stay distinct
                pub.sock.sendall(
                    b"".join(
                        pub.packet(sent + k, start + (step_sent + k) / rate, sent + k)
                        for k in range(due)
                    )
                )
                step_sent += due
                sent += due
            time.sleep(max(0.0, tick - (time.time() - now)))
        control.send(("done", step_sent, pub.acked, time.time() - start))


# ------------------------------------------------------------------ measuring


def run_sparkplug(args: argparse.Namespace, broker: MosquittoBroker, work: Path) -> dict[str, Any]:
    definition = work / "bench-sparkplug.yaml"
    definition.write_text(definition_yaml(broker.port, args.qos))
    data_dir = work / "data-sparkplug"
    log_path = work / "twinworks-sparkplug.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "twinworks.cli", "up", str(definition), "--headless",
                "--port", str(free_port()), "--data-dir", str(data_dir), "--status-every", "3600",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    store_path = data_dir / "bench-sparkplug.db"
    deadline = time.time() + 60
    while not store_path.exists() or "API" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"twinworks up did not start; see {log_path}")
        time.sleep(0.2)
    time.sleep(1.0)  # the host application subscribes
    store = SqliteStore(store_path)
    prober = Prober(store_path)
    prober.start()
    parent, child = mp.Pipe()
    publisher = mp.Process(target=publisher_main, args=(broker.port, child), daemon=True)
    publisher.start()
    results: list[dict[str, Any]] = []
    try:
        parent.send(("births",))
        parent.recv()
        # the births carry a first value of every metric: one point each
        born = TWINS * len(SIGNALS)
        deadline = time.time() + 60
        while store.count() < born and time.time() < deadline:
            time.sleep(0.1)
        if store.count() != born:
            raise RuntimeError(f"births: {store.count()} of {born} points stored; see {log_path}")
        published = 0
        stored_before = 0

        def stored_messages() -> int:
            return (store.count() - born) // len(SIGNALS)

        for rate in args.rates:
            step_start = time.time()
            cpu_start = cpu_seconds(proc.pid)
            parent.send(("run", rate, args.step_s))
            _, sent, _, took = parent.recv()
            published += sent
            step_end = time.time()
            backlog = published - stored_messages()
            grace_end = step_end + args.grace_s
            while stored_messages() < published and time.time() < grace_end:
                time.sleep(0.1)
            stored = stored_messages()
            cpu_us = (cpu_seconds(proc.pid) - cpu_start) / max(1, stored - stored_before) * 1e6
            stored_before = stored
            exact = store.count() - born == published * len(SIGNALS)
            lat = prober.window(step_start, step_end)
            kept_up = backlog <= rate * 1.0 and took <= args.step_s * 1.1
            row = {
                "rate": rate,
                "offered": sent / took,
                "exact": exact,
                "backlog": backlog,
                "p50_ms": percentile(lat, 50) * 1e3,
                "p99_ms": percentile(lat, 99) * 1e3,
                "cpu_us": cpu_us,
                "sustained": exact and kept_up,
            }
            results.append(row)
            print(
                f"  sparkplug  offered {row['offered']:8.0f} msg/s  stored {stored}/{published} "
                f"(all stored, once: {exact})  backlog at end {backlog:6d}  "
                f"latency p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
                f"CPU {cpu_us:5.1f} us/msg  "
                f"-> {'sustained' if row['sustained'] else 'NOT sustained'}",
                flush=True,
            )
            if not row["sustained"]:
                break
    finally:
        parent.send(("stop",))
        parent.recv()
        publisher.join(5)
        prober.stop()
        store.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    best = max((r for r in results if r["sustained"]), key=lambda r: r["rate"], default=None)
    return {"steps": results, "best": best}


def _summary(best: dict[str, Any] | None) -> str:
    if best is None:
        return "no step sustained"
    return (
        f"{best['rate']} msg/s ({best['rate'] * len(SIGNALS)} points/s), "
        f"p99 {best['p99_ms']:.1f} ms, {best['cpu_us']:.1f} us CPU/msg"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps (a smoke run)")
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--step-s", type=float, default=None, help="seconds per step")
    parser.add_argument("--grace-s", type=float, default=5.0)
    parser.add_argument("--skip-json", action="store_true", help="Sparkplug only")
    parser.add_argument(
        "--qos", type=int, choices=[0, 1], default=1, help="the host's subscription QoS"
    )
    args = parser.parse_args()
    args.rates = args.rates or (
        [2000, 5000, 10000, 15000] if args.quick else [2000, 5000, 10000, 15000, 20000, 25000]
    )
    args.step_s = args.step_s or (4.0 if args.quick else 10.0)
    args.mqtt_version = "3.1.1"  # what ingest_mqtt.run_twinworks reads for the JSON path
    check_encoding()
    print(
        f"Sparkplug B ingest: {NODES} edge nodes x {DEVICES_PER_NODE} devices x "
        f"{len(SIGNALS)} Double metrics, DDATA by alias published at QoS 1, host subscribed "
        f"at QoS {args.qos}; {'no JSON path' if args.skip_json else 'JSON path beside it'}; "
        f"steps {args.rates} msg/s of {args.step_s:g} s, on {os.cpu_count()} cores",
        flush=True,
    )
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="twinworks-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(directory=work / "broker", persistence=False) as broker:
            spb = run_sparkplug(args, broker, work)
        json_path: dict[str, Any] = {"best": None}
        if not args.skip_json:
            with MosquittoBroker(directory=work / "broker2", persistence=False) as broker:
                json_path = run_twinworks(args, broker, work)
    json_figure = "not measured" if args.skip_json else f"sustained {_summary(json_path['best'])}"
    print(
        f"RESULT ingest_sparkplug: Sparkplug B (subscription QoS {args.qos}) sustained "
        f"{_summary(spb['best'])}; JSON MQTT {json_figure}; zero loss, {TWINS} devices, "
        f"steps of {args.step_s:g} s (load average at start {load:.1f})",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
