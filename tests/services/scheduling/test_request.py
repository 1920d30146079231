from __future__ import annotations

from pathlib import Path

import pytest

from twinworks.services.errors import ScheduleInputError, ServiceInputError
from twinworks.services.production.des import LineState, StationState
from twinworks.services.scheduling.check import check_schedule
from twinworks.services.scheduling.cpsat import SolverOptions, solve
from twinworks.services.scheduling.gantt import render_gantt_html, render_gantt_png
from twinworks.services.scheduling.plan import Plan, load_plan, save_plan
from twinworks.services.scheduling.request import (
    RescheduleRequest,
    ScheduleRequest,
    build_disruptions,
    build_problem,
)
from twinworks.services.yamlio import parse_document, validate_model


def _request(text: str) -> ScheduleRequest:
    data, lines = parse_document(text, "req.yaml", ScheduleInputError)
    return validate_model(ScheduleRequest, data, "req.yaml", ScheduleInputError, lines)


def test_the_example_request_builds_from_the_cell(cell_line) -> None:  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[3] / "examples" / "production" / "schedule_request.yaml"
    req = _request(path.read_text())
    state = LineState(stations={"cnc1": StationState(feed=80.0, family="A")})
    problem = build_problem(req, cell_line, state)
    o1 = problem.job("O1")
    # routing from the definition; 10 parts of 2 min on cnc1 at 80 % feed
    assert [o.machines for o in o1.operations] == [("cnc1",), ("cnc2",), ("cnc3",)]
    assert o1.operations[0].alternatives[0].duration == round(10 * 120 * 100 / 80)
    assert o1.operations[1].min_lag == 30  # conveyor1 carries the part
    assert o1.due == 5400 and o1.weight == 2
    reasons = {w.reason for w in problem.windows}
    assert {"planned maintenance", "predicted failure"} <= reasons
    schedule = solve(problem, req.objective, options=SolverOptions(time_limit_s=2.0))
    assert check_schedule(problem, schedule) == []


def test_request_errors_name_line_and_path() -> None:
    with pytest.raises(ScheduleInputError) as info:
        _request("objective: fastest\njobs:\n  - id: J1\n    operations:\n      - {machine: M1}\n")
    text = str(info.value)
    assert "line 1, objective" in text
    assert "jobs[0].operations[0]" in text and "line 5" in text
    with pytest.raises(ScheduleInputError, match="nothing to schedule"):
        _request("objective: makespan\n")
    with pytest.raises(ScheduleInputError, match="not valid YAML"):
        _request("jobs: [\n")


def test_orders_need_known_products_and_a_definition(cell_line) -> None:  # type: ignore[no-untyped-def]
    req = _request("orders: [{id: O1, product: widget}]")
    with pytest.raises(ScheduleInputError) as info:
        build_problem(req, cell_line)
    assert info.value.issues[0].where == "orders[0].product"
    assert "one of: part" in str(info.value)
    with pytest.raises(ScheduleInputError, match="definition"):
        build_problem(req, None)


def test_shifts_become_off_shift_windows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from twinworks.services.production.line import line_from_definition
    from twinworks.spec import load_definition

    root = Path(__file__).resolve().parents[3]
    line = line_from_definition(load_definition(root / "examples" / "ten_station_line.yaml"))
    origin = datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp()  # Monday 06:00
    req = _request("orders: [{id: O1, product: part, quantity: 400}]\ntime_limit: 2s")
    problem = build_problem(req, line, None, origin)
    off = sorted((w.start, w.end) for w in problem.windows if w.machine == "st01")
    assert off[0] == (16 * 3600, 24 * 3600)  # 22:00 to 06:00
    schedule = solve(problem, options=SolverOptions(time_limit_s=2.0))
    assert check_schedule(problem, schedule) == []
    assert schedule.makespan > 16 * 3600  # 400 parts do not fit in one day's shifts


def test_plan_round_trip_and_gantt(tmp_path, make_problem) -> None:  # type: ignore[no-untyped-def]
    problem = make_problem(4)
    schedule = solve(problem, options=SolverOptions(time_limit_s=1.0))
    plan = Plan(problem, schedule, origin=1.7e9)
    back = load_plan(save_plan(plan, tmp_path / "plan.json"))
    assert back.problem == problem
    assert set(back.schedule.assignments) == set(schedule.assignments)
    png = render_gantt_png(problem, schedule, now=10, moved=[("J0", 0)])
    assert png.startswith(b"\x89PNG")
    page = render_gantt_html(problem, schedule, now=10, moved=[("J0", 0)])
    assert page.count("<rect") >= len(schedule.assignments)
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    with pytest.raises(ServiceInputError):
        (tmp_path / "bad.json").write_text("[]")
        load_plan(tmp_path / "bad.json")


def test_disruption_requests(cell_line) -> None:  # type: ignore[no-untyped-def]
    req = RescheduleRequest.model_validate(
        {
            "disruptions": [
                {"type": "tool_end_of_life", "machine": "cnc1"},
                {"type": "rush_order", "order": {"id": "R", "product": "part", "due": "1h"}},
            ]
        }
    )
    ds = build_disruptions(req, 100, cell_line)
    assert ds[0].duration == 60  # the tool change time of cnc1 in the definition
    assert ds[0].at == 100 and ds[1].job is not None and ds[1].job.due == 3600
    with pytest.raises(ValueError, match="needs the machine"):
        RescheduleRequest.model_validate({"disruptions": [{"type": "breakdown", "duration": 5}]})
