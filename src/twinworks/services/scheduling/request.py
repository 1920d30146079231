"""Scheduling and rescheduling requests: YAML/JSON in, a :class:`SchedulingProblem` out.

A request lists jobs with their operations directly (any job shop), or orders of
products whose routings, stations, setups and shifts come from a twin
definition's ``production`` section -- or both. Windows of unavailability are
planned maintenance or the health services' predicted failures.

.. code-block:: yaml

    objective: weighted_tardiness     # or makespan
    time_limit: 10s
    orders:
      - {id: O1, product: part, quantity: 10, due: 6h, weight: 2}
    jobs:
      - id: J7
        due: 4h
        operations:
          - {machines: {cnc1: 4m, cnc2: 5m}}     # flexible: either machine
          - {machine: cnc3, duration: 3m}
    windows:
      - {machine: cnc2, start: 2h, end: 3h}                                   # maintenance
      - {machine: cnc3, predicted_failure: {mean: 6h, std: 1h}, repair: 40m}  # from RUL

Times are seconds from the plan's start (numbers or ``90s``, ``4m``, ``2h``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twinworks.services.errors import ProblemIssue, ScheduleInputError
from twinworks.services.line.model import LineModel, open_windows
from twinworks.services.line.state import LineState
from twinworks.services.scheduling.problem import (
    Alternative,
    Job,
    Operation,
    SchedulingProblem,
    Setup,
    Window,
    window_from_failure_time,
)
from twinworks.services.scheduling.reschedule import Disruption
from twinworks.spec.production import PositiveSeconds, Seconds

__all__ = [
    "DisruptionSpec",
    "JobSpec",
    "OrderSpec",
    "RescheduleRequest",
    "ScheduleRequest",
    "build_disruptions",
    "build_problem",
    "problem_from_dict",
    "problem_to_dict",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperationSpec(_Model):
    machine: str | None = None
    duration: Seconds | None = None
    machines: dict[str, Seconds] | None = Field(default=None, description="machine → duration")
    family: str | None = None
    min_lag: Seconds = 0.0
    name: str = ""

    @model_validator(mode="after")
    def _one_form(self) -> OperationSpec:
        single = self.machine is not None or self.duration is not None
        if single == (self.machines is not None):
            raise ValueError("give machine + duration, or machines: {machine: duration}")
        if single and (self.machine is None or self.duration is None):
            raise ValueError("machine and duration go together")
        if self.machines is not None and not self.machines:
            raise ValueError("machines is empty")
        return self


class JobSpec(_Model):
    id: str = Field(min_length=1, max_length=128)
    operations: list[OperationSpec] = Field(min_length=1)
    release: Seconds = 0.0
    due: Seconds | None = None
    weight: float = Field(default=1.0, ge=0)
    family: str | None = None
    name: str = ""


class OrderSpec(_Model):
    """A lot of a product of the definition, made as one job along its routing."""

    id: str = Field(min_length=1, max_length=128)
    product: str
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    release: Seconds = 0.0
    due: Seconds | None = None
    weight: float = Field(default=1.0, ge=0)


class PredictedFailure(_Model):
    mean: Seconds
    std: Seconds = 0.0


class WindowSpec(_Model):
    machine: str
    start: Seconds | None = None
    end: Seconds | None = None
    predicted_failure: PredictedFailure | None = None
    repair: Seconds | None = None
    risk: float = Field(default=0.1, gt=0, lt=1)
    reason: str = ""

    @model_validator(mode="after")
    def _one_form(self) -> WindowSpec:
        if self.predicted_failure is None and (self.start is None or self.end is None):
            raise ValueError("a window needs start and end, or predicted_failure and repair")
        if self.predicted_failure is not None and self.repair is None:
            raise ValueError("a predicted failure needs the repair time it would take")
        return self


class SetupRequest(_Model):
    default: Seconds = 0.0
    matrix: dict[str, dict[str, Seconds]] = Field(default_factory=dict)
    initial: str | None = None


class ScheduleRequest(_Model):
    name: str = "plan"
    objective: Literal["makespan", "weighted_tardiness"] = "makespan"
    time_limit: PositiveSeconds = 10.0
    workers: int = Field(default=2, ge=1, le=64)
    seed: int = Field(default=0, ge=0)
    machines: list[str] = Field(default_factory=list)
    jobs: list[JobSpec] = Field(default_factory=list)
    orders: list[OrderSpec] = Field(default_factory=list)
    windows: list[WindowSpec] = Field(default_factory=list)
    setups: dict[str, SetupRequest] = Field(default_factory=dict)
    shifts: bool = Field(default=True, description="block the time outside the line's shifts")

    @model_validator(mode="after")
    def _some_work(self) -> ScheduleRequest:
        if not self.jobs and not self.orders:
            raise ValueError("nothing to schedule: give jobs or orders")
        return self


class DisruptionSpec(_Model):
    type: Literal["breakdown", "tool_end_of_life", "rush_order", "maintenance"]
    machine: str | None = None
    at: Seconds | None = Field(default=None, description="default: now")
    duration: Seconds | None = Field(default=None, description="repair, tool change or maintenance")
    job: JobSpec | None = None
    order: OrderSpec | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _fields(self) -> DisruptionSpec:
        if self.type == "rush_order":
            if (self.job is None) == (self.order is None):
                raise ValueError("a rush order needs job: {...} or order: {...}")
        else:
            if self.machine is None:
                raise ValueError(f"a {self.type} needs the machine")
            if self.duration is None and self.type != "tool_end_of_life":
                raise ValueError(f"a {self.type} needs its duration")
        return self


class RescheduleRequest(_Model):
    now: Seconds | None = Field(
        default=None, description="time since the plan started; default: now"
    )
    time_budget: PositiveSeconds = 2.0
    objective: Literal["makespan", "weighted_tardiness"] | None = None
    workers: int = Field(default=2, ge=1, le=64)
    seed: int = Field(default=0, ge=0)
    disruptions: list[Annotated[DisruptionSpec, Field()]] = Field(min_length=1)


# ---------------------------------------------------------------- building problems


def _job(spec: JobSpec) -> Job:
    ops = []
    for op in spec.operations:
        if op.machines is not None:
            alts = tuple(Alternative(m, round(d)) for m, d in op.machines.items())
        else:
            assert op.machine is not None and op.duration is not None
            alts = (Alternative(op.machine, round(op.duration)),)
        ops.append(Operation(alts, op.name, op.family or spec.family, round(op.min_lag)))
    return Job(
        spec.id,
        tuple(ops),
        round(spec.release),
        round(spec.due) if spec.due is not None else None,
        spec.weight,
        spec.name,
    )


def order_job(
    order: OrderSpec, line: LineModel, state: LineState | None = None, where: str = "orders"
) -> Job:
    product = line.products.get(order.product)
    if product is None:
        raise ScheduleInputError(
            "scheduling request",
            [
                ProblemIssue(
                    f"{where}.product",
                    f"unknown product {order.product!r}",
                    "one of: " + ", ".join(sorted(line.products)),
                )
            ],
        )
    ops = []
    previous: tuple[str, ...] = ()
    for step in product.steps:
        alts = []
        for station, dist in zip(step.stations, step.times, strict=True):
            feed = 100.0
            if state is not None and station in state.stations and state.stations[station].feed:
                feed = float(state.stations[station].feed or 100.0)
            alts.append(
                Alternative(station, max(1, round(order.quantity * dist.mean * 100.0 / feed)))
            )
        lag = 0.0
        for a in previous:
            for b in step.stations:
                via = line.links.get((a, b))
                if via:
                    lag = max(lag, line.transports[via].time.mean)
        ops.append(Operation(tuple(alts), step.operation, product.family, round(lag)))
        previous = step.stations
    return Job(
        order.id,
        tuple(ops),
        round(order.release),
        round(order.due) if order.due is not None else None,
        order.weight,
        f"{order.quantity} × {order.product}",
    )


def build_problem(
    request: ScheduleRequest,
    line: LineModel | None = None,
    state: LineState | None = None,
    origin: float | None = None,
) -> SchedulingProblem:
    """The problem a request describes; ``line`` resolves orders, setups and shifts."""
    issues: list[ProblemIssue] = []
    jobs = [_job(j) for j in request.jobs]
    if request.orders and line is None:
        issues.append(
            ProblemIssue(
                "orders",
                "orders need a twin definition with production data",
                "jobs, or a definition",
            )
        )
    elif line is not None:
        for i, order in enumerate(request.orders):
            try:
                jobs.append(order_job(order, line, state, f"orders[{i}]"))
            except ScheduleInputError as exc:
                issues += exc.issues
    machines = list(request.machines)
    if line is not None:
        machines += [s for s in line.stations if s not in machines]
    named = {a.machine for j in jobs for o in j.operations for a in o.alternatives}
    machines += sorted(m for m in named if m not in machines)
    setups: dict[str, Setup] = {}
    if line is not None:
        for sid, st in line.stations.items():
            initial = (
                state.stations[sid].family if state is not None and sid in state.stations else None
            )
            if st.setup_default or st.setup_matrix:
                setups[sid] = Setup(
                    round(st.setup_default),
                    {k: round(v) for k, v in st.setup_matrix.items()},
                    initial,
                )
    for m, s in request.setups.items():
        setups[m] = Setup(
            round(s.default),
            {(a, b): round(v) for a, row in s.matrix.items() for b, v in row.items()},
            s.initial,
        )
    windows: list[Window] = []
    for i, w in enumerate(request.windows):
        if w.predicted_failure is not None:
            assert w.repair is not None
            windows.append(
                window_from_failure_time(
                    w.machine,
                    w.predicted_failure.mean,
                    w.predicted_failure.std,
                    w.repair,
                    risk=w.risk,
                )
            )
        else:
            assert w.start is not None and w.end is not None
            windows.append(
                Window(w.machine, round(w.start), round(w.end), w.reason or "maintenance")
            )
            if w.end <= w.start:
                issues.append(ProblemIssue(f"windows[{i}]", "ends before it starts", "start < end"))
    if line is not None and state is not None:
        # the health services' predictions carried by the fork state
        for sid, ss in state.stations.items():
            if ss.failure_time is not None and line.stations[sid].mttr is not None:
                mean, std = ss.failure_time
                mttr = line.stations[sid].mttr
                assert mttr is not None
                windows.append(window_from_failure_time(sid, mean, std, mttr.mean))
    if line is not None and line.shifts and request.shifts:
        work = sum(max(a.duration for a in o.alternatives) for j in jobs for o in j.operations)
        span = max(7 * 86400.0, 3.0 * work)
        opened = open_windows(line.shifts, origin or 0.0, span, line.timezone)
        closed: list[tuple[float, float]] = []
        t = 0.0
        for ws, we in opened:
            if ws > t:
                closed.append((t, ws))
            t = we
        closed.append((t, span * 10))
        for m in line.stations:
            windows += [
                Window(m, math.floor(a), math.ceil(b), "off shift") for a, b in closed if b - a >= 1
            ]
    if issues:
        raise ScheduleInputError("scheduling request", issues)
    return SchedulingProblem(tuple(jobs), tuple(machines), tuple(windows), setups, request.name)


def build_disruptions(
    request: RescheduleRequest, now: int, line: LineModel | None = None
) -> list[Disruption]:
    out = []
    for i, d in enumerate(request.disruptions):
        at = round(d.at) if d.at is not None else now
        if d.type == "rush_order":
            if d.order is not None:
                if line is None:
                    raise ScheduleInputError(
                        "rescheduling request",
                        [
                            ProblemIssue(
                                f"disruptions[{i}].order",
                                "orders need a twin definition",
                                "job: {...}",
                            )
                        ],
                    )
                job = order_job(d.order, line, None, f"disruptions[{i}].order")
            else:
                assert d.job is not None
                job = _job(d.job)
            out.append(Disruption("rush_order", at, job=job, reason=d.reason))
            continue
        duration = d.duration
        if duration is None and line is not None and d.machine in line.stations:
            change = line.stations[d.machine].tool_change
            duration = change.mean if change is not None else None
        if duration is None:
            raise ScheduleInputError(
                "rescheduling request",
                [
                    ProblemIssue(
                        f"disruptions[{i}].duration",
                        "how long the tool change takes is unknown",
                        "a duration",
                    )
                ],
            )
        out.append(Disruption(d.type, at, d.machine, round(duration), reason=d.reason))
    return out


# ---------------------------------------------------------------- plan files


def problem_to_dict(problem: SchedulingProblem) -> dict[str, Any]:
    return {
        "name": problem.name,
        "machines": list(problem.machines),
        "jobs": [
            {
                "id": j.id,
                "name": j.name,
                "release": j.release,
                "due": j.due,
                "weight": j.weight,
                "operations": [
                    {
                        "machines": {a.machine: a.duration for a in o.alternatives},
                        "family": o.family,
                        "min_lag": o.min_lag,
                        "name": o.name,
                    }
                    for o in j.operations
                ],
            }
            for j in problem.jobs
        ],
        "windows": [
            {"machine": w.machine, "start": w.start, "end": w.end, "reason": w.reason}
            for w in problem.windows
        ],
        "setups": {
            m: {
                "default": s.default,
                "matrix": [[a, b, v] for (a, b), v in s.matrix.items()],
                "initial": s.initial,
            }
            for m, s in problem.setups.items()
        },
    }


def problem_from_dict(data: dict[str, Any]) -> SchedulingProblem:
    try:
        jobs = tuple(
            Job(
                str(j["id"]),
                tuple(
                    Operation(
                        tuple(Alternative(str(m), int(d)) for m, d in o["machines"].items()),
                        str(o.get("name", "")),
                        o.get("family"),
                        int(o.get("min_lag", 0)),
                    )
                    for o in j["operations"]
                ),
                int(j.get("release", 0)),
                None if j.get("due") is None else int(j["due"]),
                float(j.get("weight", 1.0)),
                str(j.get("name", "")),
            )
            for j in data["jobs"]
        )
        windows = tuple(
            Window(str(w["machine"]), int(w["start"]), int(w["end"]), str(w.get("reason", "")))
            for w in data.get("windows", [])
        )
        setups = {
            str(m): Setup(
                int(s["default"]),
                {(a, b): int(v) for a, b, v in s.get("matrix", [])},
                s.get("initial"),
            )
            for m, s in data.get("setups", {}).items()
        }
        machines = tuple(str(m) for m in data.get("machines", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScheduleInputError(
            "plan",
            [
                ProblemIssue(
                    "problem", f"not a saved problem: {exc!r}", "a plan written by twinworks"
                )
            ],
        ) from None
    return SchedulingProblem(jobs, machines, windows, setups, str(data.get("name", "")))
