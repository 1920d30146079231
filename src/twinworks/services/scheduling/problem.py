"""The scheduling problem: jobs of ordered operations on machines, in integer time units.

A job shop is the special case where every operation has one eligible machine;
a flexible job shop lets an operation run on any of several machines, each with
its own duration. On top of that a production planner needs:

- release dates (a job cannot start before its material is there) and due dates
  with weights (what being late costs);
- minimum time lags between consecutive operations of a job (transport, cooling);
- sequence-dependent setups per machine, between product *families*;
- machine unavailability windows: planned maintenance, shifts off, and windows
  predicted by the health services (see :func:`window_from_failure_time`).

Times are integers (CP-SAT works on integers); the unit is whatever the caller
chose, usually seconds from the plan's origin.

Semantics shared by every solver and by :func:`twinworks.services.scheduling.check.check_schedule`:
an operation occupies its machine over ``[start, end)``, which must not overlap a
window or another operation; a setup is the least gap between two consecutive
operations on a machine (``end_a + setup(family_a, family_b) <= start_b``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from twinworks.services.errors import ProblemIssue, ScheduleInputError

__all__ = [
    "Alternative",
    "Job",
    "OpKey",
    "Operation",
    "SchedulingProblem",
    "Setup",
    "Window",
    "jobs_from_table",
    "window_from_failure_time",
]

OpKey = tuple[str, int]  # (job id, index of the operation in its job)


@dataclass(frozen=True, slots=True)
class Alternative:
    """One machine an operation may run on, and how long it takes there."""

    machine: str
    duration: int


@dataclass(frozen=True, slots=True)
class Operation:
    alternatives: tuple[Alternative, ...]
    name: str = ""
    family: str | None = None  # setups are between families; None: no setup
    min_lag: int = 0  # least time between the end of the previous operation and this start

    def duration_on(self, machine: str) -> int | None:
        for alt in self.alternatives:
            if alt.machine == machine:
                return alt.duration
        return None

    @property
    def machines(self) -> tuple[str, ...]:
        return tuple(a.machine for a in self.alternatives)

    @property
    def min_duration(self) -> int:
        return min(a.duration for a in self.alternatives)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    operations: tuple[Operation, ...]
    release: int = 0
    due: int | None = None
    weight: float = 1.0
    name: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    """A machine is unavailable over ``[start, end)``."""

    machine: str
    start: int
    end: int
    reason: str = "maintenance"


@dataclass(frozen=True, slots=True)
class Setup:
    """Changeover times on one machine between families.

    ``matrix[(a, b)]`` overrides ``default`` (the time from any family to a
    different one); the same family needs no setup unless the matrix says so.
    ``initial`` is the family the machine is set up for at time 0.
    """

    default: int = 0
    matrix: Mapping[tuple[str, str], int] = field(default_factory=dict)
    initial: str | None = None

    def time(self, before: str | None, after: str | None) -> int:
        if before is None or after is None:
            return 0
        if (before, after) in self.matrix:
            return self.matrix[(before, after)]
        return 0 if before == after else self.default

    @property
    def largest(self) -> int:
        return max([self.default, *self.matrix.values()])


@dataclass(frozen=True)
class SchedulingProblem:
    """Jobs, machines, windows and setups. Construction checks everything and
    raises :class:`ScheduleInputError` listing every problem found."""

    jobs: tuple[Job, ...]
    machines: tuple[str, ...] = ()  # empty: every machine an operation names
    windows: tuple[Window, ...] = ()
    setups: Mapping[str, Setup] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.machines:
            named = sorted(
                {a.machine for j in self.jobs for o in j.operations for a in o.alternatives}
            )
            object.__setattr__(self, "machines", tuple(named))
        issues = self.problems()
        if issues:
            raise ScheduleInputError(self.name or "scheduling problem", issues)

    # ------------------------------------------------------------ structure

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def operation(self, key: OpKey) -> Operation:
        return self.job(key[0]).operations[key[1]]

    def op_keys(self) -> list[OpKey]:
        return [(j.id, k) for j in self.jobs for k in range(len(j.operations))]

    def setup_time(self, machine: str, before: str | None, after: str | None) -> int:
        rule = self.setups.get(machine)
        return 0 if rule is None else rule.time(before, after)

    @property
    def has_setups(self) -> bool:
        return any(s.default or s.matrix for s in self.setups.values())

    def horizon(self) -> int:
        """An end time no schedule worth having needs to pass."""
        work = sum(
            max(a.duration for a in o.alternatives) + o.min_lag
            for j in self.jobs
            for o in j.operations
        )
        setups = max((s.largest for s in self.setups.values()), default=0)
        n_ops = sum(len(j.operations) for j in self.jobs)
        last_window = max((w.end for w in self.windows), default=0)
        release = max((j.release for j in self.jobs), default=0)
        return max(release, last_window) + work + setups * n_ops + 1

    def with_changes(
        self,
        *,
        jobs: Iterable[Job] | None = None,
        windows: Iterable[Window] | None = None,
    ) -> SchedulingProblem:
        return SchedulingProblem(
            jobs=tuple(self.jobs if jobs is None else jobs),
            machines=self.machines,
            windows=tuple(self.windows if windows is None else windows),
            setups=self.setups,
            name=self.name,
        )

    # ------------------------------------------------------------ validation

    def problems(self) -> list[ProblemIssue]:
        issues: list[ProblemIssue] = []
        machines = set(self.machines)
        if not self.jobs:
            issues.append(ProblemIssue("jobs", "there are no jobs", "at least one job"))
        seen: set[str] = set()
        for j, job in enumerate(self.jobs):
            where = f"jobs[{j}]"
            if job.id in seen:
                issues.append(
                    ProblemIssue(
                        f"{where}.id", f"job id {job.id!r} is used twice", "unique job ids"
                    )
                )
            seen.add(job.id)
            if not job.operations:
                issues.append(
                    ProblemIssue(f"{where}.operations", "the job has no operations", "at least one")
                )
            if job.release < 0:
                issues.append(
                    ProblemIssue(f"{where}.release", f"{job.release} is negative", "0 or later")
                )
            if job.due is not None and job.due < 0:
                issues.append(ProblemIssue(f"{where}.due", f"{job.due} is negative", "0 or later"))
            if not (job.weight >= 0 and math.isfinite(job.weight)):
                issues.append(
                    ProblemIssue(
                        f"{where}.weight", f"{job.weight} is not allowed", "a finite weight >= 0"
                    )
                )
            for k, op in enumerate(job.operations):
                owhere = f"{where}.operations[{k}]"
                if not op.alternatives:
                    issues.append(
                        ProblemIssue(
                            f"{owhere}.machines", "no eligible machine", "at least one machine"
                        )
                    )
                if op.min_lag < 0:
                    issues.append(
                        ProblemIssue(f"{owhere}.min_lag", f"{op.min_lag} is negative", "0 or more")
                    )
                names = [a.machine for a in op.alternatives]
                if len(set(names)) != len(names):
                    issues.append(
                        ProblemIssue(
                            f"{owhere}.machines", "a machine is listed twice", "each machine once"
                        )
                    )
                for alt in op.alternatives:
                    if alt.machine not in machines:
                        issues.append(
                            ProblemIssue(
                                f"{owhere}.machines",
                                f"unknown machine {alt.machine!r}",
                                "one of: " + ", ".join(sorted(machines)),
                            )
                        )
                    if alt.duration < 0:
                        issues.append(
                            ProblemIssue(
                                f"{owhere}.duration",
                                f"{alt.duration} on {alt.machine} is negative",
                                "0 or more",
                            )
                        )
        for w, window in enumerate(self.windows):
            where = f"windows[{w}]"
            if window.machine not in machines:
                issues.append(
                    ProblemIssue(
                        f"{where}.machine",
                        f"unknown machine {window.machine!r}",
                        "one of: " + ", ".join(sorted(machines)),
                    )
                )
            if window.end <= window.start:
                issues.append(
                    ProblemIssue(
                        where,
                        f"ends ({window.end}) before it starts ({window.start})",
                        "start < end",
                    )
                )
        for machine, setup in self.setups.items():
            if machine not in machines:
                issues.append(
                    ProblemIssue(
                        f"setups.{machine}",
                        f"unknown machine {machine!r}",
                        "a machine of the problem",
                    )
                )
            if setup.default < 0 or any(v < 0 for v in setup.matrix.values()):
                issues.append(
                    ProblemIssue(f"setups.{machine}", "a setup time is negative", "0 or more")
                )
        return issues


def window_from_failure_time(
    machine: str,
    mean: float,
    std: float,
    repair: float,
    *,
    risk: float = 0.1,
    now: float = 0.0,
) -> Window:
    """A window that keeps work off a machine the health services expect to fail.

    The failure time is taken as log-normal with the given mean and standard
    deviation (from now, as the RUL services report it); the window starts at its
    ``risk`` quantile -- the time by which the machine has failed with that
    probability -- and lasts ``repair`` (the time a planned intervention takes).
    Scheduling around it is how a plan "accounts for" a predicted failure.
    """
    from statistics import NormalDist

    if mean <= 0:
        start = now
    else:
        sigma2 = math.log(1.0 + (std / mean) ** 2) if std > 0 else 0.0
        mu = math.log(mean) - sigma2 / 2
        z = NormalDist().inv_cdf(min(max(risk, 1e-9), 1 - 1e-9))
        start = now + math.exp(mu + z * math.sqrt(sigma2))
    return Window(
        machine, math.floor(start), math.ceil(start + max(repair, 1)), "predicted failure"
    )


def jobs_from_table(
    table: Sequence[Sequence[tuple[int, int]]], *, prefix: str = "J"
) -> tuple[Job, ...]:
    """Jobs of a classic job-shop table: per job a list of ``(machine, duration)``."""
    return tuple(
        Job(f"{prefix}{j}", tuple(Operation((Alternative(f"M{m}", int(d)),)) for m, d in ops))
        for j, ops in enumerate(table)
    )
