"""The OPC UA connector against a vendor-style server (see opcua_vendor.py): every type,
enumerations, arrays, DateTime, status codes as quality, typed methods, namespaces
that move, a restart on the same port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asyncua import ua
from tests.conftest import free_port
from tests.connect.opcua_vendor import FORCE_ID, MODES, PRESS, SERVICED_AT, VendorServer

from twinworks.connect.opcua import connector as opcua_connector
from twinworks.runtime import Runtime
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.store import MemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NSU = "nsu=urn:vendor:press;"


def press_definition(endpoint: str, extra_telemetry: str = "", index_ns: int = 3) -> str:
    """A press twin bound by namespace URI, and one bound by a namespace index."""
    s = {k: f"{NSU}s={v}" for k, v in PRESS.items()}
    return f"""
name: vendor-press
connectors:
  press_ua:
    protocol: opcua
    endpoint: {endpoint}
    publishing_interval_ms: 50
    request_timeout_s: 2
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
types:
  press:
    telemetry:
      temperature: {{unit: degC, min: 0, max: 200}}
      force: {{unit: kN}}
      strokes: {{dtype: int}}
      total: {{dtype: int}}
      running: {{dtype: bool}}
      recipe: {{dtype: string}}
      serviced: {{unit: s, description: epoch seconds of the last service}}
      mode: {{dtype: string, values: [Stopped, Running, Fault]}}
      mode_code: {{dtype: int}}
      profile_2: {{}}
      profile_4: {{}}
      oil_pressure: {{unit: bar}}
      speed: {{}}
{extra_telemetry}
    desired:
      speed: {{min: 10, max: 90, reported_by: speed}}
      serial: {{dtype: string}}
    commands:
      set_speed:
        args: {{speed: {{dtype: int}}, ramp: {{dtype: bool}}}}
  gauge:
    telemetry:
      oil_pressure: {{unit: bar}}
twins:
  - id: press7
    type: press
    bindings:
      - connector: press_ua
        telemetry:
          temperature: "{s["temperature"]}"
          force: "{NSU}i={FORCE_ID}"
          strokes: "{s["count"]}"
          total: "{s["total"]}"
          running: "{s["running"]}"
          recipe: "{s["recipe"]}"
          serviced: "{s["serviced"]}"
          mode: "{s["mode"]}"
          mode_code: {{node: "{s["mode"]}", enum: false}}
          profile_2: {{node: "{s["profile"]}", index: 2}}
          profile_4: {{node: "{s["profile"]}", index: 4}}
          oil_pressure: "{s["sensor"]}"
          speed: "{s["setpoint"]}"
        desired:
          speed: "{s["setpoint"]}"
          serial: "{s["serial"]}"
        commands:
          set_speed: {{object: "{s["press"]}", method: "{s["set_speed"]}"}}
  - id: gauge_by_index
    type: gauge
    bindings:
      - connector: press_ua
        uncertain: drop
        telemetry:
          oil_pressure: "ns={index_ns};s={PRESS["sensor"]}"
