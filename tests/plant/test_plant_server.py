"""The plant as the twins meet it: a real OPC UA server in its own process.

The server runs 600 times faster than real time, so a minute of plant time
passes every tenth of a second and tool changes take 0.1 s.
"""

from __future__ import annotations

import asyncio
import math
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Node, ua

from twinworks.plant.node_ids import SHIFT_PARAMETER, TRUTH_FOLDER, node_id, truth_node_id

pytestmark = pytest.mark.integration

SPEED = 600.0
VARIANTS = {"float": ua.VariantType.Double, "int": ua.VariantType.Int64}


@dataclass
class PlantProcess:
    proc: subprocess.Popen[str]
    endpoint: str
    stderr_path: Path
    truth_log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_plant(tmp: Path) -> PlantProcess:
    return _await_ready(_spawn_plant(tmp))


def _spawn_plant(tmp: Path) -> PlantProcess:
    port = _free_port()
    stderr_path = tmp / "plant.stderr"
    truth_log = tmp / "truth.csv"
    with stderr_path.open("w") as stderr:
        args = ["--host", "127.0.0.1", "--port", str(port), "--seed", "42", "--speed", str(SPEED)]
        args += ["--log-level", "INFO", "--truth-log", str(truth_log), "--truth-log-interval", "60"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "twinworks.plant", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    return PlantProcess(proc, f"opc.tcp://127.0.0.1:{port}/twinworks/cell", stderr_path, truth_log)


def _await_ready(plant: PlantProcess) -> PlantProcess:
    proc, stderr_path = plant.proc, plant.stderr_path
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=30.0)
    except queue.Empty:
        proc.kill()
        proc.communicate()
        pytest.fail(f"plant did not print READY within 30 s:\n{stderr_path.read_text()}")
    assert line == f"READY {plant.endpoint}\n", stderr_path.read_text()
    return plant


def _stop_plant(plant: PlantProcess, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    if plant.proc.poll() is None:
        plant.proc.send_signal(sig)
    return _wait_exit(plant)


def _wait_exit(plant: PlantProcess) -> tuple[int, str, str]:
    """Exit code, stdout after the READY line, and stderr of a plant that is stopping."""
    try:
        out, _ = plant.proc.communicate(timeout=15.0)
    except subprocess.TimeoutExpired:
        plant.proc.kill()
        out, _ = plant.proc.communicate()
    return plant.proc.returncode, out, plant.stderr_path.read_text()


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlantProcess]:
    running = _start_plant(tmp_path_factory.mktemp("plant"))
    try:
        yield running
    finally:
        _stop_plant(running)


async def _read(client: Client, nid: str) -> Any:
    return await client.get_node(nid).read_value()


