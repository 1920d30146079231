"""Exact (or best-found within a time limit) schedules with OR-Tools CP-SAT.

The model is the textbook one: an interval per operation and eligible machine
(optional intervals when there is a choice, exactly one present), ``NoOverlap``
per machine including its unavailability windows, precedence with lags between
consecutive operations of a job, release dates, and -- only when setups are
declared -- a circuit per machine whose arcs carry the sequence-dependent
changeover. For weighted tardiness a dispatching-rule schedule is the hint, so
the search starts from a feasible plan; the rule's plan is also the fallback.

Objectives: ``makespan`` (the end of the last operation) and
``weighted_tardiness`` (sum of weight × lateness over jobs with a due date, then
makespan as a tie-break in a second, shorter phase).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from twinworks.services.errors import ProblemIssue, ScheduleInputError
from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.dispatch import RULES, dispatch, objective_value
from twinworks.services.scheduling.problem import OpKey, SchedulingProblem
from twinworks.services.scheduling.schedule import Assignment, Schedule

__all__ = ["OBJECTIVES", "CpModelBuilder", "SolverOptions", "solve"]

OBJECTIVES = ("makespan", "weighted_tardiness")


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """CP-SAT's budget and portfolio.

    ``time_limit_s`` is wall-clock time. ``deterministic_time``, when given, also
    limits CP-SAT's deterministic time (its own measure of work done, not
    seconds): about the same amount of search whatever else runs on the
    machine, for benchmarks on shared machines.
    """

    time_limit_s: float = 10.0
    workers: int = 2
    seed: int = 0
    log: bool = False
    deterministic_time: float | None = None

    def solver(self, time_limit_s: float | None = None) -> cp_model.CpSolver:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, time_limit_s or self.time_limit_s)
        if self.deterministic_time is not None:
            solver.parameters.max_deterministic_time = self.deterministic_time
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = self.seed
        solver.parameters.log_search_progress = self.log
        return solver


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ScheduleInputError(
            "scheduling request",
            [
                ProblemIssue(
                    "objective", f"unknown objective {objective!r}", " or ".join(OBJECTIVES)
                )
            ],
        )


class CpModelBuilder:
    """The CP-SAT model of a problem; rescheduling adds its own terms to it.

    ``fixed`` assignments become constants; every other operation starts at
    ``earliest`` or later.
    """

    def __init__(
        self,
        problem: SchedulingProblem,
        *,
        horizon: int | None = None,
        fixed: Mapping[OpKey, Assignment] | None = None,
        earliest: int = 0,
    ) -> None:
        self.problem = problem
        self.fixed = dict(fixed or {})
        self.model = cp_model.CpModel()
        m = self.model
        h = horizon if horizon is not None else problem.horizon()
        h = max(h, max((a.end for a in self.fixed.values()), default=0))
        self.horizon = h
        self.start: dict[OpKey, Any] = {}
        self.end: dict[OpKey, Any] = {}
        self.present: dict[OpKey, dict[str, Any]] = {}
        intervals: dict[str, list[Any]] = defaultdict(list)
        self.on_machine: dict[str, list[tuple[OpKey, Any, Any, Any]]] = defaultdict(list)
        for job in problem.jobs:
            prev_end = None
            for k, op in enumerate(job.operations):
                key = (job.id, k)
                if key in self.fixed:
                    a = self.fixed[key]
                    s, e = m.new_constant(a.start), m.new_constant(a.end)
                    iv = m.new_fixed_size_interval_var(a.start, a.end - a.start, f"fixed{key}")
                    lit = m.new_constant(1)
                    self.present[key] = {a.machine: lit}
                    intervals[a.machine].append(iv)
                    self.on_machine[a.machine].append((key, s, e, lit))
                else:
                    lo = max(earliest, job.release if k == 0 else 0)
                    dmin = op.min_duration
                    dmax = max(a.duration for a in op.alternatives)
                    s = m.new_int_var(lo, max(lo, h - dmin), f"s{key}")
                    e = m.new_int_var(lo + dmin, max(lo + dmin, h), f"e{key}")
                    if len(op.alternatives) == 1:
                        alt = op.alternatives[0]
                        iv = m.new_interval_var(s, alt.duration, e, f"i{key}")
                        lit = m.new_constant(1)
                        self.present[key] = {alt.machine: lit}
                        intervals[alt.machine].append(iv)
                        self.on_machine[alt.machine].append((key, s, e, lit))
                    else:
                        lits = {}
                        for alt in op.alternatives:
                            lit = m.new_bool_var(f"p{key}{alt.machine}")
                            iv = m.new_optional_interval_var(
                                s, alt.duration, e, lit, f"i{key}{alt.machine}"
                            )
                            lits[alt.machine] = lit
                            intervals[alt.machine].append(iv)
                            self.on_machine[alt.machine].append((key, s, e, lit))
                        m.add_exactly_one(lits.values())
                        self.present[key] = lits
                        if dmin != dmax:
                            m.add(
                                e - s == sum(a.duration * lits[a.machine] for a in op.alternatives)
                            )
                self.start[key], self.end[key] = s, e
                if prev_end is not None:
                    m.add(s >= prev_end + op.min_lag)
                prev_end = e
        # windows may overlap (a shift end and a predicted failure); NoOverlap needs them merged
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for w in sorted(problem.windows, key=lambda w: (w.machine, w.start)):
            merged = spans[w.machine]
            if merged and w.start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], w.end))
            else:
                merged.append((w.start, w.end))
        for machine, merged in spans.items():
            for ws, we in merged:
                intervals[machine].append(
                    m.new_fixed_size_interval_var(ws, we - ws, f"w{machine}{ws}")
                )
        for machine in problem.machines:
            if len(intervals[machine]) > 1:
                m.add_no_overlap(intervals[machine])
        # The makespan is the latest end of a job. Nothing redundant is added: a
        # classic job shop is then exactly the textbook model CP-SAT is tuned on (an
        # interval [makespan, horizon) on every machine measured worse on Taillard).
        lasts = [self.end[(j.id, len(j.operations) - 1)] for j in problem.jobs if j.operations]
        self.makespan = m.new_int_var(0, h, "makespan")
        m.add_max_equality(self.makespan, lasts)
        if problem.has_setups:
            self._add_setups()

    def _add_setups(self) -> None:
        m = self.model
        families = {
            (j.id, k): op.family for j in self.problem.jobs for k, op in enumerate(j.operations)
        }
        for machine, entries in self.on_machine.items():
            rule = self.problem.setups.get(machine)
            if rule is None or not (rule.default or rule.matrix) or not entries:
                continue
            arcs: list[tuple[int, int, Any]] = []
            for i, (key, s, _e, lit) in enumerate(entries, start=1):
                first = m.new_bool_var("")
                arcs.append((0, i, first))
                initial = rule.time(rule.initial, families[key])
                if initial:
                    m.add(s >= initial).only_enforce_if(first)
                arcs.append((i, 0, m.new_bool_var("")))
                arcs.append((i, i, lit.Not()))
                for j, (key2, s2, _e2, _lit2) in enumerate(entries, start=1):
                    if i == j:
                        continue
                    nxt = m.new_bool_var("")
                    arcs.append((i, j, nxt))
                    gap = rule.time(families[key], families[key2])
                    m.add(s2 >= entries[i - 1][2] + gap).only_enforce_if(nxt)
            m.add_circuit(arcs)

    # ------------------------------------------------------------------ objectives

    def tardiness_terms(self) -> tuple[Any, int]:
        """Weighted tardiness as an integer expression and the scale of the weights."""
        jobs = [j for j in self.problem.jobs if j.due is not None and j.operations]
        scale = 1 if all(float(j.weight).is_integer() for j in jobs) else 100
        terms = []
        for job in jobs:
            assert job.due is not None
            late = self.model.new_int_var(0, self.horizon, f"late{job.id}")
            self.model.add(late >= self.end[(job.id, len(job.operations) - 1)] - job.due)
            terms.append(round(job.weight * scale) * late)
        return sum(terms), scale

    def objective(self, objective: str) -> tuple[Any, int]:
        if objective == "makespan":
            return self.makespan, 1
        return self.tardiness_terms()

    def hint(self, schedule: Schedule) -> None:
        """A complete starting point for the search: every start, end, machine and the makespan."""
        self.model.clear_hints()
        if len(schedule.assignments) == len(self.start):
            self.model.add_hint(self.makespan, schedule.makespan)
        for a in schedule.assignments:
            if a.key in self.fixed or a.key not in self.start:
                continue
            self.model.add_hint(self.start[a.key], a.start)
            self.model.add_hint(self.end[a.key], a.end)
            lits = self.present[a.key]
            if len(lits) > 1:
                for machine, lit in lits.items():
                    self.model.add_hint(lit, machine == a.machine)

    def extract(self, solver: cp_model.CpSolver) -> list[Assignment]:
        out = []
        for key, s in self.start.items():
            machine = next(
                mach for mach, lit in self.present[key].items() if solver.boolean_value(lit)
            )
            out.append(
                Assignment(key[0], key[1], machine, solver.value(s), solver.value(self.end[key]))
            )
        return with_setups(self.problem, out)


def with_setups(problem: SchedulingProblem, assignments: list[Assignment]) -> list[Assignment]:
    """Fill in the changeover before each assignment from its machine's sequence."""
    if not problem.has_setups:
        return assignments
    families = {(j.id, k): op.family for j in problem.jobs for k, op in enumerate(j.operations)}
    out = []
    last: dict[str, str | None] = {
        m: (problem.setups[m].initial if m in problem.setups else None) for m in problem.machines
    }
    for a in sorted(assignments, key=lambda a: (a.start, a.end)):
        fam = families.get(a.key)
        out.append(
            Assignment(
                a.job,
                a.index,
                a.machine,
                a.start,
                a.end,
                problem.setup_time(a.machine, last[a.machine], fam),
            )
        )
        last[a.machine] = fam
    return out


