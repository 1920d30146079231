"""``twinworks whatif``, ``twinworks schedule`` and ``twinworks reschedule``.

Each runs locally when given the definition (``--definition``) or a plan file
(``--plan``), and otherwise asks the running server (``--url``), which forks
from the live twins and keeps the current plan. Reports and Gantt charts are
written as HTML + PNG into ``--out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from twinworks.cli.client import DEFAULT_URL, ApiError, api_download, api_get, api_send
from twinworks.errors import SpecError, TwinworksError
from twinworks.spec.units import unit_label

__all__ = ["register"]

console = Console()
err = Console(stderr=True)

Url = Annotated[str, typer.Option("--url", help="the twinworks server", envvar="TWINWORKS_URL")]
DefinitionOpt = Annotated[
    Path | None,
    typer.Option("--definition", "-d", help="twin definition with production data: run locally"),
]
Out = Annotated[
    Path, typer.Option("--out", "-o", help="directory for reports and plans", file_okay=False)
]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(1)


def _fail_plain(message: str) -> None:
    err.print("error: " + message, highlight=False, markup=False)
    raise typer.Exit(1)


def _read_data(path: Path) -> Any:
    from twinworks.services.errors import ServiceInputError
    from twinworks.services.yamlio import load_document

    data, _ = load_document(path, ServiceInputError)
    return data


def _download(url: str, path: str, target: Path) -> None:
    target.write_bytes(api_download(url, path))


# ------------------------------------------------------------------ what-if


def _kpi_table(result: dict[str, Any]) -> Table:
    level = f"{result['confidence'] * 100:g} %"
    table = Table(
        title=f"what-if: {result['scenario']['name']} "
        f"({result['replications']} replications, {level} CI)",
        title_justify="left",
    )
    for col in ("KPI", "baseline", "scenario", "difference [CI]", "verdict"):
        table.add_column(col, justify="left" if col in ("KPI", "verdict") else "right")

    def f(x: float | None) -> str:
        return "–" if x is None else (f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}")

    for k in result["kpis"]:
        b, s, d = k["baseline"], k["scenario"], k["difference"]
        style = {"better": "green", "worse": "red"}.get(k["verdict"], "")
        unit = f" [{unit_label(k['unit'])}]" if k["unit"] else ""
        table.add_row(
            k["label"] + unit,
            f"{f(b['mean'])} ± {f(b['half_width'])}",
            f"{f(s['mean'])} ± {f(s['half_width'])}",
            f"{f(d['mean'])} [{f(d['low'])}, {f(d['high'])}]",
            f"[{style}]{k['verdict']}[/]" if style else k["verdict"],
        )
    return table


def whatif(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML)", dir_okay=False)],
    definition: DefinitionOpt = None,
    live: Annotated[
        bool, typer.Option("--live", help="with --definition: fork from the server's live twins")
    ] = False,
    replications: Annotated[
        int | None, typer.Option(min=2, max=1000, help="override the file")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="override the file")] = None,
    out: Out = Path("whatif-report"),
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    url: Url = DEFAULT_URL,
) -> None:
    """Compare a scenario with the baseline, both forked from now; write an HTML + PNG report."""
    from twinworks.services.errors import ServiceInputError

    stem = scenario.stem
    try:
        if definition is not None:
            from twinworks.services.production.line import line_from_definition
            from twinworks.services.production.report import write_report
            from twinworks.services.production.scenario import load_scenario
            from twinworks.services.production.state import state_from_views
            from twinworks.services.production.whatif import run_whatif
            from twinworks.spec.loader import load_definition

            line = line_from_definition(load_definition(definition))
            sc = load_scenario(scenario, line)
            state = None
            if live:
                views = {}
                for twin_id in [*line.stations, *line.transports]:
                    views[twin_id] = api_get(url, f"/twins/{twin_id}")
                state = state_from_views(line, views)
            result_obj = run_whatif(line, sc, state, replications=replications, seed=seed)
            html_path, png_path = write_report(result_obj, out, stem)
            result = result_obj.as_dict()
        else:
            data = _read_data(scenario)
            if isinstance(data, dict):
                if replications is not None:
                    data["replications"] = replications
                if seed is not None:
                    data["seed"] = seed
            result = api_send(url, "POST", "/production/whatif", data)
            out.mkdir(parents=True, exist_ok=True)
            html_path, png_path = out / f"{stem}.html", out / f"{stem}.png"
            _download(url, f"/production/whatif/{result['id']}/report.html", html_path)
            _download(url, f"/production/whatif/{result['id']}/report.png", png_path)
    except (ServiceInputError, SpecError) as exc:
        _fail_plain(str(exc))
        return
    except (ApiError, httpx.HTTPError, OSError) as exc:
        _fail_plain(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(result))
    else:
        console.print(_kpi_table(result))
        for note in result.get("notes", []):
            console.print(f"  note: {note}", highlight=False)
    console.print(f"report: {html_path}  plots: {png_path}", highlight=False)


# ------------------------------------------------------------------ scheduling


def _plan_summary(plan: dict[str, Any], title: str) -> Table:
    s = plan["schedule"]
    k = s.get("kpis", {})
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("objective", f"{s['objective']} = {s['value']:g}")
    table.add_row("status", f"{s['status']} ({s['solver']}, {s['solve_time_s']:.2f} s)")
    if s.get("bound") is not None:
        table.add_row("lower bound", f"{s['bound']:g}")
    table.add_row("makespan", f"{s['makespan']} s ({s['makespan'] / 3600:.2f} h)")
    if k:
        table.add_row("weighted tardiness", f"{k['weighted_tardiness']:g}")
        table.add_row("late jobs", ", ".join(k["late_jobs"]) or "none")
    table.add_row("operations", str(len(s["assignments"])))
    return table


def _write_gantt(plan_obj: Any, out: Path, stem: str, **kwargs: Any) -> tuple[Path, Path]:
    from twinworks.services.scheduling.gantt import render_gantt_html, render_gantt_png

    out.mkdir(parents=True, exist_ok=True)
    html_path, png_path = out / f"{stem}.html", out / f"{stem}.png"
    title = kwargs.pop("title", f"Plan revision {plan_obj.revision}")
    summary = kwargs.pop("summary", None)
    kept = kwargs.pop("kept", ())
    png_path.write_bytes(
        render_gantt_png(plan_obj.problem, plan_obj.schedule, title=title, **kwargs)
    )
    html_path.write_text(
        render_gantt_html(
            plan_obj.problem, plan_obj.schedule, title=title, kept=kept, summary=summary, **kwargs
        ),
        encoding="utf-8",
    )
    return html_path, png_path


def schedule(
    request: Annotated[Path, typer.Argument(help="scheduling request (YAML): orders and/or jobs")],
    definition: DefinitionOpt = None,
    objective: Annotated[str | None, typer.Option(help="makespan or weighted_tardiness")] = None,
    time_limit: Annotated[float | None, typer.Option(help="seconds for CP-SAT", min=0.1)] = None,
    out: Out = Path("schedule"),
    url: Url = DEFAULT_URL,
) -> None:
    """Make a plan with CP-SAT; write plan.json and a Gantt chart (HTML + PNG).

    Locally with --definition (or with a request of plain jobs), else on the server.
    """
    from twinworks.services.errors import ServiceInputError
    from twinworks.services.scheduling.plan import Plan, save_plan

    try:
        data = _read_data(request)
        if objective is not None:
            data["objective"] = objective
        if time_limit is not None:
            data["time_limit"] = time_limit
        local = definition is not None or not data.get("orders")
        if local:
            from twinworks.services.production.line import line_from_definition
            from twinworks.services.scheduling.cpsat import SolverOptions, solve
            from twinworks.services.scheduling.request import ScheduleRequest, build_problem
            from twinworks.services.yamlio import load_document, validate_model
            from twinworks.spec.loader import load_definition

            _, lines = load_document(request, ServiceInputError)
            req = validate_model(ScheduleRequest, data, str(request), ServiceInputError, lines)
            line = line_from_definition(load_definition(definition)) if definition else None
            origin = time.time()
            problem = build_problem(req, line, None, origin)
            sched = solve(
                problem, req.objective, options=SolverOptions(req.time_limit, req.workers, req.seed)
            )
            plan_obj = Plan(
                problem, sched.with_assignments(sched.assignments, origin=origin), origin
            )
            plan = plan_obj.as_dict()
        else:
            plan = api_send(url, "POST", "/production/schedule", data)
            plan_obj = Plan.from_dict(plan)
    except (
        ServiceInputError,
        SpecError,
        ApiError,
        httpx.HTTPError,
        OSError,
        TwinworksError,
    ) as exc:
        _fail_plain(str(exc))
        return
    plan_path = save_plan(plan_obj, out / "plan.json")
    html_path, png_path = _write_gantt(plan_obj, out, "gantt")
    console.print(_plan_summary(plan, f"plan ({'local' if local else url})"))
    console.print(f"plan: {plan_path}  gantt: {html_path}  {png_path}", highlight=False)


def reschedule(
    disruptions: Annotated[
        Path, typer.Argument(help="disruptions (YAML): breakdown, tool end of life, rush order")
    ],
    plan: Annotated[
        Path | None, typer.Option("--plan", help="plan.json from `twinworks schedule`: run locally")
    ] = None,
    definition: DefinitionOpt = None,
    now: Annotated[
        float | None, typer.Option(help="seconds since the plan started (default: now)")
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="seconds to find the new plan", min=0.05)
    ] = None,
    out: Out = Path("schedule"),
    url: Url = DEFAULT_URL,
) -> None:
    """Revise a plan after disruptions: keep started operations, move as few as possible."""
    from twinworks.services.errors import ServiceInputError
    from twinworks.services.scheduling.plan import Plan, load_plan, save_plan

    try:
        data = _read_data(disruptions)
        if now is not None:
            data["now"] = now
        if time_budget is not None:
            data["time_budget"] = time_budget
        if plan is not None:
            from twinworks.services.production.line import line_from_definition
            from twinworks.services.scheduling.request import RescheduleRequest, build_disruptions
            from twinworks.services.scheduling.reschedule import reschedule as revise
            from twinworks.services.yamlio import load_document, validate_model
            from twinworks.spec.loader import load_definition

            old = load_plan(plan)
            _, lines = load_document(disruptions, ServiceInputError)
            req = validate_model(
                RescheduleRequest, data, str(disruptions), ServiceInputError, lines
            )
            line = line_from_definition(load_definition(definition)) if definition else None
            t_now = (
                round(req.now) if req.now is not None else max(0, round(time.time() - old.origin))
            )
            result = revise(
                old.problem,
                old.schedule,
                build_disruptions(req, t_now, line),
                t_now,
                objective=req.objective,
                time_budget_s=req.time_budget,
                workers=req.workers,
                seed=req.seed,
            )
            new_plan = Plan(
                result.problem, result.schedule, old.origin, old.revision + 1, len(result.moved)
            )
            answer = result.as_dict()
            moved, kept, t = result.moved, result.kept, result.now
        else:
            answer = api_send(url, "POST", "/production/reschedule", data)
            new_plan = Plan.from_dict(api_get(url, "/production/schedule"))
            moved = tuple(
                (x.rsplit("#", 1)[0], int(x.rsplit("#", 1)[1])) for x in answer["moved_operations"]
            )
            kept, t = (), answer["now"]
    except (
        ServiceInputError,
        SpecError,
        ApiError,
        httpx.HTTPError,
        OSError,
        TwinworksError,
    ) as exc:
        _fail_plain(str(exc))
        return
    plan_path = save_plan(new_plan, out / "plan.json")
    summary = {"moved operations": answer["moved"], "kept (started)": answer["kept"], "now": t}
    html_path, png_path = _write_gantt(
        new_plan,
        out,
        f"gantt-rev{new_plan.revision}",
        now=t,
        moved=moved,
        kept=kept,
        summary=summary,
    )
    table = Table(
        title=f"rescheduled at t = {t} s (revision {new_plan.revision})",
        title_justify="left",
        show_header=False,
    )
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row(
        "disruptions",
        "; ".join(
            f"{d['kind']} {d.get('machine') or d.get('job') or ''}".strip()
            for d in answer["disruptions"]
        ),
    )
    table.add_row("kept (started)", str(answer["kept"]))
    table.add_row("moved operations", str(answer["moved"]))
    table.add_row("interrupted", ", ".join(answer["interrupted"]) or "none")
    table.add_row("added operations", str(answer["added"]))
    prev = answer.get("previous_value")
    table.add_row(
        "objective",
        f"{answer['objective']} = {answer['value']:g}"
        + (f" (before: {prev:g})" if prev is not None else ""),
    )
    table.add_row("right-shift repair", f"{answer['repair_value']:g}")
    table.add_row("status", f"{answer['status']} in {answer['solve_time_s']:.2f} s")
    console.print(table)
    for note in answer.get("notes", []):
        console.print(f"  note: {note}", highlight=False)
    console.print(f"plan: {plan_path}  gantt: {html_path}  {png_path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(whatif)
    app.command()(schedule)
    app.command()(reschedule)
