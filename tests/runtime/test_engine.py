"""The runtime: validation, storage, reported/desired state, commands, status, restarts."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from twinworks.connect import FakeConnector, Reading
from twinworks.errors import CommandError, RejectedValueError, UnknownSignalError, UnknownTwinError
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition
from twinworks.store import MemoryStore, SqliteStore

pytestmark = pytest.mark.anyio
T0 = time.time() - 100


def fake_for(definition: TwinDefinition) -> FakeConnector:
    bindings = [(t.id, b) for t in definition.twins for b in t.bindings]
    return FakeConnector("plc", bindings)


async def test_good_and_bad_readings_are_separated(line_definition: TwinDefinition) -> None:
    store = MemoryStore()
    async with Runtime(line_definition, store, connectors={}) as rt:
        report = await rt.ingest(
            [
                Reading("m1", "temperature", T0, 40.0),
                Reading("m1", "temperature", T0 + 1, math.nan),
                Reading("m1", "temperature", T0 + 2, 500.0),
                Reading("m1", "temperature", T0 + 3, "hot"),
                Reading("m1", "temperature", T0 + 4, True),
                Reading("m1", "pressure", T0, 1.0),
                Reading("m9", "temperature", T0, 1.0),
                Reading("m1", "state", T0, "exploded"),
                Reading("m1", "count", T0, 2.5),
                Reading("m1", "count", T0 + 1, 3.0),
                Reading("m1", "door_open", T0, 1),
                Reading("m1", "temperature", math.inf, 1.0),
                Reading("m1", "temperature", T0 + 5, 41.0),
            ],
            source="test",
        )
        assert report.stored == 3
        reasons = [r.reason for r in report.rejected]
        assert reasons == [
            "nan",
            "out_of_range",
            "wrong_type",
            "wrong_type",
            "unknown_signal",
            "unknown_twin",
            "not_allowed",
            "wrong_type",
            "wrong_type",
            "bad_timestamp",
        ]
        messages = {r.reason: r.message for r in report.rejected}
        assert (
            "m1.temperature: 500.0 is outside the valid range [-20.0, 150.0]"
            in messages["out_of_range"]
        )
        assert (
            "its type declares: count, door_open, state, temperature" in messages["unknown_signal"]
        )
        await rt.flush()
        assert [v for _, v in store.range("m1", "temperature")] == [40.0, 41.0]
        assert store.range("m1", "count") == [(pytest.approx(T0 + 1), 3)]
        rejected = store.events(kinds=["TelemetryRejected"], limit=100)
        assert len(rejected) == 10
        assert rt.rejections["m1"]["wrong_type"] == 4
        assert rt.rejections["m9"]["unknown_twin"] == 1
        assert rt.live["m1"].reported["temperature"][1] == 41.0


async def test_units_are_converted_or_refused(line_definition: TwinDefinition) -> None:
    async with Runtime(line_definition, MemoryStore(), connectors={}) as rt:
        report = await rt.ingest(
            [
                Reading("m1", "temperature", T0, 212.0, "degF"),
                Reading("m1", "temperature", T0 + 1, 300.0, "kelvin"),
                Reading("m1", "temperature", T0 + 2, 3.0, "meter"),
                Reading("m1", "temperature", T0 + 3, 30.0),
            ],
            need_unit=True,
        )
        assert [r.reason for r in report.rejected] == ["unit_mismatch", "missing_unit"]
        values = [v for _, v in rt.history("m1", "temperature")]
        assert values == [pytest.approx(100.0), pytest.approx(26.85)]


async def test_reported_state_follows_source_time_not_arrival(
    line_definition: TwinDefinition,
) -> None:
    async with Runtime(line_definition, MemoryStore(), connectors={}) as rt:
        await rt.ingest([Reading("m1", "temperature", T0 + 10, 50.0)])
        await rt.ingest([Reading("m1", "temperature", T0 + 5, 45.0)])  # late arrival
        assert rt.live["m1"].reported["temperature"] == (T0 + 10, 50.0)
        assert len(rt.history("m1", "temperature")) == 2


async def test_changes_are_published_after_they_are_stored(line_definition: TwinDefinition) -> None:
    store = MemoryStore()
    async with Runtime(line_definition, store, connectors={}) as rt:
        with rt.subscribe(["m1"]) as sub:
            await rt.ingest([Reading("m1", "temperature", T0, 33.0), Reading("m2", "count", T0, 1)])
            message = await asyncio.wait_for(sub.get(), 2)
            while message["type"] != "telemetry":
                message = await asyncio.wait_for(sub.get(), 2)
            assert message["twin_id"] == "m1"
            assert message["values"]["temperature"] == [T0, 33.0]
            assert store.count("m1", "temperature") == 1


async def test_state_changes_become_events(line_definition: TwinDefinition) -> None:
    store = MemoryStore()
    async with Runtime(line_definition, store, connectors={}) as rt:
        await rt.ingest([Reading("m1", "state", T0, "idle")])
        await rt.ingest([Reading("m1", "state", T0 + 1, "running")])
        await rt.flush()
    (changed,) = store.events(kinds=["StateChanged"])
    assert changed.data == {"from": "idle", "to": "running"}
    assert changed.twin_id == "m1"


async def test_desired_value_is_recorded_sent_and_acknowledged(
    line_definition: TwinDefinition,
) -> None:
    store = MemoryStore()
    plc = fake_for(line_definition)
    async with Runtime(line_definition, store, connectors={"plc": plc}) as rt:
        record = await rt.set_desired("m1", "speed", 80)
        await rt.wait_command(record, 2)
        assert record.status == "acknowledged"
        assert plc.writes == [("m1", "speed", 80.0)]
        assert rt.twin_view("m1")["desired"]["speed"]["value"] == 80.0
        await rt.flush()
        kinds = [e.kind for e in store.events(twin_id="m1", newest_first=False)]
        assert kinds[-2:] == ["DesiredPropertyChanged", "CommandAcknowledged"]
        doc = store.get_document("m1")
        assert doc is not None and doc.doc["desired"]["speed"]["value"] == 80.0
        # the earlier revision still says nothing was desired
        assert store.revisions("m1")[0].doc["desired"] == {}


async def test_desired_value_outside_limits_is_refused_before_sending(
    line_definition: TwinDefinition,
) -> None:
    store = MemoryStore()
    plc = fake_for(line_definition)
    async with Runtime(line_definition, store, connectors={"plc": plc}) as rt:
        with pytest.raises(RejectedValueError, match="above the maximum 120"):
            await rt.set_desired("m1", "speed", 500)
        with pytest.raises(UnknownSignalError, match="declares: speed"):
            await rt.set_desired("m1", "sped", 80)
        with pytest.raises(UnknownTwinError):
            await rt.set_desired("nobody", "speed", 80)
        assert plc.writes == []
        assert next(e.kind for e in store.events(twin_id="m1")) == "CommandRejected"


async def test_refusal_and_silence_of_the_asset_are_recorded(
    line_definition: TwinDefinition,
) -> None:
    store = MemoryStore()
    plc = fake_for(line_definition)
    async with Runtime(
        line_definition, store, connectors={"plc": plc}, command_timeout_s=0.2
    ) as rt:
        plc.refuse = "BadOutOfRange"
        record = await rt.wait_command(await rt.set_desired("m1", "speed", 90), 2)
        assert record.status == "failed" and record.error == "BadOutOfRange"
        plc.refuse, plc.hang = None, True
        record = await rt.wait_command(await rt.set_desired("m1", "speed", 95), 2)
        assert record.status == "failed" and "no acknowledgement within 0.2 s" in (
            record.error or ""
        )
        await rt.flush()
        failed = store.events(kinds=["CommandFailed"])
        assert len(failed) == 2


async def test_commands_check_arguments_and_allowed_states(line_definition: TwinDefinition) -> None:
    plc = fake_for(line_definition)
    async with Runtime(line_definition, MemoryStore(), connectors={"plc": plc}) as rt:
        await rt.ingest([Reading("m1", "state", T0, "running")])
        with pytest.raises(RejectedValueError, match="not allowed while the twin is 'running'"):
            await rt.call_command("m1", "start")
        record = await rt.wait_command(await rt.call_command("m1", "stop"), 2)
        assert record.status == "acknowledged"
        record = await rt.wait_command(await rt.call_command("m1", "recipe", {"name": "b"}), 2)
        assert plc.calls[-1] == ("m1", "recipe", {"name": "b", "batch": 1})
        with pytest.raises(RejectedValueError, match="is not one of"):
            await rt.call_command("m1", "recipe", {"name": "z"})
        with pytest.raises(RejectedValueError, match="unknown argument"):
            await rt.call_command("m1", "recipe", {"name": "a", "colour": 1})
        with pytest.raises(RejectedValueError, match="'name' is required"):
            await rt.call_command("m1", "recipe", {})


async def test_unbound_twin_cannot_be_commanded(line_definition: TwinDefinition) -> None:
    async with Runtime(line_definition, MemoryStore(), connectors={}) as rt:
        with pytest.raises(CommandError, match="no connector is bound"):
            await rt.set_desired("m2", "speed", 80)


async def test_status_reflects_connection_freshness_and_state(
    line_definition: TwinDefinition,
) -> None:
    plc = fake_for(line_definition)
    async with Runtime(
        line_definition, MemoryStore(), connectors={"plc": plc}, stale_after_s=0.3
    ) as rt:
        assert await plc.wait_connected(2)
        rt.refresh_statuses()
        assert rt.live["m1"].status == "offline"
        await plc.push([Reading("m1", "state", time.time(), "fault")])
        assert rt.live["m1"].status == "fault"
        assert rt.live["line1"].status == "fault"  # composite twins show their worst child
        await plc.push([Reading("m1", "state", time.time(), "running")])
        assert rt.live["m1"].status == "running"
        await asyncio.sleep(0.4)
        rt.refresh_statuses()
        assert rt.live["m1"].status == "stale"
        plc.drop_link()
        for _ in range(600):  # the connector task notices when the loop lets it run
            if rt.live["m1"].status == "disconnected":
                break
            await asyncio.sleep(0.05)
        assert rt.live["m1"].status == "disconnected"
        plc.restore_link()
        assert await plc.wait_connected(5)


async def test_restart_keeps_history_documents_and_last_values(
    line_definition: TwinDefinition, tmp_path: Path
) -> None:
    path = tmp_path / "rt.db"
    plc = fake_for(line_definition)
    with SqliteStore(path) as store:
        async with Runtime(line_definition, store, connectors={"plc": plc}) as rt:
            await rt.ingest([Reading("m1", "temperature", T0, 61.0)])
            await rt.wait_command(await rt.set_desired("m1", "speed", 70), 2)
    with SqliteStore(path) as store:
        async with Runtime(line_definition, store, connectors={}) as rt:
            view = rt.twin_view("m1")
            assert view["reported"]["temperature"]["value"] == 61.0
            assert view["desired"]["speed"]["value"] == 70.0
            # the definition did not change, so no new revision was written
            assert [r.rev for r in store.revisions("m1")] == [1, 2]


async def test_twin_as_of_a_past_time(line_definition: TwinDefinition) -> None:
    plc = fake_for(line_definition)
    store = MemoryStore()
    async with Runtime(line_definition, store, connectors={"plc": plc}) as rt:
        await rt.ingest([Reading("m1", "temperature", T0, 20.0)])
        await rt.ingest([Reading("m1", "temperature", T0 + 50, 70.0)])
        await rt.wait_command(await rt.set_desired("m1", "speed", 60), 2)
        between = time.time()
        await asyncio.sleep(0.01)
        await rt.wait_command(await rt.set_desired("m1", "speed", 110), 2)
        past = rt.twin_view("m1", as_of=T0 + 10)
        assert past["reported"]["temperature"]["value"] == 20.0
        assert rt.twin_view("m1", as_of=between)["desired"]["speed"]["value"] == 60.0
        assert rt.twin_view("m1")["desired"]["speed"]["value"] == 110.0


async def test_derived_values_are_stored_and_shown_as_virtual(
    line_definition: TwinDefinition,
) -> None:
    from twinworks.runtime import TwinService
    from twinworks.store import Point

    class Doubler(TwinService):
        """A toy service: derives twice the temperature of every update."""

        name = "doubler"

        async def start(self, runtime: Runtime) -> None:
            self.sub = runtime.subscribe()
            self.task = asyncio.create_task(self.run(runtime))

        async def run(self, runtime: Runtime) -> None:
            async for message in self.sub:
                if message["type"] == "telemetry" and "temperature" in message["values"]:
                    ts, value = message["values"]["temperature"]
                    twin = message["twin_id"]
                    await runtime.submit_derived(
                        [Point(twin, "doubler.temperature", ts, 2 * value)]
                    )

        async def stop(self) -> None:
            self.task.cancel()
            self.sub.close()

    store = MemoryStore()
    async with Runtime(line_definition, store, connectors={}, services=[Doubler()]) as rt:
        with rt.subscribe(["m1"]) as sub:
            await rt.ingest([Reading("m1", "temperature", T0, 21.0)])
            while (message := await asyncio.wait_for(sub.get(), 2))["type"] != "virtual":
                pass
        assert message["values"]["doubler.temperature"] == [T0, 42.0]
        assert rt.twin_view("m1")["virtual"]["doubler.temperature"]["value"] == 42.0
        assert rt.history("m1", "doubler.temperature") == [(pytest.approx(T0), 42.0)]
        assert rt.twin_view("m1", as_of=T0 + 1)["virtual"]["doubler.temperature"]["value"] == 42.0
        with pytest.raises(RejectedValueError, match="declared telemetry"):
            rt.submit_derived([Point("m1", "temperature", T0, 1.0)])
        with pytest.raises(UnknownSignalError):
            rt.history("m1", "nothing.here")
