"""Health commands: ``rul TWIN``, ``alarms`` (and ``alarms acknowledge``), ``maintenance-plan``.

They talk to a running server like the other client commands (``--url``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from twinworks.cli.client import DEFAULT_URL, ApiError, api_get, api_send
from twinworks.spec.units import unit_label
from twinworks.timeutil import format_time

__all__ = ["alarms_app", "format_duration", "register"]

console = Console()
err = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option("--url", help="the twinworks server", envvar="TWINWORKS_URL")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def format_duration(seconds: float | None) -> str:
    """Seconds as a short human duration: 45 s, 12.5 min, 3.2 h, 2.1 d."""
    if seconds is None:
        return "-"
    if seconds != seconds or seconds == float("inf"):
        return "beyond horizon"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _amount(value: float, unit: str) -> str:
    return format_duration(value) if unit == "s" else f"{value:.1f} {unit_label(unit)}"


def rul(
    twin: Annotated[str, typer.Argument(help="twin id")],
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Remaining useful life of a twin: median, interval, method, and why."""
    try:
        data = api_get(url, f"/twins/{twin}/rul")
    except ApiError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(data))
        return
    unit = data["unit"]
    console.print(
        f"[bold]{twin}[/] remaining useful life: [bold]{_amount(data['value'], unit)}[/] "
        f"({data['level']:.0%} interval {_amount(data['lower'], unit)} – "
        f"{_amount(data['upper'], unit)}), {data['method']}",
        highlight=False,
    )
    extra = data.get("extra") or {}
    if "tool_wear_mm" in extra:
        console.print(
            f"tool wear {extra['tool_wear_mm']:.3f} ± {extra['tool_wear_mm_std']:.3f} mm, "
            f"cutting {extra['utilisation']:.0%} of the time "
            f"at feed {extra['feed_override_pct']:.0f} %",
            highlight=False,
        )
    why = data.get("explanation") or {}
    if why.get("contributions"):
        table = Table(title=f"why ({why.get('kind')}): {why.get('note', '')}", title_justify="left")
        table.add_column("input")
        table.add_column("effect on RUL", justify="right")
        for c in why["contributions"]:
            value = c["value"]
            text = ("+" if value >= 0 else "−") + _amount(abs(value), unit)
            table.add_row(c["name"], text)
        console.print(table)


alarms_app = typer.Typer(
    help="Alarms needing attention; `alarms acknowledge TWIN NAME` acknowledges one.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@alarms_app.callback()
def alarms(
    ctx: typer.Context,
    twin: Annotated[str | None, typer.Option(help="only this twin")] = None,
    all_: Annotated[bool, typer.Option("--all", help="also alarms in their normal state")] = False,
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Active and unacknowledged alarms, worst first, with their evidence."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        items = api_get(url, "/alarms", twin_id=twin, all=str(all_).lower())
    except ApiError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(items))
        return
    if not items:
        console.print("[green]no alarms need attention[/]")
        return
    table = Table(title_justify="left")
    for col in ("twin", "alarm", "severity", "state", "raised (UTC)", "evidence"):
        table.add_column(col)
    for a in items:
        table.add_row(
            a["twin_id"],
            a["name"],
            Text(a["severity"], style=_SEVERITY_STYLE.get(a["severity"], "")),
            _state(a),
            format_time(a["raised_at"]) if a["raised_at"] else "-",
            _evidence(a)[:120],
        )
    console.print(table)


def _state(alarm: dict[str, Any]) -> str:
    if alarm["state"] == "normal":
        return "normal"
    if alarm["state"] == "active":
        return "active, " + ("acknowledged" if alarm["acknowledged"] else "unacknowledged")
    return "cleared, unacknowledged"


def _evidence(alarm: dict[str, Any]) -> str:
    e = alarm.get("evidence") or {}
    if not e:
        return "-"
    if alarm["kind"] == "anomaly":
        top = ", ".join(
            f"{c['signal']} {c['value']:.3g} (expected {c['expected']:.3g})"
            for c in (e.get("contributions") or [])[:2]
        )
        return f"score {e.get('score', 0):.1f} > {e.get('threshold', 0):.1f}: {top}"
    if alarm["kind"] == "rate":
        return f"{e.get('signal')} changing {e.get('rate', 0):.3g}/s (limit {e.get('threshold')})"
    return f"{e.get('signal')} = {e.get('value')} ({e.get('limit')} limit {e.get('threshold')})"


@alarms_app.command("acknowledge")
def acknowledge(
    twin: Annotated[str, typer.Argument(help="twin id")],
    name: Annotated[str, typer.Argument(help="alarm name")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Acknowledge an alarm (an AlarmAcknowledged event, under the signed-in user's name)."""
    try:
        alarm = api_send(url, "POST", f"/alarms/{twin}/{name}/acknowledge", {})
    except ApiError as exc:
        _fail(str(exc))
        return
    console.print(f"[green]acknowledged[/] {twin}/{name}: now {alarm['state'].replace('_', ' ')}")


def maintenance_plan(
    as_json: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """The maintenance plan: which asset when, within technician capacity, and why."""
    try:
        plan = api_get(url, "/maintenance/plan")
    except ApiError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(plan))
        return
    if plan.get("at") is None:
        console.print("no plan yet: the prognostics need a few seconds of live data")
        return
    currency = plan.get("currency", "")
    table = Table(
        title=f"maintenance plan at {format_time(plan['at'])} — "
        f"{plan['total_rate_per_h']:.2f} {currency}/h "
        f"(each asset at its own optimum: {plan['unconstrained_rate_per_h']:.2f} {currency}/h)",
        title_justify="left",
    )
    for col in ("asset", "action", "when (UTC)", "in", "P(failure before)", "reasoning"):
        table.add_column(col)
    for item in plan["interventions"]:
        p = item["failure_probability"]
        table.add_row(
            item["asset"],
            item["action"],
            format_time(item["at"]) if item["at"] else "after horizon",
            format_duration(item["time_s"]),
            "-" if p is None else f"{p:.1%}",
            item["reasoning"],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the health commands to the ``twinworks`` command line."""
    app.command("rul")(rul)
    app.add_typer(alarms_app, name="alarms")
    app.command("maintenance-plan")(maintenance_plan)
