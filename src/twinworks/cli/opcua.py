"""``twinworks opcua browse`` and ``twinworks opcua scaffold``: finding node ids, writing bindings.

``browse ENDPOINT [--from NODE] [--depth N]`` lists a server's address space: browse
names, node ids in the ``nsu=`` form, data types, access, units, EURange,
enumeration names and methods with their argument types. ``scaffold ENDPOINT
--object NODE -o plant.yaml`` writes a first definition (a type and a twin) for one
object, which ``twinworks validate`` accepts. Both talk to the server directly
(anonymous, unsecured), as one does on a commissioning network.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console

from twinworks.errors import SpecError
from twinworks.spec.loader import parse_definition
from twinworks.spec.nodeids import NodeIdError, parse_node_id

# the OPC UA library is imported inside these commands: every other command starts faster
if TYPE_CHECKING:
    from twinworks.connect.opcua.browse import BrowsedNode

__all__ = ["app"]

app = typer.Typer(
    help="Explore an OPC UA server: list its nodes, scaffold a twin definition.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Endpoint = Annotated[str, typer.Argument(help="the server, e.g. opc.tcp://plc:4840")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds per request", min=0.1)]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(1)


async def _browse(
    endpoint: str, start: str | None, depth: int, timeout: float
) -> tuple[BrowsedNode | None, list[BrowsedNode]]:
    """The start node (None: Objects) and what lies below it."""
    from twinworks.connect.opcua.browse import BrowsedNode, browse, connect_for_browsing
    from twinworks.connect.opcua.nodes import resolve, to_expanded

    parsed = None
    if start is not None:
        try:
            parsed = parse_node_id(start)
        except NodeIdError as exc:
            _fail(f"--from/--object: {exc}")
    client = await connect_for_browsing(endpoint, timeout)
    try:
        namespaces = await client.get_namespace_array()
        node_id = None
        root = None
        if parsed is not None:
            try:
                node_id = resolve(parsed, namespaces)
            except LookupError as exc:
                _fail(f"{start}: {exc}")
            assert node_id is not None
            node = client.get_node(node_id)
            try:
                name = (await node.read_browse_name()).Name
                node_class = (await node.read_node_class()).name
            except Exception as exc:
                _fail(f"{start}: the server has no such node ({type(exc).__name__})")
            root = BrowsedNode(name, to_expanded(node_id, namespaces), node_class, 0, [name])
        found = await browse(client, node_id, depth)
        if root is not None:
            for entry in found:
                entry.path = [root.name, *entry.path]
                entry.depth += 1
        return root, found
    finally:
        await client.disconnect()


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except typer.Exit:
        raise
    except (OSError, TimeoutError, ConnectionError) as exc:
        _fail(f"cannot reach the server: {type(exc).__name__} {exc}".rstrip())
    except Exception as exc:  # asyncua's status errors: say which, without a traceback
        _fail(f"the server refused: {type(exc).__name__} {exc}".rstrip())


def _line(node: BrowsedNode) -> str:
    indent = "  " * node.depth
    if node.node_class == "Method":
        args = ", ".join(f"{n}: {t}" for n, t in node.arguments)
        return f"{indent}{node.name}({args})  method  {node.node_id}"
    if node.node_class == "Object":
        return f"{indent}{node.name}/  {node.node_id}"
    kind = node.data_type or "?"
    if node.array is not None:
        kind += f"[{node.array}]"
    access = ("r" if node.readable else "-") + ("w" if node.writable else "-")
    extra = []
    if node.eu_range is not None:
        extra.append(f"range {node.eu_range[0]:g}..{node.eu_range[1]:g}")
    if node.unit:
        extra.append(node.unit)
    if node.enum:
        extra.append("{" + ", ".join(f"{k}: {v}" for k, v in sorted(node.enum.items())) + "}")
    tail = f"  [{'; '.join(extra)}]" if extra else ""
    return f"{indent}{node.name}  {kind}  {access}{tail}  {node.node_id}"


@app.command("browse")
def browse_command(
    endpoint: Endpoint,
    start: Annotated[
        str | None, typer.Option("--from", help="start at this node (default: Objects)")
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="levels below the start", min=0)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    timeout: Timeout = 5.0,
) -> None:
    """List objects, variables and methods with their node ids (nsu= form), types and units."""
    root, found = _run(_browse(endpoint, start, depth, timeout))
    nodes = ([root] if root is not None else []) + found
    if as_json:
        print(json.dumps([n.as_dict() for n in nodes], indent=2, ensure_ascii=False))
        return
    for node in nodes:
        console.print(_line(node), highlight=False, markup=False)
    if not nodes:
        console.print("(no objects, variables or methods here)")


@app.command("scaffold")
def scaffold_command(
    endpoint: Endpoint,
    obj: Annotated[str, typer.Option("--object", help="node id of the machine's object")],
    output: Annotated[Path, typer.Option("-o", "--output", help="definition file to write")],
    twin_id: Annotated[
        str | None, typer.Option("--twin-id", help="default: the object's name")
    ] = None,
    connector: Annotated[str, typer.Option("--connector", help="connector name")] = "opcua",
    depth: Annotated[int, typer.Option("--depth", help="levels below the object", min=0)] = 3,
    force: Annotated[bool, typer.Option("--force", help="overwrite the output file")] = False,
    timeout: Timeout = 5.0,
) -> None:
    """Write a twin type and twin for one object: telemetry, desired settings, commands."""
    from twinworks.connect.opcua.scaffold import scaffold_definition, signal_name

    if output.exists() and not force:
        _fail(f"{output} exists; use --force to overwrite it")
    if twin_id is not None and signal_name(twin_id) != twin_id:
        _fail(f"--twin-id {twin_id!r}: use letters, digits and '_' (e.g. {signal_name(twin_id)})")
    root, found = _run(_browse(endpoint, obj, depth, timeout))
    assert root is not None
    data = scaffold_definition(
        endpoint, root, found, connector=signal_name(connector), twin_id=twin_id
    )
    text = f"# twinworks opcua scaffold {endpoint} --object {obj}\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100
    )
    try:
        parse_definition(text, str(output))
    except SpecError as exc:  # a bug of the scaffold, or a server with unusual names
        _fail(f"the scaffolded definition does not validate; not written:\n{exc}")
    output.write_text(text, encoding="utf-8")
    ttype = next(iter(data["types"].values()))
    console.print(
        f"[green]wrote[/] {output}: {len(ttype['telemetry'])} telemetry, "
        f"{len(ttype.get('desired', {}))} desired, {len(ttype.get('commands', {}))} commands "
        f"for twin {data['twins'][0]['id']!r}; review it, then: twinworks up {output}",
        highlight=False,
    )
