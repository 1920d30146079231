"""``twinworks aas export|import``: twins as Asset Administration Shells (AASX or JSON) and back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console

from twinworks.errors import SpecError, StoreError
from twinworks.spec.interop.problems import InteropError, Problem
from twinworks.spec.loader import load_definition, parse_definition
from twinworks.spec.schema import TwinDefinition

if TYPE_CHECKING:
    from twinworks.spec.interop.aas_export import OperationalData

__all__ = ["app", "read_operational_data", "register"]

app = typer.Typer(
    help="Asset Administration Shell (AAS v3.0) packages to and from twin definitions.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

MAINTENANCE_RECOMMENDED = "MaintenanceRecommended"  # the event that carries the latest RUL


def _print_notes(notes: list[Problem], what: str) -> None:
    if notes:
        err.print(f"{len(notes)} {what}:", highlight=False)
        for note in notes:
            err.print(f"  note: {note}", highlight=False, markup=False)


def _error(exc: Exception) -> None:
    err.print(str(exc), highlight=False, markup=False)
    raise typer.Exit(1)


def _need_basyx() -> None:
    """The AAS commands use basyx, an optional dependency: say how to get it."""
    try:
        import basyx.aas  # noqa: F401
    except ImportError:
        _error(
            ImportError("the aas commands need the Eclipse BaSyx SDK: pip install 'twinworks[aas]'")
        )


def read_operational_data(
    definition: TwinDefinition, data_dir: Path, store_name: str
) -> dict[str, OperationalData]:
    """Latest reported values, model estimates and RUL of every twin, from its store."""
    from twinworks.spec.interop.aas_export import OperationalData
    from twinworks.store.sqlite import SqliteStore

    path = data_dir / f"{store_name}.db"
    if not path.is_file():
        raise StoreError(f"no store at {path}: run the twins with --data-dir {data_dir} first")
    out: dict[str, OperationalData] = {}
    with SqliteStore(path) as store:
        for twin in definition.twins:
            declared = definition.types[twin.type].telemetry
            latest = store.latest(twin.id)
            rul = None
            for event in store.events(twin.id, kinds=[MAINTENANCE_RECOMMENDED], limit=1):
                value = event.data.get("rul")
                rul = value if isinstance(value, dict) else None
            out[twin.id] = OperationalData(
                reported={k: v for k, v in latest.items() if k in declared},
                estimates={k: v for k, v in latest.items() if k not in declared},
                rul=rul,
            )
    return out


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="twin definition (YAML)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the .aasx (or .json) to write")],
    as_json: Annotated[
        bool, typer.Option("--json", help="write AAS JSON instead of an AASX package")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="read the latest values, estimates and RUL from this data directory's store",
            file_okay=False,
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="identifier prefix of shells and submodels")
    ] = None,
    api_url: Annotated[
        str, typer.Option("--api-url", help="the API the time series links point at")
    ] = "http://127.0.0.1:8321",
) -> None:
    """One shell per twin: nameplate, technical data, time series links, operational data."""
    _need_basyx()
    from twinworks.spec.interop.aas_export import build_environment, default_prefix
    from twinworks.spec.interop.aas_files import write_aas_json, write_aasx

    try:
        definition = load_definition(file)
    except SpecError as exc:
        _error(exc)
        return
    name = definition.name or file.stem
    if prefix is None:
        prefix = default_prefix(name)
    live = None
    if data_dir is not None:
        try:
            live = read_operational_data(definition, data_dir, name)
        except StoreError as exc:
            _error(exc)
    result = build_environment(definition, prefix, api_url, live)
    try:
        if as_json or output.suffix.lower() == ".json":
            write_aas_json(result.store, output)
        else:
            write_aasx(result.store, result.shells, output)
    except OSError as exc:
        _error(OSError(f"cannot write {output}: {exc.strerror}"))
    _print_notes(result.notes, "part(s) not written")
    console.print(
        f"[green]ok[/] {len(result.shells)} shells written to {output}"
        + (" with the store's latest values" if live is not None else ""),
        highlight=False,
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="an .aasx package or an AAS JSON file")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the definition here (YAML)")
    ] = None,
) -> None:
    """Turn shells and their submodels into twin types and twins (printed, or written with -o)."""
    _need_basyx()
    from twinworks.spec.interop.aas_files import read_aas
    from twinworks.spec.interop.aas_import import import_environment

    try:
        result = import_environment(read_aas(file), str(file))
    except InteropError as exc:
        _error(exc)
        return
    doc: dict[str, Any] = {
        "version": 1,
        "name": file.stem,
        "description": f"imported from the Asset Administration Shells in {file.name}",
        "types": {
            n: t.model_dump(mode="json", exclude_defaults=True) for n, t in result.types.items()
        },
        "twins": [t.model_dump(mode="json", exclude_defaults=True) for t in result.twins],
    }
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    try:
        parse_definition(text, f"(definition from {file})")
    except SpecError as exc:
        _error(exc)
    _print_notes(result.notes, "element(s) not carried over")
    if output is None:
        console.print(text, highlight=False, markup=False, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _error(OSError(f"cannot write {output}: {exc.strerror}"))
    console.print(
        f"[green]ok[/] {len(result.types)} types and {len(result.twins)} twins written to {output}",
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="aas")
