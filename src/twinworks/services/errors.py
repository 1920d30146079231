"""Errors of the services: bad inputs, named by where they are and what was expected.

TwinworksError
 └── ServiceInputError          a request, scenario or problem the services cannot use
      ├── ScheduleInputError    a scheduling request or problem
      └── ScenarioError         a what-if scenario file
"""

from __future__ import annotations

from dataclasses import dataclass

from twinworks.errors import TwinworksError

__all__ = ["ProblemIssue", "ScenarioError", "ScheduleInputError", "ServiceInputError"]


@dataclass(frozen=True, slots=True)
class ProblemIssue:
    """One problem: where (a path like ``jobs[2].operations[0]``), what, and what was expected."""

    where: str
    message: str
    expected: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "where": self.where,
            "line": self.line,
            "message": self.message,
            "expected": self.expected,
        }

    def __str__(self) -> str:
        where = f"line {self.line}, {self.where}" if self.line else self.where
        text = f"{where}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class ServiceInputError(TwinworksError):
    """Input the services cannot use. ``issues`` lists every problem found."""

    def __init__(self, source: str, issues: list[ProblemIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        lines = [
            f"{source}: {len(self.issues)} problem{'s' if len(self.issues) != 1 else ''} found"
        ]
        lines += [f"  {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))

    @property
    def where(self) -> str | None:
        return self.issues[0].where if self.issues else None


class ScheduleInputError(ServiceInputError):
    pass


class ScenarioError(ServiceInputError):
    pass
