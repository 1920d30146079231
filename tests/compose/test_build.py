"""The composition root decides, from the definition alone, which services run."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinworks.compose import Settings, build
from twinworks.services.alarms.service import AlarmService
from twinworks.services.operations.service import ProductionService
from twinworks.spec import TwinDefinition, parse_definition
from twinworks.spec.loader import load_definition
from twinworks.store import MemoryStore
from twinworks.sync.service import SyncService

pytestmark = pytest.mark.anyio


async def test_the_demo_definition_brings_estimation_alarms_and_production(
    cell_definition_path: Path,
) -> None:
    definition = load_definition(cell_definition_path)
    assembly = build(definition, MemoryStore(), Settings(connectors={}))
    kinds = {type(s) for s in assembly.runtime.services.values()}
    assert {SyncService, AlarmService, ProductionService} <= kinds
    assert isinstance(assembly.services.production, ProductionService)
    assert assembly.services.alarms is assembly.runtime.services["alarms"]
    assert assembly.app.state.services is assembly.services
    async with assembly.runtime:
        # started with the runtime, not by the first request that needs it
        assert assembly.services.production.started
        assert assembly.services.production.line is not None


async def test_a_plain_definition_runs_no_services(line_definition: TwinDefinition) -> None:
    assembly = build(line_definition, MemoryStore(), Settings(connectors={}))
    assert assembly.runtime.services == {}
    assert assembly.services.production is None and assembly.services.alarms is None


def test_settings_choose_the_services_and_the_runtime_options() -> None:
    definition = parse_definition("types: {m: {}}\ntwins: [{id: m1, type: m}]")
    service = SyncService()
    assembly = build(
        definition,
        MemoryStore(),
        Settings(runtime={"stale_after_s": 3.0}, services=lambda d: [service]),
    )
    assert list(assembly.runtime.services.values()) == [service]
    assert assembly.runtime.statuses.stale_after_s == 3.0
