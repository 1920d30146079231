"""Signal quality reported by a connector: companion series, events, twin status, twin view."""

from __future__ import annotations

import time

import pytest

from twinworks.connect import Reading
from twinworks.runtime import Runtime
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

DEFINITION = parse_definition(
    "types: {pump: {telemetry: {flow: {}, pressure: {}}}}\ntwins: [{id: p1, type: pump}]"
)


async def test_a_bad_signal_is_stored_marked_and_recovers() -> None:
    store = MemoryStore()
    async with Runtime(DEFINITION, store) as runtime:
        t0 = float(int(time.time()))  # whole seconds: the store keeps microseconds
        await runtime.ingest([Reading("p1", "flow", t0, 3.0), Reading("p1", "pressure", t0, 1.0)])
        assert runtime.live["p1"].status != "alarm"

        runtime.quality.report("p1", "flow", t0 + 1, "bad", "BadSensorFailure")
        runtime.quality.report("p1", "flow", t0 + 2, "bad", "BadSensorFailure")  # no change
        await runtime.flush()
        assert runtime.live["p1"].status == "alarm"
        assert runtime.conditions["p1"] == {"quality:flow"}
        view = runtime.twin_view("p1")
        assert view["reported"]["flow"] == {"ts": t0, "value": 3.0, "unit": None, "quality": "bad"}
        assert "quality" not in view["reported"]["pressure"]
        # the view of a past time reads the companion series from the store
        past = runtime.twin_view("p1", as_of=t0 + 1.5)
        assert past["reported"]["flow"]["quality"] == "bad"

        runtime.quality.report("p1", "flow", t0 + 3, "good", None)
        await runtime.flush()
        assert runtime.live["p1"].status != "alarm"
        assert runtime.conditions["p1"] == set()
        events = store.events(twin_id="p1", kinds=["SignalQualityChanged"], newest_first=False)
        assert [(e.data["quality"], e.data["previous"], e.data["status"]) for e in events] == [
            ("bad", "good", "BadSensorFailure"),
            ("good", "bad", None),
        ]
        assert [e.ts for e in events] == [t0 + 1, t0 + 3]
        assert store.range("p1", "flow.quality") == [(t0 + 1, "bad"), (t0 + 3, "good")]


async def test_quality_of_an_unknown_twin_is_ignored() -> None:
    async with Runtime(DEFINITION, MemoryStore()) as runtime:
        runtime.quality.report("nope", "flow", time.time(), "bad", "Bad")
        await runtime.flush()
        assert runtime.quality.current == {}
