"""The columnar ingest path gives the verdicts of the per-reading path, message for message.

Plain MQTT bindings (one key per field, numeric timestamps) are read into arrays and
checked with NumPy (``ReadingColumns``, ``Validator.validate_columns``); every message
with a sample that is not a plain, valid float goes through the per-reading checks.
Here the same messages -- good ones mixed with every kind of bad value, bad time,
repeat and broken payload -- go through a runtime as it is and through one whose
connector has the fast path switched off. What is stored, what is dead-lettered and
what is counted must be the same.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from twinworks.connect.mqtt import MqttConnector, _Message
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import SqliteStore

pytestmark = pytest.mark.anyio

DEFINITION = """
name: columnar
connectors:
  broker:
    protocol: mqtt
    port: 9
    reconnect: {initial_s: 30, max_s: 30}
types:
  sensor:
    telemetry:
      a: {min: -100, max: 100}
      b: {}
      c: {min: 0, max: 1.0e6}
      d: {min: -1, max: 1}
  mixed:
    telemetry:
      x: {min: 0, max: 10}
      n: {dtype: int, min: 0}
      ok: {dtype: bool}
      s: {dtype: string}
twins:
  - id: f1
    type: sensor
    bindings: &plain
      - connector: broker
        topic: p/{twin_id}/t
        timestamp: {path: ts}
        telemetry: {a: a, b: b, c: c, d: d}
  - id: f2
    type: sensor
    bindings:
      - connector: broker
        topic: p/{twin_id}/t
        timestamp: {path: ts, unit: ms}
        telemetry: {a: a, b: b, c: {path: c, scale: 0.5, offset: 1}, d: d}
  - {id: f3, type: sensor, bindings: *plain}
  - id: m1
    type: mixed
    bindings:
      - connector: broker
        topic: q/{twin_id}/t
        timestamp: {path: ts}
        telemetry: {x: x, n: n, ok: ok, s: s}
