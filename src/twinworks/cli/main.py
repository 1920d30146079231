"""The ``twinworks`` command line.

Run twins: ``demo``, ``up FILE``. Check a definition: ``validate FILE``.
Talk to a running server (``--url``, default $TWINWORKS_URL or http://127.0.0.1:8321):
``twins``, ``history``, ``command``, ``events``, ``dead-letters`` (credentials: see
twinworks.cli.client). Administer this machine's data directory: ``users``, ``audit``, ``certs``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from twinworks.cli import aas as _aas
from twinworks.cli import connectors as _connectors
from twinworks.cli import dtdl as _dtdl
from twinworks.cli import health
from twinworks.cli import production as _production
from twinworks.cli.admin import audit_app, certs_app, users_app
from twinworks.cli.client import DEFAULT_URL, ApiError, api_get, api_send
from twinworks.cli.display import format_value, status_table
from twinworks.cli.sparkplug import app as sparkplug_app
from twinworks.errors import SpecError, TwinworksError
from twinworks.spec.loader import load_definition
from twinworks.spec.units import unit_label
from twinworks.timeutil import format_time, parse_duration, parse_time

__all__ = ["app"]

app = typer.Typer(
    name="twinworks",
    help="Industrial digital twins: connected, consistent, and put to work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(certs_app, name="certs")
app.add_typer(sparkplug_app, name="sparkplug")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

UrlOption = Annotated[
    str, typer.Option("--url", help="the twinworks server", envvar="TWINWORKS_URL")
]
DataDir = Annotated[
    Path, typer.Option("--data-dir", help="where the store and logs live", file_okay=False)
]
Duration = Annotated[
    float | None, typer.Option("--duration", help="stop after this many seconds", min=0)
]
Headless = Annotated[
    bool, typer.Option("--headless", help="no live terminal display; print status lines")
]
TlsCert = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert", help="serve HTTPS with this certificate (PEM)", envvar="TWINWORKS_TLS_CERT"
    ),
]
TlsKey = Annotated[
    Path | None,
    typer.Option(
        "--tls-key",
        help="the certificate's private key (PEM, mode 0600)",
        envvar="TWINWORKS_TLS_KEY",
    ),
]
StatusEvery = Annotated[
    float,
    typer.Option("--status-every", help="seconds between status prints when headless", min=0.5),
]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


class _ConnectionLossWithoutTraceback(logging.Filter):
    """asyncua logs a full traceback when its connection drops ("Publish iteration
    crashed"), as when the server stops or the whole process group is signalled.
    The connector reports the same loss in one line and reconnects, so the library's
    traceback is noise: it is shown as one line with ``--verbose``, else not at all."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not record.name.startswith("asyncua.") or not isinstance(error, OSError):
            return True  # ConnectionError and TimeoutError are OSErrors
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
        record.args = None
        record.exc_info = record.exc_text = None
        return self.verbose


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_ConnectionLossWithoutTraceback(verbose))


def _run(coro: Any) -> None:
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        console.print("stopped")
    except TwinworksError as exc:  # a bad definition, a secrets file others can read, ...
        _fail(str(exc))
    except (OSError, RuntimeError, ValueError) as exc:
        _fail(str(exc))


@app.command()
def demo(
    duration: Duration = None,
    headless: Headless = False,
    port: Annotated[int, typer.Option(help="port of the API", min=0, max=65535)] = 8321,
    host: Annotated[str, typer.Option(help="interface of the API")] = "127.0.0.1",
    speed: Annotated[float, typer.Option(help="plant time per wall-clock time", min=0.1)] = 1.0,
    seed: Annotated[int, typer.Option(help="seed of the simulated plant")] = 42,
    plant_port: Annotated[int, typer.Option(help="OPC UA port of the plant (0: any free)")] = 0,
    data_dir: DataDir = Path("twinworks-data"),
    status_every: StatusEvery = 10.0,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start a simulated machining cell over OPC UA, its twins, the store and the API."""
    from twinworks.cli.serve import run_demo

    _logging(verbose)
    if plant_port == 0:
        plant_port = _free_port()
    _run(
        run_demo(
            host=host,
            port=port,
            data_dir=data_dir,
            duration=duration,
            headless=headless,
            status_every=status_every,
            speed=speed,
            seed=seed,
            plant_port=plant_port,
            console=console,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    )


@app.command()
def up(
    file: Annotated[
        Path, typer.Argument(help="twin definition (YAML)", exists=True, dir_okay=False)
    ],
    duration: Duration = None,
    headless: Headless = False,
    port: Annotated[int, typer.Option(help="port of the API", min=0, max=65535)] = 8321,
    host: Annotated[str, typer.Option(help="interface of the API")] = "127.0.0.1",
    data_dir: DataDir = Path("twinworks-data"),
    status_every: StatusEvery = 10.0,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the twins of a definition file: connect, store, serve the API."""
    from twinworks.cli.serve import run_up

    _logging(verbose)
    _run(
        run_up(
            file,
            host=host,
            port=port,
            data_dir=data_dir,
            duration=duration,
            headless=headless,
            status_every=status_every,
            console=console,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    )


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="twin definition (YAML)")],
) -> None:
    """Check a twin definition; list every problem with its line and path."""
    try:
        definition = load_definition(file)
    except SpecError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    bound = sum(1 for t in definition.twins if t.bindings)
    console.print(
        f"[green]ok[/] {file}: {len(definition.types)} types, {len(definition.twins)} twins "
        f"({bound} bound to connectors), {len(definition.connectors)} connectors",
        highlight=False,
    )


