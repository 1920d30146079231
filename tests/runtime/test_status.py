"""Twin status: from the type's declared policy, and refreshed in time linear in the fleet."""

from __future__ import annotations

import time
from typing import Any

import pytest

from twinworks.connect import FakeConnector, Reading
from twinworks.runtime import Runtime, TwinRegistry
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

PRESS = """
connectors: {plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:4840"}}
types:
  press:
    telemetry:
      mode: {dtype: string, values: [pressing, waiting, die_change, jammed]}
      force: {unit: kN, min: 0}
    status:
      signal: mode
      running: [pressing]
      idle: [waiting]
      maintenance: [die_change]
      fault: [jammed]
    relationships: {partOf: {target: line}}
  line: {}
twins:
  - {id: line1, type: line}
  - id: p1
    type: press
    relationships: {partOf: line1}
    bindings: [{connector: plc, telemetry: {mode: "ns=2;s=p1.mode", force: "ns=2;s=p1.f"}}]
"""


async def test_the_declared_signal_and_values_give_the_status() -> None:
    definition = parse_definition(PRESS)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    async with Runtime(definition, MemoryStore(), connectors={"plc": plc}) as rt:
        assert await plc.wait_connected(2)
        seen = []
        for mode in ("waiting", "pressing", "die_change", "jammed"):
            await plc.push([Reading("p1", "mode", time.time(), mode)])
            seen.append((rt.live["p1"].status, rt.live["line1"].status))
        assert seen == [
            ("idle", "idle"),
            ("running", "running"),
            ("maintenance", "maintenance"),
            ("fault", "fault"),
        ]
        # a signal other than the policy's does not decide the status
        await plc.push([Reading("p1", "force", time.time(), 3.0)])
        assert rt.live["p1"].status == "fault"
        await rt.flush()
        changes = sorted(
            (e.ts, e.data["from"], e.data["to"]) for e in rt.store.events(kinds=["StateChanged"])
        )
        assert [c[1:] for c in changes] == [
            ("waiting", "pressing"),
            ("pressing", "die_change"),
            ("die_change", "jammed"),
        ]


async def test_a_value_the_policy_does_not_list_counts_as_running() -> None:
    text = PRESS.replace("      running: [pressing]\n", "")
    definition = parse_definition(text)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    async with Runtime(definition, MemoryStore(), connectors={"plc": plc}) as rt:
        assert await plc.wait_connected(2)
        await plc.push([Reading("p1", "mode", time.time(), "pressing")])
        assert rt.live["p1"].status == "running"


async def test_an_undeclared_code_is_the_status_itself() -> None:
    definition = parse_definition(PRESS)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    async with Runtime(definition, MemoryStore(), connectors={"plc": plc}) as rt:
        assert await plc.wait_connected(2)
        await plc.push([Reading("p1", "mode", time.time(), "unknown(7)")])
        assert rt.live["p1"].status == "unknown(7)"


class _Unreachable(FakeConnector):
    """A link that stays up while the asset behind it is gone (a dead Sparkplug node)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gone: set[str] = set()

    def reachable(self, twin_id: str) -> bool:
        return twin_id not in self.gone


async def test_an_unreachable_asset_is_disconnected_and_a_bad_signal_is_alarm() -> None:
    definition = parse_definition(PRESS)
    plc = _Unreachable("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    async with Runtime(definition, MemoryStore(), connectors={"plc": plc}) as rt:
        assert await plc.wait_connected(2)
        now = time.time()
        await plc.push([Reading("p1", "mode", now, "pressing")])
        assert rt.live["p1"].status == "running"
        # the source says the force sensor is bad: the policy's status gives way to alarm
        plc.report_quality("p1", "force", now, "bad", "BadSensorFailure")
        assert rt.live["p1"].status == "alarm"
        plc.report_quality("p1", "force", now + 1, "good", None)
        assert rt.live["p1"].status == "running"
        plc.gone = {"p1"}
        rt.refresh_statuses()
        assert rt.live["p1"].status == "disconnected"
        assert rt.live["line1"].status == "disconnected"
        await rt.flush()


def fleet(cells: int, machines: int) -> str:
    twins = []
    for c in range(cells):
        twins.append(f"  - {{id: c{c}, type: cell}}")
        for m in range(machines):
            twins.append(f"  - {{id: c{c}m{m}, type: m, relationships: {{partOf: c{c}}}}}")
    return (
        "types: {cell: {}, m: {telemetry: {t: {}}, relationships: {partOf: {target: cell}}}}\n"
        "twins:\n"
    ) + "\n".join(twins)


def test_children_come_from_an_index() -> None:
    registry = TwinRegistry(parse_definition(fleet(3, 4)))
    assert registry.children("c1") == ["c1m0", "c1m1", "c1m2", "c1m3"]
    assert registry.children("c1m0") == []


async def test_refreshing_all_statuses_visits_each_twin_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # counted, not timed: a scan of the fleet per composite twin would look up every
    # twin once per cell (cells × twins look-ups)
    definition = parse_definition(fleet(40, 25))
    rt = Runtime(definition, MemoryStore())
    lookups = 0
    original = TwinRegistry.twin

    def counting(self: TwinRegistry, twin_id: str) -> object:
        nonlocal lookups
        lookups += 1
        return original(self, twin_id)

    monkeypatch.setattr(TwinRegistry, "twin", counting)
    rt.refresh_statuses()
    assert lookups <= 3 * len(definition.twins)
    assert rt.live["c3"].status == "idle" and rt.live["c3m1"].status == "virtual"
    lookups = 0
    rt.refresh_statuses(["c7m3"])  # one twin and its cell
    assert lookups <= 6
