"""What-if scenarios: a YAML file of changes to try against the line as it is now.

.. code-block:: yaml

    name: Slow cnc3 down to protect its tool
    horizon: 8h            # simulated time from the fork
    replications: 20       # runs per arm (baseline and scenario), common random numbers
    seed: 42
    confidence: 0.95
    changes:
      - {type: feed_rate, station: cnc3, percent: 90}              # from the fork, or at: 2h
      - {type: maintenance, station: cnc2, at: 2h, duration: 45m}
      - {type: extra_shift, at: 8h, duration: 8h}                  # or start/end/days clock times
      - {type: rush_order, at: 30m, product: part, quantity: 5, due_in: 2h, priority: 10}
      - {type: release_rate, percent: 120}                         # more (or less) new work
      - {type: wip_limit, value: 15}                               # CONWIP limit

Every problem is reported with its line, path and what was expected, e.g.
``line 7, changes[1].station: unknown station 'cnc9' (expected one of: cnc1, cnc2, cnc3)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twinworks.services.errors import ProblemIssue, ScenarioError
from twinworks.services.line.model import LineModel, open_windows
from twinworks.services.production.des import Effects, Order
from twinworks.services.yamlio import load_document, parse_document, validate_model
from twinworks.spec.production import PositiveSeconds, Seconds, ShiftSpec

__all__ = [
    "CHANGE_TYPES",
    "Scenario",
    "compile_effects",
    "load_scenario",
    "parse_scenario",
]


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedRate(_Change):
    """Run a station at another feed override (percent of programmed feed)."""

    type: Literal["feed_rate"] = "feed_rate"
    station: str
    percent: float = Field(gt=0, le=300)
    at: Seconds = 0.0


class Maintenance(_Change):
    """Stop a station for maintenance at a time (it finishes its current part first)."""

    type: Literal["maintenance"] = "maintenance"
    station: str
    at: Seconds
    duration: PositiveSeconds


class ExtraShift(_Change):
    """Work an extra window: ``at`` + ``duration`` from the fork, or clock times."""

    type: Literal["extra_shift"] = "extra_shift"
    at: Seconds | None = None
    duration: PositiveSeconds | None = None
    shift: ShiftSpec | None = None


class RushOrder(_Change):
    """Parts released at a time with a high priority and a tight due date."""

    type: Literal["rush_order"] = "rush_order"
    product: str
    quantity: int = Field(default=1, ge=1, le=10_000)
    at: Seconds = 0.0
    due_in: PositiveSeconds | None = None
    priority: int = Field(default=10, ge=0)


class ReleaseRate(_Change):
    """Scale the arrival rate of new work (100 = as now)."""

    type: Literal["release_rate"] = "release_rate"
    percent: float = Field(ge=0, le=1000)


class WipLimit(_Change):
    """Release new work while fewer than ``value`` parts are in the line (CONWIP)."""

    type: Literal["wip_limit"] = "wip_limit"
    value: int = Field(ge=1, le=100_000)


Change = Annotated[
    FeedRate | Maintenance | ExtraShift | RushOrder | ReleaseRate | WipLimit,
    Field(discriminator="type"),
]
CHANGE_TYPES = (
    "feed_rate",
    "maintenance",
    "extra_shift",
    "rush_order",
    "release_rate",
    "wip_limit",
)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "scenario"
    description: str = ""
    horizon: PositiveSeconds = 8 * 3600.0
    replications: int = Field(default=20, ge=2, le=1000)
    seed: int = Field(default=0, ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    changes: list[Change] = Field(default_factory=list)

    def describe(self) -> list[str]:
        return [_describe(c) for c in self.changes]


def _describe(c: Any) -> str:
    from twinworks.services.production.report import fmt_duration as d

    if isinstance(c, FeedRate):
        return f"{c.station}: feed override {c.percent:g} %" + (f" from {d(c.at)}" if c.at else "")
    if isinstance(c, Maintenance):
        return f"{c.station}: maintenance at {d(c.at)} for {d(c.duration)}"
    if isinstance(c, ExtraShift):
        if c.shift is not None:
            return f"extra shift {c.shift.start}–{c.shift.end} ({', '.join(c.shift.days)})"
        return f"extra shift at {d(c.at or 0)} for {d(c.duration or 0)}"
    if isinstance(c, RushOrder):
        due = f", due {d(c.due_in)} after release" if c.due_in else ""
        return f"rush order: {c.quantity} × {c.product} at {d(c.at)}, priority {c.priority}{due}"
    if isinstance(c, WipLimit):
        return f"release new work while fewer than {c.value} parts are in the line (CONWIP)"
    assert isinstance(c, ReleaseRate)
    return f"new work arrives at {c.percent:g} % of the current rate"


def _check(scenario: Scenario, line: LineModel, lines: dict[Any, int]) -> list[ProblemIssue]:
    from twinworks.services.yamlio import line_of

    issues: list[ProblemIssue] = []
    stations = ", ".join(sorted(line.stations))
    products = ", ".join(sorted(line.products))
    for i, c in enumerate(scenario.changes):
        base = ("changes", i)
        if isinstance(c, FeedRate | Maintenance) and c.station not in line.stations:
            issues.append(
                ProblemIssue(
                    f"changes[{i}].station",
                    f"unknown station {c.station!r}",
                    f"one of: {stations}",
                    line_of(lines, (*base, "station")),
                )
            )
        if (
            isinstance(c, FeedRate)
            and c.station in line.stations
            and line.stations[c.station].feed_signal is None
        ):
            issues.append(
                ProblemIssue(
                    f"changes[{i}].station",
                    f"station {c.station!r} has no feed override (feed_signal is none)",
                    "a station whose processing time follows its feed",
                    line_of(lines, (*base, "station")),
                )
            )
        if isinstance(c, RushOrder) and c.product not in line.products:
            issues.append(
                ProblemIssue(
                    f"changes[{i}].product",
                    f"unknown product {c.product!r}",
                    f"one of: {products}",
                    line_of(lines, (*base, "product")),
                )
            )
        if isinstance(c, ExtraShift) and (c.shift is None) == (c.at is None or c.duration is None):
            issues.append(
                ProblemIssue(
                    f"changes[{i}]",
                    "an extra shift needs either at + duration, or shift: {start, end, days}",
                    "one of the two forms",
                    line_of(lines, base),
                )
            )
        at = getattr(c, "at", None)
        if at is not None and at >= scenario.horizon:
            issues.append(
                ProblemIssue(
                    f"changes[{i}].at",
                    f"{at:g} s is at or after the horizon ({scenario.horizon:g} s)",
                    "a time within the horizon",
                    line_of(lines, (*base, "at")),
                )
            )
    return issues


def parse_scenario(text: str, line: LineModel, source: str = "<scenario>") -> Scenario:
    """A scenario from YAML/JSON text, checked against the line. Raises :class:`ScenarioError`."""
    data, lines = parse_document(text, source, ScenarioError)
    scenario = validate_model(Scenario, data, source, ScenarioError, lines)
    issues = _check(scenario, line, lines)
    if issues:
        raise ScenarioError(source, issues)
    return scenario


def scenario_from_data(data: Any, line: LineModel, source: str = "request body") -> Scenario:
    """A scenario from already parsed data (an API body)."""
    scenario = validate_model(Scenario, data, source, ScenarioError)
    issues = _check(scenario, line, {})
    if issues:
        raise ScenarioError(source, issues)
    return scenario


def load_scenario(path: str | Path, line: LineModel) -> Scenario:
    data, lines = load_document(path, ScenarioError)
    scenario = validate_model(Scenario, data, str(path), ScenarioError, lines)
    issues = _check(scenario, line, lines)
    if issues:
        raise ScenarioError(str(path), issues)
    return scenario


def compile_effects(
    scenario: Scenario, line: LineModel, origin: float
) -> tuple[Effects, list[str]]:
    """The changes as simulation inputs, and notes on changes that do nothing here."""
    effects = Effects()
    notes: list[str] = []
    for c in scenario.changes:
        if isinstance(c, FeedRate):
            effects.feed.setdefault(c.station, []).append((c.at, c.percent))
        elif isinstance(c, Maintenance):
            effects.maintenance.setdefault(c.station, []).append((c.at, c.duration))
        elif isinstance(c, ExtraShift):
            if not line.shifts:
                notes.append(
                    "the line declares no shifts (it always works): an extra shift changes nothing"
                )
            if c.shift is not None:
                effects.extra_open += open_windows(
                    (c.shift,), origin, scenario.horizon, line.timezone
                )
            else:
                assert c.at is not None and c.duration is not None
                effects.extra_open.append((c.at, c.at + c.duration))
        elif isinstance(c, RushOrder):
            effects.orders.append(Order(c.at, c.product, c.quantity, c.due_in, c.priority, "rush"))
        elif isinstance(c, ReleaseRate):
            if line.interarrival is None or line.wip_limit is not None:
                notes.append(
                    "new work is not released by a rate here (none declared, or CONWIP): "
                    "release_rate changes nothing; try wip_limit"
                )
            effects.release_factor *= c.percent / 100.0
        elif isinstance(c, WipLimit):
            effects.wip_limit = c.value
    return effects, notes
