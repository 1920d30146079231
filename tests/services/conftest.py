from __future__ import annotations

import random
from pathlib import Path

import pytest

from twinworks.services.production.line import LineModel, line_from_definition
from twinworks.services.scheduling.problem import (
    Alternative,
    Job,
    Operation,
    SchedulingProblem,
    Setup,
    Window,
)
from twinworks.spec import TwinDefinition, load_definition, parse_definition

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# ft06 (Fisher & Thompson 1963): per job (machine, duration); the optimal makespan is 55
FT06 = [
    [(2, 1), (0, 3), (1, 6), (3, 7), (5, 3), (4, 6)],
    [(1, 8), (2, 5), (4, 10), (5, 10), (0, 10), (3, 4)],
    [(2, 5), (3, 4), (5, 8), (0, 9), (1, 1), (4, 7)],
    [(1, 5), (0, 5), (2, 5), (3, 3), (4, 8), (5, 9)],
    [(2, 9), (1, 3), (4, 5), (5, 4), (0, 3), (3, 1)],
    [(1, 3), (3, 3), (5, 9), (0, 10), (4, 4), (2, 1)],
]

# a three-station line with deterministic times: its behaviour can be worked out by hand
DETERMINISTIC_LINE = """
name: three-stations
types:
  station:
    properties: {operation: {dtype: string}}
    telemetry:
      state: {dtype: string, values: [idle, cutting, tool_change, fault, stopped]}
      queue_length: {dtype: int, min: 0}
      feed_override: {unit: percent, min: 0, max: 200}
    relationships: {feeds: {target: [station, conveyor]}}
  conveyor:
    telemetry: {parts_on_belt: {dtype: int, min: 0}}
    relationships: {feeds: {target: station}}
twins:
  - {id: s1, type: station, attributes: {operation: a}, relationships: {feeds: belt}}
  - {id: belt, type: conveyor, relationships: {feeds: s2}}
  - {id: s2, type: station, attributes: {operation: b}, relationships: {feeds: s3}}
  - {id: s3, type: station, attributes: {operation: c}}
production:
  stations:
    s1: {power: {busy: 10, idle: 1}}
    s2: {power: {busy: 10, idle: 1}}
    s3: {power: {busy: 10, idle: 1}}
  transport:
    belt: {time: 20s}
  products:
    p:
      routing:
        - {operation: a, time: 60s}
        - {operation: b, time: 90s}
        - {operation: c, time: 30s}
  release:
    interarrival: 30s
"""


@pytest.fixture
def cell_definition() -> TwinDefinition:
    return load_definition(EXAMPLES / "machining_cell.yaml")


@pytest.fixture
def cell_line(cell_definition: TwinDefinition) -> LineModel:
    return line_from_definition(cell_definition)


@pytest.fixture
def det_definition() -> TwinDefinition:
    return parse_definition(DETERMINISTIC_LINE, "three.yaml")


@pytest.fixture
def det_line(det_definition: TwinDefinition) -> LineModel:
    return line_from_definition(det_definition)


def random_problem(
    seed: int,
    jobs: int = 6,
    machines: int = 4,
    *,
    flexible: bool = True,
    setups: bool = True,
    windows: bool = True,
) -> SchedulingProblem:
    """A random flexible job shop with releases, due dates, lags, setups and windows."""
    rng = random.Random(seed)
    names = [f"M{i}" for i in range(machines)]
    out = []
    for j in range(jobs):
        ops = []
        for _ in range(rng.randint(2, machines)):
            k = rng.randint(1, 2 if flexible else 1)
            alts = tuple(Alternative(m, rng.randint(1, 20)) for m in rng.sample(names, k))
            ops.append(
                Operation(
                    alts, family=rng.choice("AB") if setups else None, min_lag=rng.choice([0, 0, 3])
                )
            )
        out.append(
            Job(
                f"J{j}",
                tuple(ops),
                rng.randint(0, 10),
                rng.randint(30, 90),
                rng.choice([1.0, 2.0, 0.5]),
            )
        )
    wins = (
        tuple(Window(m, s, s + rng.randint(3, 12)) for m in names for s in [rng.randint(5, 60)])
        if windows
        else ()
    )
    setup = {m: Setup(default=rng.randint(1, 5), initial="A") for m in names} if setups else {}
    return SchedulingProblem(tuple(out), tuple(names), wins, setup, f"random-{seed}")


@pytest.fixture
def make_problem():  # type: ignore[no-untyped-def]
    """The random problem generator (a factory, so tests can ask for several)."""
    return random_problem


@pytest.fixture
def ft06() -> list[list[tuple[int, int]]]:
    return FT06