"""

T0 = 1_700_000_000.0
ODD_VALUES: list[Any] = [1e7, -1e7, 2**60, True, False, None, "x", [1], {"v": 1}, 7, -3]


def _value(rng: random.Random, lo: float, hi: float) -> Any:
    roll = rng.random()
    if roll < 0.85:
        return round(rng.uniform(lo, hi), 3)
    if roll < 0.9:
        return rng.randint(int(lo), int(hi))
    return rng.choice(ODD_VALUES)


def _payloads(seed: int, count: int) -> list[tuple[bytes, bytes]]:
    """(topic, payload) of ``count`` messages: mostly good, with every kind of trouble."""
    rng = random.Random(seed)
    out: list[tuple[bytes, bytes]] = []
    for i in range(count):
        roll = rng.random()
        twin = rng.choice(["f1", "f2", "f3", "f1", "f2", "m1"])
        ts: Any = T0 + i * 0.01
        if roll < 0.03:
            ts = rng.choice([None, "soon", 0, 1e12, True])
        if twin == "f2" and isinstance(ts, float):
            ts = int(ts * 1000)
        if twin.startswith("f"):
            doc: dict[str, Any] = {
                "ts": ts,
                "a": _value(rng, -100, 100),
                "b": _value(rng, -5, 5),
                "c": _value(rng, 0, 1000),
                "d": _value(rng, -1, 1),
            }
        else:
            doc = {
                "ts": ts,
                "x": _value(rng, 0, 10),
                "n": rng.choice([1, 2, 3, -1, 2.0, 2.5, "4"]),
                "ok": rng.choice([True, False, 1, "yes"]),
                "s": rng.choice(["idle", "run", 3]),
            }
        if roll > 0.97:
            doc.pop(rng.choice(sorted(doc)))  # a missing field
        payload = orjson.dumps(doc)
        if 0.95 < roll <= 0.96:
            payload = payload.replace(b'"d":', b'"d":NaN,"e":')  # NaN: refused by value
        elif 0.96 < roll <= 0.965:
            payload = b"not json"
        elif 0.965 < roll <= 0.97:
            payload = orjson.dumps([doc])  # a list of records
        topic = f"{'q' if twin == 'm1' else 'p'}/{twin}/t".encode()
        if rng.random() < 0.01:
            topic = b"p/nobody/t"  # a twin the definition does not have
        out.append((topic, payload))
        if rng.random() < 0.05:
            out.append((topic, payload))  # delivered twice
    return out


class _Link:
    v5 = False
    ack_blocked = False
    scheduled = False

    def __init__(self, messages: list[tuple[bytes, bytes]], first_mid: int) -> None:
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.acked: list[int] = []
        self.inbox = [
            _Message(topic, payload, 1, first_mid + i, None)
            for i, (topic, payload) in enumerate(messages)
        ]
        self.mids = [m.mid for m in self.inbox]

    def ack(self, mids: list[int]) -> None:
        self.acked += mids


async def _ingest(path: Path, batches: list[list[tuple[bytes, bytes]]], fast: bool) -> Any:
    defn = parse_definition(DEFINITION, "columnar.yaml")
    store = SqliteStore(path)
    try:
        async with Runtime(defn, store) as rt:
            connector = rt.connectors["broker"]
            assert isinstance(connector, MqttConnector)
            if not fast:
                for _, twins in connector._templates.values():
                    for mappings in twins.values():
                        for mapping in mappings:
                            mapping.columnar = None
            handed: list[str] = []  # what the connector handed over: columns or readings
            sink = connector.sink

            async def spy(readings: Any, source: str) -> Any:
                handed.append(type(readings).__name__)
                return await sink(readings, source)

            connector.sink = spy
            acked = 0
            for n, batch in enumerate(batches):
                link = _Link(batch, 1 + n * 10_000)
                connector._link = link  # type: ignore[assignment]
                connector._process(link)  # type: ignore[arg-type]
                deadline = asyncio.get_running_loop().time() + 20
                while len(link.acked) < len(batch):
                    assert asyncio.get_running_loop().time() < deadline, "not acknowledged"
                    await asyncio.sleep(0.01)
                assert sorted(link.acked) == link.mids  # each once
                acked += len(link.acked)
            counters = {k: v for k, v in rt.counters.items() if v}
            reported = {t: dict(rt.live[t].reported) for t in rt.live}
        points = {
            (twin, signal): store.range(twin, signal)
            for twin, signals in [("f1", "abcd"), ("f2", "abcd"), ("f3", "abcd")]
            for signal in signals
        }
        points.update({("m1", s): store.range("m1", s) for s in ("x", "n", "ok", "s")})
        letters = sorted(
            (d.reason, d.message, d.payload, d.twin_id or "", d.topic or "")
            for d in store.dead_letters(limit=100_000)
        )
        return points, letters, counters, reported, acked, set(handed)
    finally:
        store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_fast_path_stores_rejects_and_counts_as_the_reading_path(
    tmp_path: Path, seed: int
) -> None:
    messages = _payloads(seed, 3000)
    # three batches, so that repeats also span batches and transactions
    batches = [messages[:1000], messages[1000:2200], messages[2200:]]
    fast = await _ingest(tmp_path / "fast.db", batches, fast=True)
    slow = await _ingest(tmp_path / "slow.db", batches, fast=False)
    points, letters, counters, reported, acked, handed = fast
    assert handed == {"ReadingColumns", "list"} and slow[5] == {"list"}
    assert acked == len(messages)
    assert sum(len(v) for v in points.values()) > 4 * 1500  # mostly good messages
    assert len(letters) > 50  # and a fair share of bad ones
    assert counters.get("duplicates", 0) > 0
    assert points == slow[0]
    assert letters == slow[1]
    assert counters == slow[2]
    assert reported == slow[3]