async def _wait_for(client: Client, nid: str, predicate: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await _read(client, nid)
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{nid} is still {value!r} after {timeout_s} s")
        await asyncio.sleep(0.02)


async def _call(client: Client, twin_id: str, command: str) -> None:
    obj = client.get_node(f"ns=2;s={twin_id}")
    await obj.call_method(ua.NodeId.from_string(f"ns=2;s={twin_id}.{command}"))


class _Collector:
    def __init__(self) -> None:
        self.values: dict[str, list[ua.DataValue]] = defaultdict(list)

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.values[node.nodeid.to_string()].append(data.monitored_item.Value)


def test_subscribers_see_values_change_stamped_with_simulation_time(plant: PlantProcess) -> None:
    temperature, completed = node_id("cnc1", "spindle_temperature"), node_id("cell1", "wip")

    async def scenario() -> _Collector:
        collector = _Collector()
        async with Client(plant.endpoint) as client:
            subscription = await client.create_subscription(100, collector)
            await subscription.subscribe_data_change(
                [client.get_node(temperature), client.get_node(completed)]
            )
            await asyncio.sleep(2.0)
            await subscription.delete()
        return collector

    collector = asyncio.run(scenario())
    temps = collector.values[temperature]
    assert len({dv.Value.Value for dv in temps}) >= 5
    stamps = [dv.SourceTimestamp for dv in temps]
    assert stamps == sorted(stamps)
    # about 2 s of wall time passed between the first and the last sample
    sim_seconds = (stamps[-1] - stamps[0]).total_seconds()
    assert SPEED * 1.0 <= sim_seconds <= SPEED * 3.0
    assert all(dv.Value.VariantType == ua.VariantType.Double for dv in temps)
    assert collector.values[completed][-1].Value.VariantType == ua.VariantType.Int64


def test_every_node_the_twin_definition_binds_exists_with_its_type(
    plant: PlantProcess, cell_definition: dict[str, Any]
) -> None:
    types = cell_definition["types"]

    async def scenario() -> None:
        async with Client(plant.endpoint) as client:
            for twin in cell_definition["twins"]:
                ttype = types[twin["type"]]
                for binding in twin["bindings"]:
                    for signal_name, nid in binding.get("telemetry", {}).items():
                        dv = await client.get_node(nid).read_data_value()
                        dtype = ttype["telemetry"][signal_name].get("dtype", "float")
                        expected = VARIANTS.get(dtype, ua.VariantType.String)
                        assert dv.Value.VariantType == expected, nid
                    for nid in binding.get("desired", {}).values():
                        access = await client.get_node(nid).get_user_access_level()
                        assert ua.AccessLevel.CurrentWrite in access, nid
                    for command in binding.get("commands", {}).values():
                        methods = await client.get_node(command["object"]).get_methods()
                        ids = {m.nodeid.to_string() for m in methods}
                        assert command["method"] in ids

    asyncio.run(scenario())


def test_feed_override_writes_take_effect_and_out_of_range_writes_are_refused(
    plant: PlantProcess,
) -> None:
    feed, rul = node_id("cnc1", "feed_override"), truth_node_id("cnc1", "tool_rul")

    async def scenario() -> None:
        async with Client(plant.endpoint) as client:
            await _stop_cnc1(client)  # no cutting, so the tool's true RUL holds still
            before = await _read(client, rul)
            await client.get_node(feed).write_value(60.0)
            assert await _read(client, feed) == 60.0
            # Taylor: tool life ∝ feed^-1.5, and the plant now cuts at 60 %
            after = await _wait_for(client, rul, lambda v: v != before)
            assert after == pytest.approx(before * (100.0 / 60.0) ** 1.5, rel=1e-9)

            for bad in (130.0, 49.0, math.nan):
                with pytest.raises(ua.uaerrors.BadOutOfRange):
                    await client.get_node(feed).write_value(bad)
            assert await _read(client, feed) == 60.0

            setpoint = client.get_node(node_id("conveyor1", "belt_speed_setpoint"))
            await setpoint.write_value(0.3)
            with pytest.raises(ua.uaerrors.BadOutOfRange):
                await setpoint.write_value(0.8)
            assert await setpoint.read_value() == 0.3
            await _wait_for(client, node_id("conveyor1", "belt_speed"), lambda v: v > 0.25)

            with pytest.raises(ua.uaerrors.BadUserAccessDenied):  # telemetry is read-only
                await client.get_node(node_id("cnc1", "part_count")).write_value(0)
            await _call(client, "cnc1", "start")

    asyncio.run(scenario())


async def _stop_cnc1(client: Client) -> None:
    """Stop cnc1; it may be busy changing a tool or in a fault, so retry a while."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            await _call(client, "cnc1", "stop")
            break
        except ua.uaerrors.BadInvalidState:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
    await _wait_for(client, node_id("cnc1", "state"), lambda v: v == "stopped")


def test_methods_refuse_disallowed_states_and_change_tool_counts(plant: PlantProcess) -> None:
    async def scenario() -> None:
        async with Client(plant.endpoint) as client:
            await _stop_cnc1(client)
            for command in ("stop", "reset"):  # allowed in idle/cutting, and in fault only
                with pytest.raises(ua.uaerrors.BadInvalidState):
                    await _call(client, "cnc1", command)

            changes = await _read(client, node_id("cnc1", "tool_changes"))
            await _call(client, "cnc1", "change_tool")
            await _wait_for(client, node_id("cnc1", "tool_changes"), lambda v: v == changes + 1)
            assert await _read(client, node_id("cnc1", "state")) == "stopped"
            assert await _read(client, truth_node_id("cnc1", "tool_wear")) == 0.0

            await _call(client, "cnc1", "start")
            await _wait_for(client, node_id("cnc1", "state"), lambda v: v != "stopped")
            # and the tool wears again once cutting resumes
            await _wait_for(client, truth_node_id("cnc1", "tool_wear"), lambda v: v > 0.0)

            await _call(client, "conveyor1", "stop")
            with pytest.raises(ua.uaerrors.BadInvalidState):
                await _call(client, "conveyor1", "stop")
            await _call(client, "conveyor1", "start")

    asyncio.run(scenario())


def test_parameters_can_be_shifted_through_the_truth_folder(plant: PlantProcess) -> None:
    async def scenario() -> None:
        async with Client(plant.endpoint) as client:
            folder = client.get_node(TRUTH_FOLDER)
            method = ua.NodeId.from_string(SHIFT_PARAMETER)
            rul = truth_node_id("cnc2", "tool_rul")
            before = await _read(client, rul)
            await folder.call_method(method, "cnc2", "tool_life_s", 60.0)
            await _wait_for(client, rul, lambda v: v < before / 10)
            with pytest.raises(ua.uaerrors.BadInvalidArgument):
                await folder.call_method(method, "cnc2", "no_such_parameter", 1.0)
            with pytest.raises(ua.uaerrors.BadInvalidArgument):
                await folder.call_method(method, "cnc2", "tool_life_s", -1.0)

    asyncio.run(scenario())


def test_the_plant_stops_cleanly_on_sigterm_and_sigint(tmp_path: Path) -> None:
    # two plants side by side, so the test waits for one start-up, not two
    by_signal = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        (tmp_path / sig.name).mkdir()
        by_signal[sig] = _spawn_plant(tmp_path / sig.name)
    for running in by_signal.values():
        _await_ready(running)
    time.sleep(0.3)  # a few ticks, so the truth logs have rows
    for sig, running in by_signal.items():
        running.proc.send_signal(sig)
    for running in by_signal.values():
        code, out, err = _wait_exit(running)
        assert code == 0, err
        assert out == ""  # READY was the only line
        assert "Traceback" not in err
        rows = running.truth_log.read_text().splitlines()
        assert rows[0].startswith("time_s,cnc1.state,cnc1.tool_wear")
        assert len(rows) > 3
