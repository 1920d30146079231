"""``twinworks models …``: a twin's model versions, activate / roll back, estimate vs measurement.

twinworks models list cnc1
twinworks models activate cnc1 machine 3
twinworks models rollback cnc1 machine [--to 1]
twinworks models calibrate cnc1 machine
twinworks models compare cnc1 vibration [--model machine] [--since 10m]
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from twinworks.cli.client import DEFAULT_URL, ApiError, api_get, api_send
from twinworks.cli.display import format_value
from twinworks.spec.units import unit_label
from twinworks.timeutil import format_time, parse_time

__all__ = ["app"]

app = typer.Typer(
    name="models",
    help="A twin's models: versions and scores, activate / roll back, estimate vs measurement.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option("--url", help="the twinworks server", envvar="TWINWORKS_URL")
]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _score(scores: dict[str, Any], key: str) -> str:
    value = scores.get(key)
    return "-" if value is None else f"{value:.3g}"


def versions_table(twin: str, models: list[dict[str, Any]]) -> Table:
    table = Table(title=f"models of {twin}", title_justify="left")
    for col in (
        "model",
        "ver",
        "active",
        "status",
        "source",
        "created (UTC)",
        "held-out NLL",
        "held-out consistency",
        "changed parameters",
    ):
        table.add_column(col)
    for model in models:
        for v in model["versions"]:
            parent = next((p for p in model["versions"] if p["version"] == v.get("parent")), None)
            changed = []
            if parent is not None:
                for name, value in v["parameters"].items():
                    old = parent["parameters"].get(name)
                    if old is not None and abs(value - old) > 1e-9 * max(1.0, abs(old)):
                        sd = v["std"].get(name)
                        spread = f" ± {format_value(sd)}" if sd is not None else ""
                        changed.append(
                            f"{name}: {format_value(old)} → {format_value(value)}{spread}"
                        )
            table.add_row(
                model["model"],
                str(v["version"]),
                "●" if v["active"] else "",
                v["status"],
                v["source"],
                format_time(v["created"]),
                _score(v["scores"], "holdout_nll"),
                _score(v["scores"], "holdout_consistency"),
                "\n".join(changed),
            )
    return table


@app.command("list")
def list_models(
    twin: Annotated[str, typer.Argument(help="twin id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Versions of the twin's models with their scores; the active one is marked."""
    try:
        models = api_get(url, f"/twins/{twin}/models")
    except ApiError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(models))
        return
    if not models:
        console.print(f"{twin} has no models bound in its definition")
        return
    console.print(versions_table(twin, models))
    for model in models:
        estimates = ", ".join(f"{k}={format_value(v)}" for k, v in model["estimates"].items())
        score = model["consistency"]
        console.print(
            f"{model['model']}: {model['library_model']} via {model['estimator']}; "
            f"consistency {'-' if score is None else f'{score:.2f}'}"
            + (f"; estimates {estimates}" if estimates else ""),
            highlight=False,
        )


@app.command()
def activate(
    twin: Annotated[str, typer.Argument(help="twin id")],
    model: Annotated[str, typer.Argument(help="model binding, e.g. machine")],
    version: Annotated[int, typer.Argument(help="version number", min=1)],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Make a version active; estimation uses it from the next step on."""
    try:
        versions = api_send(
            url, "POST", f"/twins/{twin}/models/{model}/activate", {"version": version}
        )
    except ApiError as exc:
        _fail(str(exc))
        return
    console.print(f"[green]active[/]: {twin}/{model} version {_active(versions)}", highlight=False)


@app.command()
def rollback(
    twin: Annotated[str, typer.Argument(help="twin id")],
    model: Annotated[str, typer.Argument(help="model binding, e.g. machine")],
    to: Annotated[
        int | None, typer.Option("--to", help="version (default: the previous)", min=1)
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Return to an earlier version (default: the one active before the current one)."""
    try:
        versions = api_send(
            url,
            "POST",
            f"/twins/{twin}/models/{model}/rollback",
            {"version": to} if to is not None else {},
        )
    except ApiError as exc:
        _fail(str(exc))
        return
    console.print(
        f"[yellow]rolled back[/]: {twin}/{model} is at version {_active(versions)}", highlight=False
    )


@app.command()
def calibrate(
    twin: Annotated[str, typer.Argument(help="twin id")],
    model: Annotated[str, typer.Argument(help="model binding, e.g. machine")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Re-fit the model on recent data now; the candidate is activated only if it is better."""
    try:
        result = api_send(url, "POST", f"/twins/{twin}/models/{model}/calibrate", None)
    except ApiError as exc:
        _fail(str(exc))
        return
    verdict = (
        "[green]activated[/] (better on held-out data)"
        if result["accepted"]
        else "[yellow]kept as a candidate[/] (not better on held-out data than the active one)"
    )
    console.print(f"{twin}/{model} version {result['version']}: {verdict}", highlight=False)
    console.print(versions_table(twin, [{"model": model, "versions": result["versions"]}]))


def _active(versions: list[dict[str, Any]]) -> str:
    return next((str(v["version"]) for v in versions if v["active"]), "?")


@app.command()
def compare(
    twin: Annotated[str, typer.Argument(help="twin id")],
    signal: Annotated[str, typer.Argument(help="a measured signal, or an estimate (tool_wear)")],
    model: Annotated[str, typer.Option(help="model binding")] = "machine",
    since: Annotated[str, typer.Option(help="from: ISO time, epoch s, or an age like 10m")] = "10m",
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="rows at most")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Estimate vs measurement of one signal over time (or a hidden state with its ±σ)."""
    try:
        start = parse_time(since)
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        data = api_get(
            url, f"/twins/{twin}/models/{model}/compare/{signal}", start=repr(start), limit=limit
        )
    except ApiError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(data))
        return
    unit = unit_label(data.get("unit"))
    table = Table(
        title=f"{twin}.{signal}" + (f" [{unit}]" if unit else "") + f" vs {data['estimate']}",
        title_justify="left",
    )
    table.add_column("time (UTC)")
    measured = dict(map(tuple, data["measured"]))
    std = dict(map(tuple, data["std"] or []))
    if data["measured"]:
        table.add_column("measured", justify="right")
    table.add_column("estimated", justify="right")
    if std:
        table.add_column("± std", justify="right")
    for ts, value in data["estimated"]:
        row = [format_time(ts)]
        if data["measured"]:
            row.append(format_value(measured[ts]) if ts in measured else "")
        row.append(format_value(value))
        if std:
            row.append(format_value(std.get(ts)) if ts in std else "")
        table.add_row(*row)
    if data["residual_rms"] is not None:
        table.caption = f"RMS of measured − estimated: {format_value(data['residual_rms'])}"
    console.print(table)