_STATUS = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible"}


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, out: list[tuple[float, float]], began: float, scale: int) -> None:
        super().__init__()
        self.out = out
        self.began = began
        self.scale = scale

    def on_solution_callback(self) -> None:
        self.out.append((time.perf_counter() - self.began, self.objective_value / self.scale))


def _baseline(
    problem: SchedulingProblem,
    objective: str,
    fixed: Mapping[OpKey, Assignment],
    earliest: int,
    time_limit_s: float,
) -> Schedule | None:
    """The best dispatching-rule plan: the fallback, and for tardiness the hint.

    For makespan every rule is tried (a few milliseconds each on a 15x15 shop)
    while they take under 5 % of the time limit; for tardiness EDD.
    """
    began = time.perf_counter()
    rules = RULES if objective == "makespan" else ("edd",)
    best: Schedule | None = None
    for rule in rules:
        try:
            plan = dispatch(problem, rule, fixed=fixed, earliest=earliest, objective=objective)
        except AssertionError:
            # kept assignments the dispatcher cannot work around; let CP-SAT judge
            return best
        if best is None or plan.value < best.value:
            best = plan
        if time.perf_counter() - began > 0.05 * time_limit_s:
            break
    return best


def solve(
    problem: SchedulingProblem,
    objective: str = "makespan",
    *,
    options: SolverOptions | None = None,
    hint: Schedule | None = None,
    fixed: Mapping[OpKey, Assignment] | None = None,
    earliest: int = 0,
    progress: list[tuple[float, float]] | None = None,
) -> Schedule:
    """The best schedule CP-SAT finds within the time limit.

    ``progress``, when given, receives ``(seconds, objective)`` for every improving
    solution of the first phase (benchmarks report when the best one was found).

    Always returns a feasible schedule: when CP-SAT finds none in time, the
    dispatching-rule schedule is returned with ``status="heuristic"`` and a note.
    Raises :class:`ScheduleInputError` when the problem has no feasible schedule
    (e.g. kept assignments collide with a window).

    >>> from twinworks.services.scheduling.problem import SchedulingProblem, jobs_from_table
    >>> p = SchedulingProblem(jobs_from_table([[(0, 3), (1, 2)], [(1, 4), (0, 1)]]))
    >>> s = solve(p, options=SolverOptions(time_limit_s=5))
    >>> s.makespan, s.status
    (6, 'optimal')
    """
    _check_objective(objective)
    options = options or SolverOptions()
    began = time.perf_counter()
    fixed = dict(fixed or {})
    for key, _a in fixed.items():
        try:
            problem.operation(key)
        except (KeyError, IndexError):
            raise ScheduleInputError(
                "scheduling request",
                [ProblemIssue(f"fixed.{key[0]}#{key[1]}", "not an operation of the problem", None)],
            ) from None
    baseline = _baseline(problem, objective, fixed, earliest, options.time_limit_s)
    # For makespan the model is the textbook one (for a classic job shop exactly what
    # bench/jobshop.py runs as plain CP-SAT): no hint, the total work as horizon. On
    # the Taillard instances a hint or a horizon from the rule's plan narrowed the
    # portfolio's search. The rule's plan stays the fallback; tardiness needs it as
    # the hint to start well.
    start_hint = hint or (baseline if objective != "makespan" else None)
    builder = CpModelBuilder(problem, horizon=problem.horizon(), fixed=fixed, earliest=earliest)
    expr, scale = builder.objective(objective)
    builder.model.minimize(expr)
    if start_hint is not None:
        builder.hint(start_hint)
    two_phase = objective == "weighted_tardiness"
    first_budget = options.time_limit_s * (0.75 if two_phase else 1.0)
    # One search with CP-SAT's own portfolio for the whole budget, as plain CP-SAT
    # runs. Splitting it (a short complete search, then an LNS-only restart) threw
    # away the first search's learning and left the bound where the short search
    # stopped (docs/production.md).
    solver = options.solver(max(0.05, first_budget - (time.perf_counter() - began)))
    callback = _Progress(progress, began, scale) if progress is not None else None
    status = solver.solve(builder.model, callback)
    if status == cp_model.INFEASIBLE or status == cp_model.MODEL_INVALID:
        raise ScheduleInputError(
            problem.name or "scheduling problem",
            [
                ProblemIssue(
                    "problem",
                    "no feasible schedule exists "
                    + (
                        "(the kept, already started operations collide with a window or each other)"
                        if fixed
                        else ""
                    ),
                    "windows and kept operations that leave room for every operation",
                )
            ],
        )
    if status not in _STATUS:
        assert baseline is not None
        return Schedule(
            baseline.assignments,
            objective=objective,
            value=baseline.value,
            status="heuristic",
            solver=baseline.solver,
            solve_time_s=time.perf_counter() - began,
            notes=(f"CP-SAT found no schedule within {first_budget:g} s; dispatching rule used",),
        )
    assignments = builder.extract(solver)
    value = solver.objective_value / scale
    bound = solver.best_objective_bound / scale
    state = _STATUS[status]
    if two_phase:
        # second phase: keep the tardiness found, and pack the plan as tightly as possible
        best = round(solver.objective_value)
        builder.model.add(expr <= best)
        builder.model.clear_objective()
        builder.model.minimize(builder.makespan)
        builder.hint(Schedule(tuple(assignments)))
        remaining = options.time_limit_s - (time.perf_counter() - began)
        if remaining > 0.05:
            solver2 = options.solver(remaining)
            if solver2.solve(builder.model) in _STATUS:
                assignments = builder.extract(solver2)
    schedule = Schedule(
        tuple(assignments),
        objective=objective,
        value=float(value),
        bound=float(bound),
        status=state,  # type: ignore[arg-type]
        solver="cp-sat",
        solve_time_s=time.perf_counter() - began,
    )
    if baseline is not None and objective_value(problem, schedule, objective) > baseline.value:
        # CP-SAT stopped early on a worse plan than the hint; never hand out the worse one
        schedule = Schedule(
            baseline.assignments,
            objective=objective,
            value=baseline.value,
            bound=float(bound),
            status="heuristic",
            solver=baseline.solver,
            solve_time_s=schedule.solve_time_s,
        )
    violations = check_schedule(problem, schedule, kept=fixed)
    if violations:
        raise AssertionError("CP-SAT returned an infeasible schedule: " + "; ".join(violations[:5]))
    return schedule
