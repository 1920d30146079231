"""The production service inside the runtime: what-if, scheduling, rescheduling.

It reads the line from the runtime's definition and the fork state from the
twins' live views, keeps the current plan, and records what it does as events
(``WhatIfCompleted``, ``ScheduleCreated``, ``ScheduleRevised``). While a plan is
active it watches the twins: a machine whose ``state`` turns to ``fault`` is a
breakdown, a derived ``*.tool_wear`` reaching the end-of-life threshold is a
tool at its end of life; either one revises the plan within the time budget,
keeping what has started and moving as little as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from twinworks.runtime.service import TwinService
from twinworks.services.errors import ProblemIssue, ScheduleInputError
from twinworks.services.line.model import LineModel, line_from_definition
from twinworks.services.production import events as pev
from twinworks.services.production.scenario import Scenario
from twinworks.services.production.state import state_from_runtime
from twinworks.services.production.whatif import WhatIfResult, run_whatif
from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.plan import Plan
from twinworks.services.scheduling.request import (
    RescheduleRequest,
    ScheduleRequest,
    build_disruptions,
    build_problem,
)
from twinworks.services.scheduling.reschedule import Disruption, RescheduleResult, reschedule
from twinworks.store.base import Event

if TYPE_CHECKING:
    from twinworks.runtime.engine import Runtime

__all__ = ["ProductionService"]

log = logging.getLogger(__name__)


class ProductionService(TwinService):
    name = "production"

    def __init__(
        self,
        *,
        auto_reschedule: bool = True,
        tool_wear_limit: float = 0.95,
        time_budget_s: float = 2.0,
        keep_results: int = 20,
    ) -> None:
        self.auto_reschedule = auto_reschedule
        self.tool_wear_limit = tool_wear_limit
        self.time_budget_s = time_budget_s
        self.keep_results = keep_results
        self.runtime: Runtime | None = None
        self.line: LineModel | None = None
        self.plan: Plan | None = None
        self.last_revision: RescheduleResult | None = None
        self.results: OrderedDict[str, WhatIfResult] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._worn: set[str] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        if runtime.definition.production is not None:
            self.line = line_from_definition(runtime.definition)
        if self.auto_reschedule and self.line is not None and self._task is None:
            self._task = asyncio.create_task(self._watch(), name="twinworks-production")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def started(self) -> bool:
        return self.runtime is not None

    def require_line(self) -> LineModel:
        if self.line is None:
            raise ScheduleInputError(
                "definition",
                [
                    ProblemIssue(
                        "production",
                        "the running definition declares no production data",
                        "a production: section (stations, products) in the twin definition",
                    )
                ],
            )
        return self.line

    async def _record(self, kind: str, data: dict[str, Any]) -> None:
        assert self.runtime is not None
        await self.runtime.record([Event(kind, None, data)])

    # ------------------------------------------------------------------ what-if

    async def whatif(self, scenario: Scenario) -> tuple[str, WhatIfResult]:
        assert self.runtime is not None
        line = self.require_line()
        state = state_from_runtime(line, self.runtime.twin_view)
        result = await asyncio.to_thread(run_whatif, line, scenario, state)
        rid = uuid.uuid4().hex[:12]
        self.results[rid] = result
        while len(self.results) > self.keep_results:
            self.results.popitem(last=False)
        await self._record(
            pev.WHATIF_COMPLETED,
            {
                "id": rid,
                "scenario": scenario.name,
                "replications": len(result.runs),
                "kpis": {
                    k.name: {
                        "baseline": k.baseline.mean,
                        "scenario": k.scenario.mean,
                        "verdict": k.verdict,
                    }
                    for k in result.kpis
                },
            },
        )
        return rid, result

    # ------------------------------------------------------------------ scheduling

    async def schedule(self, request: ScheduleRequest, *, by: str = "api") -> Plan:
        assert self.runtime is not None
        origin = time.time()
        state = state_from_runtime(self.line, self.runtime.twin_view) if self.line else None
        problem = build_problem(request, self.line, state, origin)
        options = SolverOptions(request.time_limit, request.workers, request.seed)
        schedule = await asyncio.to_thread(solve, problem, request.objective, options=options)
        async with self._lock:
            revision = (self.plan.revision + 1) if self.plan else 1
            self.plan = Plan(
                problem,
                schedule.with_assignments(schedule.assignments, origin=origin),
                origin,
                revision,
            )
            self.last_revision = None
        await self._record(
            pev.SCHEDULE_CREATED,
            {
                "revision": revision,
                "by": by,
                "objective": schedule.objective,
                "value": schedule.value,
                "status": schedule.status,
                "jobs": len(problem.jobs),
                "operations": len(schedule.assignments),
                "makespan_s": schedule.makespan,
            },
        )
        return self.plan

    async def reschedule(self, request: RescheduleRequest, *, by: str = "api") -> RescheduleResult:
        if self.plan is None:
            raise ScheduleInputError(
                "rescheduling request",
                [
                    ProblemIssue(
                        "plan",
                        "there is no current plan",
                        "a plan made with POST /production/schedule",
                    )
                ],
            )
        now = (
            round(request.now)
            if request.now is not None
            else max(0, round(time.time() - self.plan.origin))
        )
        disruptions = build_disruptions(request, now, self.line)
        return await self._revise(
            disruptions,
            now,
            request.objective,
            request.time_budget,
            request.workers,
            request.seed,
            by,
        )

    async def _revise(
        self,
        disruptions: list[Disruption],
        now: int,
        objective: str | None,
        budget: float,
        workers: int = 2,
        seed: int = 0,
        by: str = "api",
    ) -> RescheduleResult:
        async with self._lock:
            plan = self.plan
            assert plan is not None
            result = await asyncio.to_thread(
                reschedule,
                plan.problem,
                plan.schedule,
                disruptions,
                now,
                objective=objective,
                time_budget_s=budget,
                workers=workers,
                seed=seed,
            )
            self.plan = Plan(
                result.problem, result.schedule, plan.origin, plan.revision + 1, len(result.moved)
            )
            self.last_revision = result
        await self._record(
            pev.SCHEDULE_REVISED,
            {
                "revision": self.plan.revision,
                "by": by,
                "now_s": now,
                "disruptions": [d.as_dict() for d in disruptions],
                "moved": len(result.moved),
                "kept": len(result.kept),
                "interrupted": len(result.interrupted),
                "added": result.added,
                "objective": result.schedule.objective,
                "value": result.schedule.value,
                "status": result.schedule.status,
                "solve_time_s": round(result.schedule.solve_time_s, 3),
            },
        )
        return result

    # ------------------------------------------------------------------ watching the twins

    async def _watch(self) -> None:
        assert self.runtime is not None
        subscription = self.runtime.subscribe()
        try:
            async for message in subscription:
                try:
                    await self._on_message(message)
                except Exception:  # a failed revision must not stop the watching
                    log.exception("automatic rescheduling failed")
        finally:
            with contextlib.suppress(Exception):
                subscription.close()

    async def _on_message(self, message: dict[str, Any]) -> None:
        if self.plan is None or self.line is None:
            return
        twin = message.get("twin_id")
        if twin not in self.plan.problem.machines:
            return
        now = max(0, round(time.time() - self.plan.origin))
        if message.get("type") == "event" and message.get("kind") == "StateChanged":
            if message.get("data", {}).get("to") == "fault":
                station = self.line.stations.get(twin)
                repair = station.mttr.mean if station and station.mttr else 1800.0
                await self._revise(
                    [
                        Disruption(
                            "breakdown",
                            now,
                            twin,
                            round(repair),
                            reason="breakdown seen by the twin",
                        )
                    ],
                    now,
                    None,
                    self.time_budget_s,
                    by="twin",
                )
        elif message.get("type") == "virtual":
            for signal, (_ts, value) in message.get("values", {}).items():
                if not signal.endswith("tool_wear") or not isinstance(value, int | float):
                    continue
                if value < self.tool_wear_limit:
                    self._worn.discard(twin)
                elif twin not in self._worn:
                    self._worn.add(twin)
                    station = self.line.stations.get(twin)
                    change = station.tool_change.mean if station and station.tool_change else 600.0
                    await self._revise(
                        [
                            Disruption(
                                "tool_end_of_life",
                                now,
                                twin,
                                round(change),
                                reason=f"{signal} = {value:.2f}",
                            )
                        ],
                        now,
                        None,
                        self.time_budget_s,
                        by="twin",
                    )
