"""A plan: the problem, its schedule and when it started, saved as one JSON file.

``twinworks schedule`` writes a plan; ``twinworks reschedule`` reads it back,
applies the disruptions and writes the revised plan, so the chain of plans is
the history of the schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinworks.services.errors import ProblemIssue, ScheduleInputError
from twinworks.services.scheduling.problem import SchedulingProblem
from twinworks.services.scheduling.request import problem_from_dict, problem_to_dict
from twinworks.services.scheduling.schedule import Assignment, Schedule

__all__ = ["Plan", "load_plan", "save_plan"]


@dataclass(frozen=True)
class Plan:
    problem: SchedulingProblem
    schedule: Schedule
    origin: float  # wall-clock time of time 0, s since the epoch
    revision: int = 1
    moved: int | None = None  # operations moved by the rescheduling that made this plan

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "origin": self.origin,
            "moved": self.moved,
            "problem": problem_to_dict(self.problem),
            "schedule": self.schedule.as_dict(self.problem),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        try:
            problem = problem_from_dict(data["problem"])
            s = data["schedule"]
            schedule = Schedule(
                tuple(
                    Assignment(
                        str(a["job"]),
                        int(a["index"]),
                        str(a["machine"]),
                        int(a["start"]),
                        int(a["end"]),
                        int(a.get("setup", 0)),
                    )
                    for a in s["assignments"]
                ),
                objective=str(s.get("objective", "makespan")),
                value=float(s.get("value", 0.0)),
                bound=s.get("bound"),
                status=s.get("status", "feasible"),
                solver=str(s.get("solver", "")),
                solve_time_s=float(s.get("solve_time_s", 0.0)),
                origin=data.get("origin"),
            )
            return cls(
                problem,
                schedule,
                float(data["origin"]),
                int(data.get("revision", 1)),
                data.get("moved"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleInputError(
                "plan",
                [
                    ProblemIssue(
                        "(top level)",
                        f"not a twinworks plan: {exc!r}",
                        "a file written by `twinworks schedule`",
                    )
                ],
            ) from None


def save_plan(plan: Plan, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan.as_dict(), indent=1), encoding="utf-8")
    return out


def load_plan(path: str | Path) -> Plan:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleInputError(
            str(file), [ProblemIssue("(file)", f"cannot read the plan: {exc.strerror}")]
        ) from None
    except ValueError as exc:
        raise ScheduleInputError(
            str(file), [ProblemIssue("(file)", f"not JSON: {exc}", "a plan file")]
        ) from None
    if not isinstance(data, dict):
        raise ScheduleInputError(
            str(file), [ProblemIssue("(top level)", "not a plan", "a JSON object")]
        )
    return Plan.from_dict(data)
