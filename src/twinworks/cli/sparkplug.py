"""``twinworks sparkplug``: Sparkplug B tools (discovery of edge nodes and devices)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import yaml
from rich.console import Console

from twinworks.errors import SpecError
from twinworks.spec.loader import parse_definition
from twinworks.spec.schema import TlsSpec

__all__ = ["app"]

app = typer.Typer(help="Sparkplug B: discover edge nodes and devices.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _broker(url: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of mqtt://host:port or mqtts://host:port."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
        err.print(
            f"--broker {url!r}: expected mqtt://host:port or mqtts://host:port "
            "(e.g. mqtt://127.0.0.1:1883)"
        )
        raise typer.Exit(2)
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        err.print(f"--broker {url!r}: the port is not a number from 1 to 65535")
        raise typer.Exit(2) from None
    return parts.hostname, port, tls


@app.command()
def discover(
    broker: Annotated[str, typer.Option(help="the broker, mqtt://host:port")] = (
        "mqtt://127.0.0.1:1883"
    ),
    group: Annotated[str, typer.Option(help="Sparkplug group id to listen to")] = ...,  # type: ignore[assignment]
    seconds: Annotated[float, typer.Option(help="how long to listen for births", min=0.1)] = 10.0,
    output: Annotated[Path, typer.Option("-o", "--output", help="the definition to write")] = (
        Path("plant.yaml")
    ),
    rebirth: Annotated[
        bool, typer.Option(help="ask nodes heard without a birth for one (NCMD Rebirth)")
    ] = True,
    username: Annotated[str | None, typer.Option(help="broker user")] = None,
    password: Annotated[
        str | None, typer.Option(help="broker password", envvar="TWINWORKS_MQTT_PASSWORD")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="with mqtts://: CA certificate(s) of the broker (PEM)")
    ] = None,
) -> None:
    """Listen to births for a while and write a twin definition: types, twins, bindings."""
    from twinworks.connect.sparkplug.discovery import definition_from_births
    from twinworks.connect.sparkplug.discovery import discover as listen

    if "/" in group or "+" in group or "#" in group or not group:
        err.print(f"--group {group!r}: a Sparkplug group id has no / + or #")
        raise typer.Exit(2)
    host, port, use_tls = _broker(broker)
    tls = TlsSpec(ca_file=str(ca_file) if ca_file else None) if use_tls else None
    try:
        found = asyncio.run(
            listen(
                host,
                port,
                group,
                seconds,
                rebirth=rebirth,
                username=username,
                password=password,
                tls=tls,
            )
        )
    except (ConnectionError, OSError, ssl.SSLError) as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    document = definition_from_births(found, host, port)
    connector = document["connectors"]["sparkplug"]
    if tls is not None:
        connector["tls"] = tls.model_dump(exclude_defaults=True)
    if username is not None:
        # the password is not written: the file says where it comes from
        connector["username"] = username
        connector["password"] = "${TWINWORKS_MQTT_PASSWORD}"
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    check = {**document, "connectors": {"sparkplug": {**connector, "password": None}}}
    try:
        # what we write must load (the password comes from the environment when run)
        parse_definition(yaml.safe_dump(check, sort_keys=False), str(output))
    except SpecError as exc:  # a discovery bug, never the user's: say so plainly
        err.print(f"the discovered definition does not validate: {exc}", markup=False)
        raise typer.Exit(1) from None
    output.write_text(text, encoding="utf-8")
    twins = len(document["twins"])
    out.print(
        f"[green]wrote[/] {output}: {len(document['types'])} types, {twins} twins "
        f"from {len(found.births)} births in group {group!r}",
        highlight=False,
    )
    if found.unborn:
        out.print(
            "heard without a birth (no twin written): " + ", ".join(sorted(found.unborn)),
            highlight=False,
        )
