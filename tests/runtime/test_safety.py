"""Command safety: every command and desired value is checked against the definition's limits
(range, rate of change, allowed states) and a per-twin rate, refused before anything is sent,
and the refusal says which limit it broke."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from twinworks.connect import FakeConnector, Reading
from twinworks.errors import RateLimitedError, RejectedValueError
from twinworks.runtime import Runtime
from twinworks.runtime.safety import CommandGuard, RateLimit
from twinworks.security.audit import AuditLog
from twinworks.security.trail import audit_hook
from twinworks.spec import parse_definition
from twinworks.store import MemoryStore

pytestmark = pytest.mark.anyio

DEFINITION = """
connectors: {plc: {protocol: opcua, endpoint: "opc.tcp://127.0.0.1:1/x"}}
types:
  press:
    rate_limit: {commands: 3, per_s: 60}
    telemetry:
      state: {dtype: string, values: [idle, running, fault]}
      force: {unit: kN, min: 0, max: 500}
    desired:
      force: {unit: kN, min: 0, max: 400, max_rate: 10, reported_by: force}
    commands:
      start: {allowed_states: [idle]}
      reset: {allowed_states: [fault]}
  pump:
    desired: {flow: {min: 0, max: 100}}
    commands: {prime: {}}
twins:
  - id: p1
    type: press
    bindings:
      - connector: plc
        telemetry: {state: "ns=2;s=p1.s", force: "ns=2;s=p1.f"}
        desired: {force: "ns=2;s=p1.force"}
        commands:
          start: {object: "ns=2;s=p1", method: "ns=2;s=p1.start"}
          reset: {object: "ns=2;s=p1", method: "ns=2;s=p1.reset"}
  - id: q1
    type: pump
    bindings:
      - connector: plc
        desired: {flow: "ns=2;s=q1.flow"}
        commands: {prime: {object: "ns=2;s=q1", method: "ns=2;s=q1.prime"}}
"""


class Cell:
    def __init__(self, runtime: Runtime, plc: FakeConnector, audit: AuditLog) -> None:
        self.runtime = runtime
        self.plc = plc
        self.audit = audit

    def rejections(self) -> list[dict[str, Any]]:
        return [e.data for e in self.runtime.store.events(kinds=["CommandRejected"], limit=100)]


@pytest.fixture
async def cell() -> AsyncIterator[Cell]:
    definition = parse_definition(DEFINITION)
    plc = FakeConnector("plc", [(t.id, b) for t in definition.twins for b in t.bindings])
    runtime = Runtime(
        definition, MemoryStore(), connectors={"plc": plc}, command_rate=RateLimit(5, 60)
    )
    audit = AuditLog(None)
    runtime.event_hooks.append(audit_hook(audit))
    async with runtime:
        await runtime.ingest(
            [
                Reading("p1", "force", time.time(), 100.0),
                Reading("p1", "state", time.time(), "idle"),
            ]
        )
        yield Cell(runtime, plc, audit)


async def test_out_of_range_is_refused_naming_the_limit(cell: Cell) -> None:
    with pytest.raises(RejectedValueError, match="above the maximum 400") as refused:
        await cell.runtime.set_desired("p1", "force", 450, by="ann")
    assert refused.value.reason == "out_of_limits"
    assert cell.plc.writes == []
    assert cell.rejections()[0]["limit"] == "range" and cell.rejections()[0]["by"] == "ann"


async def test_a_step_faster_than_max_rate_is_refused(cell: Cell) -> None:
    # the press reports 100 kN; max_rate 10 kN/s allows one second's worth at once
    with pytest.raises(RejectedValueError) as refused:
        await cell.runtime.set_desired("p1", "force", 150, by="ann")
    assert refused.value.reason == "rate_of_change"
    message = str(refused.value)
    assert "max_rate 10 kN/s" in message and "from 100 to 150" in message
    assert cell.plc.writes == []
    assert cell.rejections()[0]["limit"] == "max_rate"
    # stepping towards it is fine
    record = await cell.runtime.set_desired("p1", "force", 110, by="ann")
    await cell.runtime.wait_command(record, 2)
    assert record.status == "acknowledged"
    assert cell.plc.writes == [("p1", "force", 110.0)]
    # and never more than one second's worth (10 kN) in one write
    with pytest.raises(RejectedValueError, match="max_rate"):
        await cell.runtime.set_desired("p1", "force", 120, by="ann")


async def test_commands_outside_their_states_are_refused(cell: Cell) -> None:
    with pytest.raises(RejectedValueError, match="not allowed while the twin is 'idle'"):
        await cell.runtime.call_command("p1", "reset", by="ann")
    assert cell.plc.calls == []
    assert cell.rejections()[0]["limit"] == "allowed_states"


async def test_commands_per_twin_are_rate_limited(cell: Cell) -> None:
    # the press allows 3 commands a minute (its type says so), the pump the default 5
    for _ in range(3):
        await cell.runtime.call_command("p1", "start", by="ann")
    with pytest.raises(RateLimitedError, match="more than 3 commands in 60 s") as limited:
        await cell.runtime.call_command("p1", "start", by="ann")
    assert limited.value.retry_after_s > 1
    assert cell.rejections()[0]["limit"] == "rate_limit"
    assert len(cell.plc.calls) == 3
    # another twin has its own budget
    for _ in range(5):
        await cell.runtime.call_command("q1", "prime", by="ann")
    with pytest.raises(RateLimitedError):
        await cell.runtime.set_desired("q1", "flow", 10, by="ann")


async def test_every_command_and_refusal_is_audited_with_who(cell: Cell) -> None:
    record = await cell.runtime.call_command("p1", "start", by="ann")
    await cell.runtime.wait_command(record, 2)
    with pytest.raises(RejectedValueError):
        await cell.runtime.set_desired("p1", "force", 999, by="bob")
    entries = cell.audit.entries(limit=100)
    seen = [(e["kind"], e["actor"]) for e in entries]
    assert ("CommandSent", "ann") in seen and ("CommandAcknowledged", "ann") in seen
    assert ("CommandRejected", "bob") in seen


async def test_a_command_that_cannot_be_audited_is_not_sent(cell: Cell) -> None:
    def broken(stored: Any) -> None:
        raise OSError("disk full")

    cell.runtime.event_hooks.append(broken)
    with pytest.raises(OSError, match="disk full"):
        await cell.runtime.call_command("q1", "prime", by="ann")
    assert cell.plc.calls == []


def test_the_bucket_refills_over_time() -> None:
    now = [0.0]
    guard = CommandGuard(RateLimit(2, 10), clock=lambda: now[0])
    guard.take("m")
    guard.take("m")
    with pytest.raises(RateLimitedError):
        guard.take("m")
    now[0] = 5.0  # one command's worth refilled
    guard.take("m")
    with pytest.raises(RateLimitedError):
        guard.take("m")
