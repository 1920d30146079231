"""``twinworks dtdl import|export``: twin types from and to DTDL v3 Interfaces."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from twinworks.errors import SpecError
from twinworks.spec.interop.dtdl_export import export_dtdl
from twinworks.spec.interop.dtdl_import import import_dtdl_files
from twinworks.spec.interop.problems import InteropError, Problem
from twinworks.spec.loader import load_definition, parse_definition
from twinworks.spec.schema import TwinTypeSpec

__all__ = ["app", "register", "types_yaml"]

app = typer.Typer(
    help="DTDL v3 (Azure Digital Twins) Interfaces to and from twin types.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(1)


def print_notes(notes: list[Problem], what: str) -> None:
    """What was valid but has no equivalent on the other side: always shown, never dropped."""
    if notes:
        err.print(f"{len(notes)} {what}:", highlight=False)
        for note in notes:
            err.print(f"  note: {note}", highlight=False, markup=False)


def types_yaml(types: dict[str, TwinTypeSpec], description: str) -> str:
    """A definition file holding the types; checked by the loader before it is written."""
    doc = {
        "version": 1,
        "description": description,
        "types": {
            name: spec.model_dump(mode="json", exclude_defaults=True)
            for name, spec in types.items()
        },
    }
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    parse_definition(text, "(imported types)")  # raises SpecError if a mapping went wrong
    return text


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="DTDL v3 JSON files, or directories of them")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the types here (YAML)")
    ] = None,
) -> None:
    """Turn DTDL v3 Interfaces into twin types (printed, or written with -o)."""
    try:
        result = import_dtdl_files(files)
        text = types_yaml(result.types, "twin types imported from DTDL v3")
    except (InteropError, SpecError) as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    print_notes(result.notes, "element(s) not carried over")
    if output is None:
        console.print(text, highlight=False, markup=False, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    console.print(f"[green]ok[/] {len(result.types)} types written to {output}", highlight=False)


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="twin definition (YAML)")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="directory for the Interfaces", file_okay=False)
    ],
    prefix: Annotated[
        str | None,
        typer.Option(help="DTMI prefix of the Interfaces, e.g. dtmi:com:example:plant"),
    ] = None,
) -> None:
    """Write each twin type of a definition as a DTDL v3 Interface (one JSON file per type)."""
    try:
        definition = load_definition(file)
    except SpecError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    if prefix is None:
        segment = re.sub(r"[^A-Za-z0-9_]", "_", definition.name or file.stem).strip("_")
        prefix = "dtmi:twinworks:" + (segment if segment[:1].isalpha() else "plant" + segment)
    try:
        result = export_dtdl(dict(definition.types), prefix)
    except InteropError as exc:
        _fail(str(exc))
        return
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, body in result.files.items():
            (output / name).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write into {output}: {exc.strerror}")
    print_notes(result.notes, "part(s) not expressible in DTDL")
    console.print(
        f"[green]ok[/] {len(result.files)} Interfaces written to {output}/ ({prefix}:…)",
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dtdl")
