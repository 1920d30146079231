"""``twinworks connectors``: the server's connectors and the devices behind them.

One line per connector (connected or not, since when, reconnects, last error);
for connectors with several devices (Modbus units) one line per device: whether
it answers, why not, when it is tried again, and the signals of blocks it
refuses; then undeclared state codes seen. ``--json`` prints what
``GET /api/v1/connectors`` answers.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from twinworks.cli.client import DEFAULT_URL, ApiError, api_get
from twinworks.timeutil import format_time

__all__ = ["connector_table", "connectors", "register"]

console = Console()
err = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option("--url", help="the twinworks server", envvar="TWINWORKS_URL")
]


def _when(ts: float | None) -> str:
    return format_time(ts) if ts else "-"


def connector_table(items: list[dict[str, Any]]) -> Table:
    """One row per connector: connected or down and why (the kind of failure, such as
    ``identity_rejected``, the last error, and nodes the server does not have)."""
    table = Table(title="connectors", title_justify="left")
    for col in ("name", "protocol", "state", "since (UTC)", "reconnects", "readings", "error"):
        table.add_column(col)
    for c in items:
        state = "connected" if c.get("connected") else "[red]down[/]"
        if c.get("error_kind"):
            state += f" ({c['error_kind']})"
        error = str(c.get("last_error") or "")
        unresolved = c.get("unresolved_nodes") or []
        if unresolved:
            error = (error + "; " if error else "") + "unresolved: " + ", ".join(unresolved)
        table.add_row(
            c["name"],
            c["protocol"],
            state,
            _when(c.get("since")),
            str(c.get("reconnects", 0)),
            str(c.get("readings", 0)),
            error,
        )
    return table


def connectors(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Connectors, the devices behind them, and what they refuse."""
    try:
        items: list[dict[str, Any]] = api_get(url, "/connectors")
    except ApiError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(items))
        return
    console.print(connector_table(items))
    devices = Table(title="devices", title_justify="left")
    for col in ("connector", "unit", "state", "twins", "back-off", "refused signals", "error"):
        devices.add_column(col)
    shown = False
    for c in items:
        for unit in (c.get("units") or {}).values():
            shown = True
            retry = unit.get("retry_in_s")
            state = unit["state"]
            devices.add_row(
                c["name"],
                str(unit["unit"]),
                state if state == "ok" else f"[red]{state}[/]",
                ", ".join(unit.get("twins", [])),
                "-" if retry is None else f"{retry:.1f} s",
                ", ".join(unit.get("refused_signals", [])),
                unit.get("error") or "",
            )
    if shown:
        console.print(devices)
    for c in items:
        for line in c.get("refused_blocks") or []:
            console.print(f"{c['name']}: {line}", highlight=False)
        for signal, seen in (c.get("unknown_codes") or {}).items():
            console.print(
                f"{c['name']}: {signal} shows unknown({seen['code']}) "
                f"(code not declared; seen {seen['count']} times)",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    """Add ``connectors`` to the ``twinworks`` command line."""
    app.command("connectors")(connectors)
