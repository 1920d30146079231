"""Read and write AAS files (AASX packages and AAS JSON) safely, with basyx.

Reading refuses, before anything is decompressed: files that are not a ZIP or
JSON, packages with too many parts, parts that would expand beyond a bound or by a
suspicious ratio (a "zip bomb"), and oversized JSON. basyx then parses strictly
(``failsafe=False``): a document that breaks the AAS v3.0 schema is an error naming
what is wrong, never a half-read environment.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import IO, Any

from basyx.aas import model
from basyx.aas.adapter import aasx
from basyx.aas.adapter.json import read_aas_json_file, write_aas_json_file

from twinworks.spec.interop.problems import InteropError, Problem

__all__ = ["LIMITS", "read_aas", "write_aas_json", "write_aasx"]

LIMITS = {
    "max_file_bytes": 256 * 1024 * 1024,
    "max_json_bytes": 64 * 1024 * 1024,  # a plant's shells are a few MB
    "max_parts": 10_000,
    "max_unpacked_bytes": 512 * 1024 * 1024,
    "max_ratio": 200,  # deflate rarely beats 100:1 on real AAS content; bombs reach 1000:1
}

Store = model.DictIdentifiableStore[model.Identifiable]


def write_aasx(store: Store, shells: list[str], path: str | Path | IO[bytes]) -> None:
    """An AASX package (OPC) holding the shells, their submodels and concept descriptions."""
    with aasx.AASXWriter(path) as writer:
        # JSON inside: the AAS v3.0 checkers read it (basyx's XML is the v3.1 namespace)
        writer.write_aas(shells, store, aasx.DictSupplementaryFileContainer(), write_json=True)
        # concept descriptions not reached through a shell's submodels are added too
        cds = [o.id for o in store if isinstance(o, model.ConceptDescription)]
        if cds:
            writer.write_all_aas_objects(
                "/aasx/data_cds.json",
                model.DictIdentifiableStore(store.get_item(i) for i in cds),
                aasx.DictSupplementaryFileContainer(),
                write_json=True,
            )


def write_aas_json(store: Store, path: str | Path | IO[str]) -> None:
    """The environment as AAS v3.0 JSON (shells, submodels, concept descriptions)."""
    if isinstance(path, str | Path):
        with open(path, "w", encoding="utf-8") as f:
            write_aas_json_file(f, store, indent=1)
    else:
        write_aas_json_file(path, store, indent=1)


def _fail(file: str, message: str, expected: str | None = None) -> InteropError:
    return InteropError([Problem(file, "", message, expected)])


def _check_zip(name: str, data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _fail(name, f"not a readable ZIP archive: {exc}", "an AASX package") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > LIMITS["max_parts"]:
            raise _fail(name, f"{len(infos)} parts", f"at most {LIMITS['max_parts']}")
        total = 0
        for info in infos:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > LIMITS["max_ratio"] and info.file_size > 1024 * 1024:
                raise _fail(
                    name,
                    f"part {info.filename!r} expands {ratio:.0f} times "
                    f"({info.compress_size} → {info.file_size} bytes): refused as a zip bomb",
                    f"a compression ratio of at most {LIMITS['max_ratio']}",
                )
            if total > LIMITS["max_unpacked_bytes"]:
                raise _fail(
                    name,
                    f"parts expand to more than {LIMITS['max_unpacked_bytes']} bytes: "
                    "refused as a zip bomb",
                    "a smaller package",
                )
        if "[Content_Types].xml" not in archive.namelist():
            raise _fail(
                name,
                "no [Content_Types].xml: a ZIP archive but not an OPC package",
                "an AASX package (Open Packaging Conventions)",
            )


class _Captured(logging.Handler):
    """basyx reports some problems in strict mode only through its log; keep them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def read_aas(path: str | Path) -> Store:
    """Shells, submodels and concept descriptions of an AASX or AAS JSON file."""
    file = Path(path)
    name = str(file)
    try:
        size = file.stat().st_size
        if size > LIMITS["max_file_bytes"]:
            raise _fail(name, f"file is {size} bytes", f"at most {LIMITS['max_file_bytes']}")
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(name, f"cannot read the file: {exc.strerror}") from None
    is_zip = data[:4] == b"PK\x03\x04"
    if not is_zip and file.suffix.lower() == ".aasx":
        raise _fail(name, "not a ZIP archive", "an AASX package (a ZIP file)")
    handler = _Captured()
    log = logging.getLogger("basyx")
    log.addHandler(handler)
    try:
        if is_zip:
            _check_zip(name, data)
            return _read_aasx(name, data)
        if size > LIMITS["max_json_bytes"]:
            raise _fail(name, f"file is {size} bytes", f"at most {LIMITS['max_json_bytes']}")
        return _read_json(name, data)
    finally:
        log.removeHandler(handler)


def _read_json(name: str, data: bytes) -> Store:
    try:
        doc: Any = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _fail(name, f"not valid JSON: {exc}", "an AAS v3.0 environment (JSON)") from None
    if not isinstance(doc, dict):
        raise _fail(name, f"top level is a {type(doc).__name__}", "an AAS environment object")
    known = {"assetAdministrationShells", "submodels", "conceptDescriptions"}
    if not known & set(doc):
        raise _fail(
            name,
            "no assetAdministrationShells, submodels or conceptDescriptions",
            "an AAS v3.0 environment",
        )
    try:
        return read_aas_json_file(io.StringIO(data.decode("utf-8")), failsafe=False)
    except Exception as exc:  # basyx raises KeyError, TypeError, ValueError... for bad content
        raise _fail(name, f"not a valid AAS v3.0 environment: {_reason(exc)}") from None


def _read_aasx(name: str, data: bytes) -> Store:
    store: Store = model.DictIdentifiableStore()
    try:
        with aasx.AASXReader(io.BytesIO(data), failsafe=False) as reader:
            reader.read_into(store, aasx.DictSupplementaryFileContainer())
    except Exception as exc:  # basyx raises several unrelated types for broken packages
        raise _fail(name, f"not a valid AASX package: {_reason(exc)}") from None
    return store


def _reason(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({cause})"
    return text[:500]
