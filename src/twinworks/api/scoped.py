"""Production results cut down to the twins a caller may see.

A user granted part of the plant reads every other result filtered to that part
(twins, events, the maintenance plan): what-if results and plans follow the same
rule. Rows that belong to a station, machine or conveyor outside the caller's scope
are left out; figures of the whole line (KPIs such as throughput or makespan) stay,
as the totals of ``/stats`` do. Pictures of the whole line (the what-if report, the
Gantt chart) are for whole-plant viewers only (see :mod:`twinworks.api.policy`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["scoped_plan", "scoped_whatif"]


def _only(mapping: Any, visible: Collection[str]) -> Any:
    if not isinstance(mapping, dict):
        return mapping
    return {key: value for key, value in mapping.items() if key in visible}


def scoped_whatif(result: dict[str, Any], visible: Collection[str] | None) -> dict[str, Any]:
    """A what-if result (``WhatIfResult.as_dict``) with only the ``visible`` stations."""
    if visible is None:
        return result
    out = dict(result)
    out["stations"] = _only(result.get("stations"), visible)
    fork = result.get("fork")
    if isinstance(fork, dict):
        out["fork"] = {
            **fork,
            **{
                part: _only(fork.get(part), visible)
                for part in ("queues", "states", "on_transport")
                if part in fork
            },
        }
    return out


def scoped_plan(plan: dict[str, Any], visible: Collection[str] | None) -> dict[str, Any]:
    """A plan (``Plan.as_dict``, or a revision holding ``schedule`` and ``problem``) with
    only the operations, machines and windows on ``visible`` machines."""
    if visible is None:
        return plan
    out = dict(plan)
    schedule = plan.get("schedule")
    if isinstance(schedule, dict):
        schedule = dict(schedule)
        schedule["assignments"] = [
            a for a in schedule.get("assignments", []) if a.get("machine") in visible
        ]
        kpis = schedule.get("kpis")
        if isinstance(kpis, dict) and "utilisation" in kpis:
            schedule["kpis"] = {**kpis, "utilisation": _only(kpis["utilisation"], visible)}
        out["schedule"] = schedule
    problem = plan.get("problem")
    if isinstance(problem, dict):
        problem = dict(problem)
        problem["machines"] = [m for m in problem.get("machines", []) if m in visible]
        problem["windows"] = [w for w in problem.get("windows", []) if w.get("machine") in visible]
        problem["setups"] = _only(problem.get("setups", {}), visible)
        jobs = []
        for job in problem.get("jobs", []):
            operations = [
                {**op, "machines": _only(op.get("machines", {}), visible)}
                for op in job.get("operations", [])
            ]
            # a job is shown when one of its operations may run on a visible machine
            if any(op["machines"] for op in operations):
                jobs.append({**job, "operations": operations})
        problem["jobs"] = jobs
        out["problem"] = problem
    revision = plan.get("last_revision")
    if isinstance(revision, dict) and isinstance(revision.get("disruptions"), list):
        out["last_revision"] = {
            **revision,
            "disruptions": [
                d
                for d in revision["disruptions"]
                if not isinstance(d, dict) or d.get("machine") in (None, *visible)
            ],
        }
    return out
