"""MQTT ingest benchmark: telemetry of 1,000 twins through mosquitto into twinworks.

Three processes, as in a plant: a rate-controlled publisher, mosquitto, and
``twinworks up`` (MQTT connector → validation → embedded SQLite store, with its API
running). The publisher sends QoS 1 JSON messages with 4 signals each, round-robin
over 1,000 twins, stamping each with the time it was due. The offered rate is stepped
up; a step is *sustained* when, by the end of the step plus a short grace, every
published message is in the store (zero loss: the stored point count equals 4 × the
published messages, exactly) and the backlog at the end of the step was under one
second of traffic. Latency is publish-to-queryable: this process polls the store
(another reader, as the API would be) for the points of one probe twin and notes
when each becomes visible.

In the same run, a bare paho subscriber (``loop_forever``, QoS 1, counting messages
and nothing else) is stepped the same way, to show what the client library alone
keeps up with on this machine.

Run: ``python3 bootstrap.py bench bench/ingest_mqtt.py`` (``--quick`` for short
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

from twinworks.plant.broker import MosquittoBroker, free_port
from twinworks.store import SqliteStore

TWINS = 1000
SIGNALS = ("a", "b", "c", "d")
PROBE = "s0000"  # the twin whose points are timed (1 in 1,000 messages)
TOPIC = "bench/{twin}/telemetry"


# ------------------------------------------------------------------ the definition


def definition_yaml(port: int, version: str) -> str:
    lines = [
        "name: bench-mqtt",
        "connectors:",
        "  broker:",
        "    protocol: mqtt",
        f"    port: {port}",
        f'    version: "{version}"',
        "    qos: 1",
        "    client_id: twinworks-bench",
        "types:",
        "  sensor:",
        "    telemetry:",
        *[f"      {s}: {{min: -1.0e6, max: 1.0e6}}" for s in SIGNALS],
        "twins:",
    ]
    binding = (
        "{connector: broker, topic: 'bench/{twin_id}/telemetry', timestamp: {path: ts}, "
        "telemetry: {a: a, b: b, c: c, d: d}}"
    )
    for i in range(TWINS):
        lines.append(f"  - {{id: s{i:04d}, type: sensor, bindings: [{binding}]}}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the publisher


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


class RawPublisher:
    """MQTT 3.1.1 QoS 1 publishing from pre-encoded packets, written in bulk.

    Cheap enough to offer tens of thousands of messages a second from one core, so
    that the publisher is not what limits the measurement.
    """

    def __init__(self, port: int, client_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _text("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + _text(client_id)
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        ack = self.sock.recv(4)
        if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
            raise RuntimeError(f"broker refused the publisher: {ack!r}")
        self.mid = 0
        self.acked = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()
        self._topics = [_text(TOPIC.format(twin=f"s{i:04d}")) for i in range(TWINS)]

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
            self.acked += pending // 4  # PUBACKs are 4 bytes each
            pending %= 4

    def packet(self, index: int, ts: float, value: int) -> bytes:
        self.mid = self.mid % 65535 + 1
        payload = b'{"ts":%.6f,"a":%d,"b":%.3f,"c":%.3f,"d":%.3f}' % (
            ts,
            value,
            (value % 997) * 0.5,
            (value % 101) * 0.25,
            (value % 13) * 1.5,
        )
        body = self._topics[index % TWINS] + struct.pack(">H", self.mid) + payload
        return b"\x32" + _varint(len(body)) + body

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


def publisher_main(port: int, control: Connection) -> None:
    """Runs in its own process: ('run', rate, seconds) → sent count, until ('stop',)."""
    pub = RawPublisher(port, "bench-publisher")
    sent = 0
    tick = 0.005
    while True:
        command = control.recv()
        if command[0] == "stop":
            pub.close()
            control.send(("stopped", sent, pub.acked))
            return
        _, rate, seconds = command
        start = time.time()
        step_sent = 0
        target_total = int(rate * seconds)
        while step_sent < target_total:
            now = time.time()
            due = min(target_total, int((now - start) * rate)) - step_sent
            if due > 0:
                # each message is stamped with the time it was due, not the time it leaves: the
                # stamps of one twin stay distinct even when a tick comes late on a busy
                # machine (several messages per twin in one write), and the latency measured
                # from them includes any delay of the publisher itself
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


# ------------------------------------------------------------------ bare paho


def bare_subscriber_main(port: int, control: Connection) -> None:
    """Runs in its own process: a paho subscriber that only counts what it receives."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    received = 0
    ready = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe("bench/+/telemetry", qos=1)

    def on_subscribe(*args: Any) -> None:
        ready.set()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal received
        received += 1

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=paho.MQTTv311
    )
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port, 60)
    client.loop_start()
    ready.wait(10)
    control.send(("ready",))
    while True:
        if control.recv()[0] == "stop":
            client.loop_stop()
            control.send(("stopped", received))
            return
        control.send(("count", received))