"""


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def press() -> AsyncIterator[VendorServer]:
    async with VendorServer(free_port()) as server:
        yield server


def definition(server: VendorServer, **kw: Any) -> TwinDefinition:
    return parse_definition(press_definition(server.endpoint, **kw), "press.yaml")


def value(runtime: Runtime, twin: str, signal: str) -> Any:
    entry = runtime.live[twin].reported.get(signal)
    return None if entry is None else entry[1]


async def test_every_type_arrives_as_its_signal(press: VendorServer) -> None:
    store = MemoryStore()
    async with Runtime(definition(press), store) as runtime:
        wanted = [
            "temperature", "force", "strokes", "total", "running", "recipe", "serviced",
            "mode", "mode_code", "profile_2", "profile_4", "oil_pressure", "speed",
        ]  # fmt: skip
        await wait_for(
            lambda: all(value(runtime, "press7", s) is not None for s in wanted), 20, "all signals"
        )
        assert value(runtime, "press7", "temperature") == 21.5
        # a Float shows the digits the device has, not float64's 0.10000000149011612
        assert value(runtime, "press7", "force") == 0.1
        assert value(runtime, "press7", "strokes") == 7
        assert value(runtime, "press7", "total") == 4_000_000_000
        assert value(runtime, "press7", "running") is True
        assert value(runtime, "press7", "recipe") == "bracket-A"
        # DateTime: epoch seconds in a float signal
        assert value(runtime, "press7", "serviced") == SERVICED_AT.timestamp()
        # an enumeration: the name from EnumStrings by default, the code with enum: false
        assert value(runtime, "press7", "mode") == "Running"
        assert value(runtime, "press7", "mode_code") == 1
        # one array node feeds two signals, one element each
        assert value(runtime, "press7", "profile_2") == 3.0
        assert value(runtime, "press7", "profile_4") == 5.0

        await press.write("mode", 2, ua.VariantType.Int32)
        await press.write("profile", [9.0, 8.0, 7.0, 6.0, 5.5], ua.VariantType.Double)
        await wait_for(lambda: value(runtime, "press7", "mode") == MODES[2], 10, "mode Fault")
        await wait_for(lambda: value(runtime, "press7", "profile_4") == 5.5, 10, "new profile")
        assert value(runtime, "press7", "profile_2") == 7.0
        assert value(runtime, "press7", "mode_code") == 2
        await runtime.flush()
        assert store.dead_letters() == []
        assert runtime.counters["rejected"] == 0


async def test_methods_and_writes_use_the_declared_types(press: VendorServer) -> None:
    async with Runtime(definition(press), MemoryStore(), command_timeout_s=5) as runtime:
        await wait_for(lambda: runtime.connectors["press_ua"].status.connected, 20, "connect")
        # a Python int goes out as the method's Int16 (the server refuses anything else)
        record = await runtime.wait_command(
            await runtime.call_command("press7", "set_speed", {"speed": 50, "ramp": True}), 10
        )
        assert record.status == "acknowledged", record.error
        assert press.calls == [(50, True)]

        # a value the argument's type cannot hold is refused before it is sent
        record = await runtime.wait_command(
            await runtime.call_command("press7", "set_speed", {"speed": 70000, "ramp": False}), 10
        )
        assert record.status == "failed"
        assert "'speed'" in (record.error or "")
        assert "70000 does not fit in Int16 (from -32768 to 32767)" in (record.error or "")
        assert press.calls == [(50, True)]

        # a desired Double written as an int
        record = await runtime.wait_command(await runtime.set_desired("press7", "speed", 55), 10)
        assert record.status == "acknowledged", record.error
        assert await press.read("setpoint") == 55.0

        # a read-only node: the refusal says which node and why
        record = await runtime.wait_command(
            await runtime.set_desired("press7", "serial", "X-1"), 10
        )
        assert record.status == "failed"
        assert "the server refused the write to" in (record.error or "")
        assert PRESS["serial"] in (record.error or "")
        assert "Bad" in (record.error or "")
        assert await press.read("serial") == "P7-0042"


async def test_a_bad_sensor_is_shown_bad_and_recovers(press: VendorServer) -> None:
    store = MemoryStore()
    async with Runtime(definition(press), store) as runtime:
        await wait_for(lambda: value(runtime, "press7", "oil_pressure") == 5.0, 20, "first value")
        await wait_for(lambda: runtime.live["press7"].status == "running", 10, "running")

        await press.write(
            "sensor", 0.0, ua.VariantType.Double, status=ua.StatusCodes.BadSensorFailure
        )
        await wait_for(lambda: runtime.live["press7"].status == "alarm", 10, "status alarm")
        view = runtime.twin_view("press7")
        assert view["reported"]["oil_pressure"]["quality"] == "bad"
        assert view["reported"]["oil_pressure"]["value"] == 5.0  # the last good value, marked
        assert "quality" not in view["reported"]["temperature"]
        await runtime.flush()
        bad = store.events(twin_id="press7", kinds=["SignalQualityChanged"])
        assert [(e.data["signal"], e.data["quality"], e.data["status"]) for e in bad] == [
            ("oil_pressure", "bad", "BadSensorFailure")
        ]
        # the Bad value itself is not a measurement
        assert [v for _, v in store.range("press7", "oil_pressure")] == [5.0]

        # Uncertain: kept and marked by default; dropped where the binding says so
        await press.write(
            "sensor", 4.5, ua.VariantType.Double, status=ua.StatusCodes.UncertainLastUsableValue
        )
        await wait_for(lambda: value(runtime, "press7", "oil_pressure") == 4.5, 10, "uncertain")
        assert runtime.twin_view("press7")["reported"]["oil_pressure"]["quality"] == "uncertain"
        assert runtime.live["press7"].status == "running"
        assert value(runtime, "gauge_by_index", "oil_pressure") == 5.0

        await press.write("sensor", 6.0, ua.VariantType.Double)
        await wait_for(lambda: value(runtime, "press7", "oil_pressure") == 6.0, 10, "good again")
        await wait_for(
            lambda: value(runtime, "gauge_by_index", "oil_pressure") == 6.0, 10, "gauge good"
        )
        await runtime.flush()
        assert runtime.twin_view("press7")["reported"]["oil_pressure"]["quality"] == "good"
        kinds = [
            e.data["quality"]
            for e in store.events(
                twin_id="press7", kinds=["SignalQualityChanged"], newest_first=False
            )
        ]
        assert kinds == ["bad", "uncertain", "good"]
        # the companion series keeps when it was bad, for history
        series = [v for _, v in store.range("press7", "oil_pressure.quality")]
        assert series == ["bad", "uncertain", "good"]


async def test_nsu_ids_survive_a_restart_that_renumbers_namespaces(
    press: VendorServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    async with Runtime(definition(press), store) as runtime:
        connector = runtime.connectors["press_ua"]
        await wait_for(lambda: value(runtime, "gauge_by_index", "oil_pressure") == 5.0, 20, "gauge")
        assert connector.status.details["unresolved_nodes"] == []

        # a firmware update: same port, the machine's namespace moves from index 3 to 2
        await press.stop()
        await wait_for(lambda: not connector.status.connected, 15, "the disconnect")
        moved = VendorServer(press.port, swap_namespaces=True)
        await moved.start()
        try:
            assert moved.ns == 2
            await wait_for(lambda: connector.status.connected, 30, "the reconnect")
            await moved.write("temperature", 99.0, ua.VariantType.Double)
            await wait_for(lambda: value(runtime, "press7", "temperature") == 99.0, 15, "new value")
            # the nsu= bindings found the machine again; the ns=3 one names what it lost
            unresolved = connector.status.details["unresolved_nodes"]
            assert len(unresolved) == 1
            assert f"ns=3;s={PRESS['sensor']}" in unresolved[0]
            assert "BadNodeIdUnknown" in unresolved[0]
            # and the twin that depends on it says so instead of looking healthy
            await wait_for(lambda: runtime.live["gauge_by_index"].status == "alarm", 10, "alarm")
            view = runtime.twin_view("gauge_by_index")
            assert view["reported"]["oil_pressure"]["quality"] == "bad"
            # writes and methods resolve nsu= on the new server too
            record = await runtime.wait_command(
                await runtime.call_command("press7", "set_speed", {"speed": 30, "ramp": False}), 10
            )
            assert record.status == "acknowledged", record.error
            assert moved.calls == [(30, False)]
        finally:
            await moved.stop()
    # the disconnect is reported once by the connector, not as asyncua tracebacks
    tracebacks = [r for r in caplog.records if r.name.startswith("asyncua.client") and r.exc_info]
    assert tracebacks == []


async def test_unconvertible_values_are_kept_once_then_summarised(
    press: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = press_definition(press.endpoint, extra_telemetry="      whole_profile: {}")
    text = text.replace(
        '          speed: "' + NSU,
        f'          whole_profile: "{NSU}s={PRESS["profile"]}"\n          speed: "{NSU}',
        1,
    )
    store = MemoryStore()
    async with Runtime(parse_definition(text), store) as runtime:
        await wait_for(lambda: runtime.counters["dead_letters"] >= 1, 20, "the first letter")
        for i in range(5):
            await press.write("profile", [float(i)] * 5, ua.VariantType.Double)
            await wait_for(lambda i=i: value(runtime, "press7", "profile_2") == float(i), 10, "v")
        await runtime.flush()
        letters = store.dead_letters(twin_id="press7")
        assert len(letters) == 1  # not one per update
        letter = letters[0]
        assert letter.reason == "array_value"
        assert "press7.whole_profile" in letter.message
        assert "array of 5 values; bind one element with index: (0 to 4)" in letter.message
        assert json.loads(letter.payload)["node"] == f"{NSU}s={PRESS['profile']}"

        # after the summary period the repeats are reported as one letter with their count
        monkeypatch.setattr(opcua_connector, "REPEAT_SUMMARY_S", 0.0)
        await press.write("profile", [1.5] * 5, ua.VariantType.Double)
        await wait_for(lambda: runtime.counters["dead_letters"] >= 2, 10, "the summary")
        await runtime.flush()
        newest = store.dead_letters(twin_id="press7")[0]
        assert "(and 5 more like it in" in newest.message
        # the good signals of the same node kept flowing throughout
        assert value(runtime, "press7", "profile_2") == 1.5


async def test_repeated_rejections_of_a_misbound_node_are_summarised(press: VendorServer) -> None:
    # a text node bound to a float signal: every update is rejected by validation
    text = press_definition(press.endpoint, extra_telemetry="      recipe_number: {}")
    text = text.replace(
        '          speed: "' + NSU,
        f'          recipe_number: "{NSU}s={PRESS["recipe"]}"\n          speed: "{NSU}',
        1,
    )
    store = MemoryStore()
    async with Runtime(parse_definition(text), store) as runtime:
        await wait_for(lambda: runtime.counters["rejected"] >= 1, 20, "the first rejection")
        for i in range(5):
            await press.write("recipe", f"r{i}", ua.VariantType.String)
            await wait_for(lambda i=i: value(runtime, "press7", "recipe") == f"r{i}", 10, "recipe")
        await wait_for(lambda: runtime.counters["rejected"] >= 6, 10, "six rejections")
        await runtime.flush()
        # counted exactly, recorded once
        assert runtime.counters["rejected"] == 6
        assert runtime.rejections["press7"]["wrong_type"] == 6
        events = store.events(twin_id="press7", kinds=["TelemetryRejected"])
        letters = store.dead_letters(twin_id="press7")
        assert len(events) == 1 and len(letters) == 1
        assert events[0].data["signal"] == "recipe_number"
        assert "press7.recipe_number: 'bracket-A' is not a number" in letters[0].message

        # after the window, one record says how many were left out
        runtime.intake.repeats.window_s = 0.0
        await press.write("recipe", "last", ua.VariantType.String)
        await wait_for(lambda: runtime.counters["rejected"] >= 7, 10, "the seventh rejection")
        await runtime.flush()
        newest = store.dead_letters(twin_id="press7")[0]
        assert "'last' is not a number (and 5 more like it in" in newest.message
        assert len(store.events(twin_id="press7", kinds=["TelemetryRejected"])) == 2
