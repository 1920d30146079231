"""The writer path: store-and-forward on disk, exact duplicate counts, dead letters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from twinworks.connect import Origin, Reading
from twinworks.errors import StoreError
from twinworks.runtime import Runtime
from twinworks.runtime.spool import DiskSpool, SpoolFull
from twinworks.spec import TwinDefinition
from twinworks.store import DeadLetter, Point, SqliteStore, StoredDeadLetter, StoredEvent

pytestmark = pytest.mark.anyio
T0 = time.time() - 1000


class OutageStore(SqliteStore):
    """A real SQLite store whose writes fail while ``down`` is set (a database restarting)."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise StoreError("connection refused (simulated outage)")

    def append_many(self, batches: Sequence[Sequence[Point]]) -> list[int]:
        self._check()
        return super().append_many(batches)

    def append_events(self, events: Sequence[object]) -> list[StoredEvent]:
        self._check()
        return super().append_events(events)  # type: ignore[arg-type]

    def append_dead_letters(self, letters: Sequence[DeadLetter]) -> list[StoredDeadLetter]:
        self._check()
        return super().append_dead_letters(letters)


def temps(start: int, n: int) -> list[Reading]:
    return [Reading("m1", "temperature", T0 + start + i, 20.0 + (i % 50)) for i in range(n)]