# ------------------------------------------------------------------ measuring


class Prober(threading.Thread):
    """Polls the store for the probe twin's points; records publish-to-queryable latency."""

    def __init__(self, store_path: Path, every_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.store_path = store_path
        self.every_s = every_s
        self.latencies: list[tuple[float, float]] = []  # (publish ts, latency s)
        self._halt = threading.Event()
        self._last = 0.0

    def run(self) -> None:
        store = SqliteStore(self.store_path)
        try:
            while not self._halt.is_set():
                rows = store.range(PROBE, "a", start=self._last + 1e-6 if self._last else None)
                now = time.time()
                for ts, _ in rows:
                    self.latencies.append((ts, now - ts))
                if rows:
                    self._last = rows[-1][0]
                time.sleep(self.every_s)
        finally:
            store.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def window(self, start: float, end: float) -> list[float]:
        return [lat for ts, lat in self.latencies if start <= ts < end]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; NaN elsewhere).

    On a machine shared with other work the sustained rate and the latency depend on
    what the others leave over; the CPU time spent per message does much less, so it
    is reported too.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def stored_messages(store: SqliteStore) -> int:
    return store.count() // len(SIGNALS)


def run_twinworks(args: argparse.Namespace, broker: MosquittoBroker, work: Path) -> dict[str, Any]:
    definition = work / "bench.yaml"
    definition.write_text(definition_yaml(broker.port, args.mqtt_version))
    data_dir = work / "data"
    log_path = work / "twinworks.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "twinworks.cli", "up", str(definition), "--headless",
                "--port", str(free_port()), "--data-dir", str(data_dir), "--status-every", "3600",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    store_path = data_dir / "bench-mqtt.db"
    deadline = time.time() + 60
    while not store_path.exists() or "API" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"twinworks up did not start; see {log_path}")
        time.sleep(0.2)
    time.sleep(1.0)  # the connector subscribes
    store = SqliteStore(store_path)
    prober = Prober(store_path)
    prober.start()
    parent, child = mp.Pipe()
    publisher = mp.Process(target=publisher_main, args=(broker.port, child), daemon=True)
    publisher.start()
    results: list[dict[str, Any]] = []
    published = 0
    stored_before = 0
    try:
        for rate in args.rates:
            step_start = time.time()
            cpu_start = cpu_seconds(proc.pid)
            parent.send(("run", rate, args.step_s))
            _, sent, _, took = parent.recv()
            published += sent
            step_end = time.time()
            backlog = published - stored_messages(store)
            grace_end = step_end + args.grace_s
            while stored_messages(store) < published and time.time() < grace_end:
                time.sleep(0.1)
            stored = stored_messages(store)
            cpu_us = (cpu_seconds(proc.pid) - cpu_start) / max(1, stored - stored_before) * 1e6
            stored_before = stored
            points = store.count()
            lat = prober.window(step_start, step_end)
            exact = points == published * len(SIGNALS)
            kept_up = backlog <= rate * 1.0 and took <= args.step_s * 1.1
            row = {
                "rate": rate,
                "offered": sent / took,
                "sent": sent,
                "stored": stored,
                "exact": exact,
                "backlog": backlog,
                "p50_ms": percentile(lat, 50) * 1e3,
                "p99_ms": percentile(lat, 99) * 1e3,
                "samples": len(lat),
                "cpu_us": cpu_us,
                "sustained": exact and kept_up,
            }
            results.append(row)
            print(
                f"  twinworks  offered {row['offered']:8.0f} msg/s  stored {stored}/{published} "
                f"(all stored, once: {exact})  backlog at end {backlog:6d}  "
                f"latency p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:7.1f} ms "
                f"({len(lat)} probes)  CPU {cpu_us:5.1f} us/msg  "
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


def run_bare(args: argparse.Namespace, broker: MosquittoBroker) -> tuple[float, float]:
    sub_parent, sub_child = mp.Pipe()
    subscriber = mp.Process(target=bare_subscriber_main, args=(broker.port, sub_child), daemon=True)
    subscriber.start()
    sub_parent.recv()  # ready
    parent, child = mp.Pipe()
    publisher = mp.Process(target=publisher_main, args=(broker.port, child), daemon=True)
    publisher.start()
    best = 0.0
    best_cpu = float("nan")
    published = 0
    received_before = 0
    try:
        for rate in args.rates:
            cpu_start = cpu_seconds(subscriber.pid or 0)
            parent.send(("run", rate, args.step_s))
            _, sent, _, took = parent.recv()
            published += sent
            sub_parent.send(("count",))
            at_end = sub_parent.recv()[1]
            grace_end = time.time() + args.grace_s
            received = at_end
            while received < published and time.time() < grace_end:
                time.sleep(0.1)
                sub_parent.send(("count",))
                received = sub_parent.recv()[1]
            backlog = published - at_end
            cpu_us = (cpu_seconds(subscriber.pid or 0) - cpu_start) / max(
                1, received - received_before
            )
            cpu_us *= 1e6
            received_before = received
            ok = received == published and backlog <= rate * 1.0 and took <= args.step_s * 1.1
            print(
                f"  bare paho  offered {sent / took:8.0f} msg/s  received {received}/{published}"
                f"  backlog at end {backlog:6d}  CPU {cpu_us:5.1f} us/msg"
                f"  -> {'kept up' if ok else 'did NOT keep up'}",
                flush=True,
            )
            if not ok:
                break
            best, best_cpu = sent / took, cpu_us
    finally:
        parent.send(("stop",))
        parent.recv()
        sub_parent.send(("stop",))
        sub_parent.recv()
        publisher.join(5)
        subscriber.join(5)
    return best, best_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps (a smoke run)")
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--step-s", type=float, default=None, help="seconds per step")
    parser.add_argument("--grace-s", type=float, default=5.0)
    parser.add_argument("--mqtt-version", choices=["3.1.1", "5"], default="3.1.1")
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()
    args.rates = args.rates or (
        [5000, 10000, 20000, 30000] if args.quick else [5000, 10000, 15000, 20000, 25000, 30000]
    )
    args.step_s = args.step_s or (4.0 if args.quick else 10.0)
    print(
        f"MQTT ingest: {TWINS} twins x {len(SIGNALS)} signals, QoS 1, MQTT {args.mqtt_version}, "
        f"steps {args.rates} msg/s of {args.step_s:g} s, on {os.cpu_count()} cores",
        flush=True,
    )
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="twinworks-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(directory=work / "broker", persistence=False) as broker:
            ours = run_twinworks(args, broker, work)
        bare, bare_cpu = 0.0, float("nan")
        if not args.skip_bare:
            with MosquittoBroker(directory=work / "broker2", persistence=False) as broker:
                bare, bare_cpu = run_bare(args, broker)
    best = ours["best"]
    rate = best["rate"] if best else 0
    p50 = best["p50_ms"] if best else float("nan")
    p99 = best["p99_ms"] if best else float("nan")
    cpu = best["cpu_us"] if best else float("nan")
    # the target is a latency at 20,000 msg/s: judged on that step (a faster sustained step
    # with a higher p99 does not fail it, nor does a fast p99 at a lower rate meet it)
    at_target = next((r for r in ours["steps"] if r["rate"] == 20000 and r["sustained"]), None)
    met = at_target is not None and at_target["p99_ms"] < 100
    target_p99 = (
        f"p99 {at_target['p99_ms']:.1f} ms at 20000 msg/s" if at_target else "not sustained"
    )
    print(
        f"RESULT ingest_mqtt: sustained {rate} msg/s ({rate * len(SIGNALS)} points/s) with zero "
        f"loss, latency p50 {p50:.1f} ms p99 {p99:.1f} ms at that rate, {cpu:.1f} us CPU per "
        f"message; bare paho subscriber kept up with {bare:.0f} msg/s ({bare_cpu:.1f} us CPU per "
        f"message); target 20000 msg/s p99<100 ms: {'met' if met else 'not met'} ({target_p99}; "
        f"load average at start {load:.1f})",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