@app.command()
def twins(url: UrlOption = DEFAULT_URL) -> None:
    """Table of twins with their status and latest values."""
    try:
        items = api_get(url, "/twins")
    except ApiError as exc:
        _fail(str(exc))
    console.print(status_table(items))


@app.command()
def history(
    twin: Annotated[str, typer.Argument(help="twin id")],
    signal: Annotated[str, typer.Argument(help="telemetry signal")],
    since: Annotated[str, typer.Option(help="from: ISO time, epoch s, or an age like 10m")] = "10m",
    until: Annotated[str | None, typer.Option(help="until (default: now)")] = None,
    bucket: Annotated[
        str | None, typer.Option(help="downsample: bucket width such as 10s or 1m")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Telemetry of one signal over time, raw or downsampled (min/mean/max per bucket)."""
    try:
        start = parse_time(since)
        end = parse_time(until) if until else None
        if bucket is not None:
            parse_duration(bucket)
    except ValueError as exc:
        _fail(str(exc))
    try:
        data = api_get(
            url,
            f"/twins/{twin}/telemetry/{signal}",
            start=repr(start),
            end=repr(end) if end is not None else None,
            bucket=bucket,
            limit=limit,
        )
    except ApiError as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(data))
        return
    unit = unit_label(data.get("unit"))
    table = Table(title=f"{twin}.{signal}" + (f" [{unit}]" if unit else ""), title_justify="left")
    if data["mode"] == "buckets":
        for col in ("bucket start (UTC)", "count", "min", "mean", "max"):
            table.add_column(col, justify="right" if col != "bucket start (UTC)" else "left")
        for b in data["buckets"]:
            table.add_row(
                format_time(b["start"]),
                str(b["count"]),
                format_value(b["min"]),
                format_value(b["mean"]),
                format_value(b["max"]),
            )
    else:
        table.add_column("time (UTC)")
        table.add_column("value", justify="right")
        for ts, value in data["points"]:
            table.add_row(format_time(ts), format_value(value))
        if data.get("truncated"):
            table.caption = f"newest {limit} points shown; narrow --since or raise --limit"
    console.print(table)


def _parse_arg(text: str) -> Any:
    """Command-line values: JSON when it parses (numbers, true/false), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command()
def command(
    twin: Annotated[str, typer.Argument(help="twin id")],
    name: Annotated[str, typer.Argument(help="a command, or a desired setting")],
    args: Annotated[
        list[str] | None,
        typer.Argument(help="command arguments as key=value; for a desired setting: its value"),
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Send a command or a desired value.

    Examples: ``command cnc1 change_tool``, ``command cnc1 feed_override 80``.
    """
    args = args or []
    try:
        ttype = api_get(url, f"/twins/{twin}")["type"]
        spec = api_get(url, f"/types/{ttype}")
        if name in spec.get("desired", {}):
            if len(args) != 1 or "=" in args[0]:
                _fail(
                    f"{name} is a desired setting: give exactly one value, "
                    f"e.g. `command {twin} {name} 80`"
                )
            record = api_send(
                url, "PUT", f"/twins/{twin}/desired/{name}", {"value": _parse_arg(args[0])}
            )
        elif name in spec.get("commands", {}):
            kwargs = {}
            for item in args:
                key, sep, value = item.partition("=")
                if not sep:
                    _fail(f"command arguments are key=value, got {item!r}")
                kwargs[key] = _parse_arg(value)
            record = api_send(url, "POST", f"/twins/{twin}/commands/{name}", {"args": kwargs})
        else:
            known = sorted(spec.get("commands", {})) + sorted(spec.get("desired", {}))
            _fail(
                f"{twin} ({ttype}) has no command or desired setting {name!r}; "
                f"it has: {', '.join(known)}"
            )
            return
    except ApiError as exc:
        _fail(str(exc))
        return
    status = record["status"]
    style = {"acknowledged": "green", "pending": "yellow"}.get(status, "red")
    latency = (
        f" in {record['finished'] - record['created']:.3f} s" if record.get("finished") else ""
    )
    console.print(f"[{style}]{status}[/]{latency}: {twin}.{name} (command {record['id']})")


@app.command()
def events(
    twin: Annotated[str | None, typer.Option(help="only this twin")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="only these kinds")] = None,
    since: Annotated[
        str | None, typer.Option(help="from: ISO time, epoch s, or an age like 1h")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 30,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """The newest events: commands, acknowledgements, rejected data, state changes."""
    try:
        start = repr(parse_time(since)) if since else None
        items = api_get(url, "/events", twin_id=twin, kind=kind, since=start, limit=limit)
    except (ApiError, ValueError) as exc:
        _fail(str(exc))
    # on a narrow terminal the details wrap; times, kinds and ids are never cut
    table = Table(title_justify="left", show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True, min_width=len("2026-01-01T00:00:00.000Z"))
    table.add_column("kind", no_wrap=True)
    table.add_column("twin", no_wrap=True)
    table.add_column("details", overflow="fold", ratio=1)
    for e in items:
        details = ", ".join(f"{k}={v}" for k, v in e["data"].items() if v not in (None, {}, []))
        table.add_row(
            str(e["id"]), format_time(e["ts"]), e["kind"], e["twin_id"] or "", details[:120]
        )
    console.print(table)


@app.command("dead-letters")
def dead_letters(
    twin: Annotated[str | None, typer.Option(help="only this twin")] = None,
    reason: Annotated[str | None, typer.Option(help="only this reason, e.g. not_json")] = None,
    source: Annotated[str | None, typer.Option(help="only this connector (or http)")] = None,
    since: Annotated[
        str | None, typer.Option(help="from: ISO time, epoch s, or an age like 1h")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    counts: Annotated[
        bool, typer.Option("--counts", help="counts per twin and reason instead of letters")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Payloads that could not be ingested, with the reason and the raw payload."""
    try:
        if counts:
            rows = api_get(url, "/dead-letters/counts")
        else:
            start = repr(parse_time(since)) if since else None
            rows = api_get(
                url,
                "/dead-letters",
                twin_id=twin,
                reason=reason,
                source=source,
                since=start,
                limit=limit,
            )
    except (ApiError, ValueError) as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title_justify="left")
    if counts:
        for col in ("twin", "reason", "count"):
            table.add_column(col, justify="right" if col == "count" else "left")
        for row in rows:
            if twin is None or row["twin_id"] == twin:
                table.add_row(row["twin_id"] or "(none)", row["reason"], str(row["count"]))
        console.print(table)
        return
    for col in ("id", "time (UTC)", "source", "twin", "reason", "message", "payload"):
        table.add_column(col, overflow="fold")
    for d in rows:
        payload = d["payload"] if d["payload_encoding"] == "utf-8" else "base64:" + d["payload"]
        if len(payload) > 80 or d["truncated"]:
            payload = payload[:77] + f"... ({d['size']} bytes)"
        table.add_row(
            str(d["id"]),
            format_time(d["ts"]),
            d["source"],
            d["twin_id"] or "",
            d["reason"],
            d["message"][:160],
            payload,
        )
    console.print(table)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# rul, alarms (acknowledge), maintenance-plan
health.register(app)
_connectors.register(app)
from twinworks.cli import models as _models  # noqa: E402 - sub-commands register last

app.add_typer(_models.app, name="models")

# what-if, scheduling and rescheduling live in their own module
_production.register(app)
# DTDL and Asset Administration Shell files in and out
_dtdl.register(app)
_aas.register(app)

from twinworks.cli import opcua as _opcua  # noqa: E402 - sub-commands register last

app.add_typer(_opcua.app, name="opcua")

if __name__ == "__main__":
    app()