async def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_points_wait_on_disk_while_the_store_is_down_and_drain_after(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    store = OutageStore(tmp_path / "store.db")
    spool = DiskSpool(tmp_path / "spool.db", max_points=10_000)
    async with Runtime(line_definition, store, connectors={}, spool=spool) as rt:
        await rt.ingest(temps(0, 10))
        store.down = True
        reports = [await rt.ingest(temps(10 + 100 * k, 100)) for k in range(5)]
        # the sources hear "safe" although the store is down: the points are on disk
        assert [r.spooled for r in reports] == [100] * 5
        assert [r.stored for r in reports] == [0] * 5
        assert len(spool) == 500 and store.count() == 10
        assert rt.stats()["store_down_since"] is not None
        # the reported state shows only what is in the store
        assert rt.live["m1"].reported["temperature"][0] == pytest.approx(T0 + 9)
        store.down = False
        await wait_for(lambda: len(spool) == 0 and rt.stats()["store_down_since"] is None)
        assert store.count("m1", "temperature") == 510
        assert rt.counters["drained"] == 500 and rt.counters["spooled"] == 500
        assert rt.live["m1"].reported["temperature"][0] == pytest.approx(T0 + 10 + 400 + 99)
        # nothing is counted twice: the drained points were all new
        assert rt.counters["duplicates"] == 0
    spool.close()
    store.close()


async def test_without_a_buffer_points_are_not_confirmed_until_stored(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    store = OutageStore(tmp_path / "store.db")
    async with Runtime(line_definition, store, connectors={}) as rt:
        store.down = True
        future = rt.submit(temps(0, 50), "test")
        await asyncio.sleep(0.3)
        assert not future.done()  # a connector must not acknowledge these yet
        store.down = False
        report = await asyncio.wait_for(future, 10)
        assert report.stored == 50 and store.count() == 50
    store.close()


async def test_a_full_buffer_refuses_by_default_and_says_so(
    line_definition: TwinDefinition, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = OutageStore(tmp_path / "store.db")
    spool = DiskSpool(tmp_path / "spool.db", max_points=250)
    async with Runtime(line_definition, store, connectors={}, spool=spool) as rt:
        store.down = True
        await rt.ingest(temps(0, 100))
        await rt.ingest(temps(100, 100))
        with caplog.at_level(logging.ERROR), pytest.raises(SpoolFull, match="buffer is full"):
            await rt.ingest(temps(200, 100))
        assert "is full" in caplog.text
        assert rt.counters["spool_rejected"] == 100 and spool.rejected == 100
        assert len(spool) == 200
        store.down = False
        await wait_for(lambda: len(spool) == 0)
        # what was refused was never confirmed; what was confirmed is all there
        assert store.count() == 200
    spool.close()
    store.close()


async def test_a_full_buffer_can_drop_the_oldest_instead(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    store = OutageStore(tmp_path / "store.db")
    spool = DiskSpool(tmp_path / "spool.db", max_points=250, when_full="drop_oldest")
    async with Runtime(line_definition, store, connectors={}, spool=spool) as rt:
        store.down = True
        for k in range(3):
            assert (await rt.ingest(temps(100 * k, 100))).spooled == 100
        assert spool.dropped == 50 and len(spool) == 250
        store.down = False
        await wait_for(lambda: len(spool) == 0)
        kept = [ts - T0 for ts, _ in store.range("m1", "temperature")]
        assert kept == pytest.approx([float(i) for i in range(50, 300)])
        assert rt.stats()["spool"]["dropped"] == 50
    spool.close()
    store.close()


async def test_a_buffer_left_at_stop_is_drained_at_the_next_start(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    store = OutageStore(tmp_path / "store.db")
    with DiskSpool(tmp_path / "spool.db") as spool:
        rt = Runtime(line_definition, store, connectors={}, spool=spool, stop_timeout_s=0.2)
        await rt.start()
        store.down = True
        assert (await rt.ingest(temps(0, 300))).spooled == 300
        await rt.stop()
    store.close()
    store = OutageStore(tmp_path / "store.db")
    with DiskSpool(tmp_path / "spool.db") as spool:
        assert len(spool) == 300  # it was on disk all along
        async with Runtime(line_definition, store, connectors={}, spool=spool) as rt:
            await wait_for(lambda: len(spool) == 0)
            assert store.count("m1", "temperature") == 300
    store.close()


async def test_duplicates_are_counted_exactly_per_source(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        async with Runtime(line_definition, store, connectors={}) as rt:
            await rt.ingest(temps(0, 100))
            # three sources at once: all land in one batch, each learns its own count
            futures = [
                rt.submit(temps(50, 100), "a"),  # 50 repeats, 50 new
                rt.submit(temps(0, 30), "b"),  # all repeats
                rt.submit(temps(140, 20), "c"),  # 10 repeat a's new points, 10 new
            ]
            reports = await asyncio.gather(*futures)
            assert [(r.stored, r.duplicates) for r in reports] == [(50, 50), (0, 30), (10, 10)]
            assert rt.counters["duplicates"] == 90
            assert rt.counters["stored"] == store.count() == 160


async def test_rejected_readings_become_one_dead_letter_per_message(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        async with Runtime(line_definition, store, connectors={}) as rt:
            raw = b'{"t": 999, "c": "many"}'
            origin = Origin(raw, "plant/m1/telemetry")
            report = await rt.ingest(
                [
                    Reading("m1", "temperature", T0, 999.0, None, origin),
                    Reading("m1", "count", T0, "many", None, origin),
                    Reading("m1", "temperature", T0 + 1, 30.0, None, Origin(b"{}", "x")),
                    Reading("m1", "temperature", T0 + 2, float("nan")),
                ],
                source="broker",
            )
            assert report.stored == 1 and len(report.rejected) == 3
            await rt.flush()
            letters = store.dead_letters(newest_first=False)
            assert [(d.reason, d.topic) for d in letters] == [
                ("nan", None),
                ("out_of_range", "plant/m1/telemetry"),
            ]
            assert letters[1].payload == raw  # the message exactly as the device sent it
            assert "999.0 is outside" in letters[1].message and "'many'" in letters[1].message
            assert b'"signal": "temperature"' in letters[0].payload
            assert store.dead_letter_counts() == {"m1": {"nan": 1, "out_of_range": 1}}
            assert rt.counters["dead_letters"] == 2


async def test_dead_letters_are_trimmed_but_counted(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        async with Runtime(line_definition, store, connectors={}, max_dead_letters=100) as rt:
            for i in range(1200):
                rt.dead_letter(DeadLetter("broker", "not_json", "not JSON", b"x%d" % i, "m1"))
            await rt.flush()
            assert store.dead_letter_counts() == {"m1": {"not_json": 1200}}
            assert len(store.dead_letters(limit=10_000)) <= 1000
            assert store.dead_letters(limit=1)[0].payload == b"x1199"
            assert rt.rejections["m1"]["not_json"] == 1200
