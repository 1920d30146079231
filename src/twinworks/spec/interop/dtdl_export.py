"""Write twin types as DTDL v3 Interfaces, one per type.

Telemetry becomes Telemetry, properties read-only Properties, desired settings
writable Properties, commands Commands (one argument as the request, several as an
Object), relationships Relationships. Units DTDL knows become a semantic type and a
unit; ranges, rates, allowed states and units DTDL lacks (``mm/s``) travel in the
element's comment (see :mod:`twinworks.spec.interop.dtdl_syntax`). Alarms and model
bindings have no DTDL form: they are listed in the notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from twinworks.spec.interop.dtdl_syntax import (
    COMMENT_MAX,
    CONTEXT,
    DTMI,
    encode_extras,
)
from twinworks.spec.interop.dtdl_units import QUANTITATIVE_CONTEXT, dtdl_unit_for
from twinworks.spec.interop.problems import InteropError, Problem
from twinworks.spec.schema import (
    ArgumentSpec,
    CommandSpec,
    DesiredSpec,
    PropertySpec,
    SignalSpec,
    TwinTypeSpec,
)

__all__ = ["DtdlExport", "export_dtdl", "interface_id"]

_Ranged = PropertySpec | SignalSpec | DesiredSpec | ArgumentSpec
_DTYPE_SCHEMA = {"float": "double", "int": "integer", "bool": "boolean", "string": "string"}


@dataclass
class DtdlExport:
    """One Interface (a JSON-ready dict) per file name, and what could not be written."""

    files: dict[str, dict[str, Any]]
    notes: list[Problem] = field(default_factory=list)


def _dtdl_name(name: str, taken: set[str]) -> str:
    """A DTDL name for a twinworks name: ``.`` and ``-`` become ``_``, clashes get a suffix."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name).rstrip("_") or "x"
    if not base[0].isalpha():
        base = "x" + base
    base = base[:500]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def interface_id(prefix: str, type_name: str) -> str:
    """The Interface @id of a type: ``<prefix>:<type>;1`` with the type made a DTMI segment."""
    segment = _dtdl_name(type_name, set())
    return f"{prefix}:{segment};1"


class _Writer:
    def __init__(self, file: str) -> None:
        self.file = file
        self.notes: list[Problem] = []
        self.quantitative = False

    def comment(self, item: dict[str, Any], path: str, extras: dict[str, Any]) -> None:
        text = encode_extras(extras)
        if text is None:
            return
        if len(text) > COMMENT_MAX:
            self.notes.append(
                Problem(
                    self.file,
                    path,
                    f"what DTDL cannot say takes {len(text)} characters, "
                    f"more than a comment's {COMMENT_MAX}; kept anyway (DTDL tools may refuse it)",
                )
            )
        item["comment"] = text

    def schema(self, spec: _Ranged) -> Any:
        if spec.values is not None:
            taken: set[str] = set()
            return {
                "@type": "Enum",
                "valueSchema": "string",
                "enumValues": [{"name": _dtdl_name(v, taken), "enumValue": v} for v in spec.values],
            }
        return _DTYPE_SCHEMA[spec.dtype]

    def ranged(self, spec: _Ranged, item: dict[str, Any], extras: dict[str, Any]) -> None:
        """Schema, unit and bounds of a value: into the element, or into its extras."""
        item["schema"] = self.schema(spec)
        if spec.unit is not None:
            found = dtdl_unit_for(spec.unit)
            if found is None:
                extras["unit"] = spec.unit
            else:
                semantic, unit = found
                item["@type"] = [item["@type"], semantic]
                item["unit"] = unit
                self.quantitative = True
        for key in ("min", "max"):
            if getattr(spec, key) is not None:
                extras[key] = getattr(spec, key)
        if spec.description:
            item["description"] = spec.description

    def content(
        self, kind: str, name: str, taken: set[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        dname = _dtdl_name(name, taken)
        extras: dict[str, Any] = {} if dname == name else {"name": name}
        return {"@type": kind, "name": dname}, extras

    def command(self, name: str, spec: CommandSpec, taken: set[str], path: str) -> dict[str, Any]:
        item, extras = self.content("Command", name, taken)
        if spec.description:
            item["description"] = spec.description
        if spec.allowed_states is not None:
            extras["allowed_states"] = spec.allowed_states
        arg_extras: dict[str, dict[str, Any]] = {}
        if len(spec.args) == 1:
            ((aname, arg),) = spec.args.items()
            request, rx = self.argument(aname, arg, set(), arg_extras)
            if not arg.required:
                request["nullable"] = True
            item["request"] = request
            if rx:
                request["comment"] = encode_extras(rx)
        elif spec.args:
            fields = []
            taken_fields: set[str] = set()
            for aname, arg in spec.args.items():
                fitem, fx = self.argument(aname, arg, taken_fields, arg_extras)
                if fx:
                    fitem["comment"] = encode_extras(fx)
                fields.append(fitem)
            item["request"] = {
                "name": "args",
                "schema": {"@type": "Object", "fields": fields},
            }
        if arg_extras:
            extras["args"] = arg_extras
        self.comment(item, path, extras)
        return item

    def argument(
        self, name: str, arg: ArgumentSpec, taken: set[str], arg_extras: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        dname = _dtdl_name(name, taken)
        item: dict[str, Any] = {"name": dname, "schema": self.schema(arg)}
        extra: dict[str, Any] = {}
        if arg.unit is not None:
            extra["unit"] = arg.unit  # a request has no unit in DTDL
        for key in ("min", "max", "default"):
            if getattr(arg, key) is not None:
                extra[key] = getattr(arg, key)
        if not arg.required:
            extra["required"] = False
        if arg.description:
            item["description"] = arg.description
        if extra:
            arg_extras[name] = extra
        return item, ({"name": name} if dname != name else {})


def _interface(
    type_name: str, spec: TwinTypeSpec, prefix: str, ids: dict[str, str], file: str
) -> tuple[dict[str, Any], list[Problem]]:
    w = _Writer(file)
    taken: set[str] = set()
    contents: list[dict[str, Any]] = []
    for i, (name, prop) in enumerate(spec.properties.items()):
        item, extras = w.content("Property", name, taken)
        w.ranged(prop, item, extras)
        if prop.required:
            extras["required"] = True
        if prop.default is not None:
            extras["default"] = prop.default
        w.comment(item, f"contents[{i}]", extras)
        contents.append(item)
    for name, signal in spec.telemetry.items():
        item, extras = w.content("Telemetry", name, taken)
        w.ranged(signal, item, extras)
        if signal.max_rate is not None:
            extras["max_rate"] = signal.max_rate
        w.comment(item, f"contents[{len(contents)}]", extras)
        contents.append(item)
    for name, desired in spec.desired.items():
        item, extras = w.content("Property", name, taken)
        item["writable"] = True
        w.ranged(desired, item, extras)
        if desired.max_rate is not None:
            extras["max_rate"] = desired.max_rate
        if desired.reported_by is not None:
            extras["reported_by"] = desired.reported_by
        w.comment(item, f"contents[{len(contents)}]", extras)
        contents.append(item)
    for name, command in spec.commands.items():
        contents.append(w.command(name, command, taken, f"contents[{len(contents)}]"))
    for name, rel in spec.relationships.items():
        item, extras = w.content("Relationship", name, taken)
        if len(rel.target) == 1 and rel.target[0] in ids:
            item["target"] = ids[rel.target[0]]
        else:
            extras["targets"] = list(rel.target)
        if not rel.many:
            item["maxMultiplicity"] = 1
        if rel.description:
            item["description"] = rel.description
        w.comment(item, f"contents[{len(contents)}]", extras)
        contents.append(item)
    body: dict[str, Any] = {
        "@context": [CONTEXT, QUANTITATIVE_CONTEXT] if w.quantitative else CONTEXT,
        "@id": ids[type_name],
        "@type": "Interface",
        "displayName": type_name,
    }
    if spec.description:
        body["description"] = spec.description
    type_extras: dict[str, Any] = {}
    if _dtdl_name(type_name, set()) != type_name:
        type_extras["type"] = type_name
    if spec.rate_limit is not None:
        type_extras["rate_limit"] = spec.rate_limit.model_dump()
    if spec.status is not None:  # the status policy: which values mean running, fault, ...
        type_extras["status"] = spec.status.model_dump()
    w.comment(body, "", type_extras)
    body["contents"] = contents
    for what in ("alarms", "models"):
        if getattr(spec, what):
            names = ", ".join(getattr(spec, what))
            w.notes.append(Problem(file, what, f"{what} ({names}) have no DTDL form; not written"))
    return body, w.notes


def export_dtdl(types: dict[str, TwinTypeSpec], prefix: str) -> DtdlExport:
    """One DTDL v3 Interface per twin type, identified as ``<prefix>:<type>;1``."""
    if not DTMI.match(prefix + ";1") or prefix.startswith(("dtmi:dtdl:", "dtmi:standard:")):
        raise InteropError(
            [
                Problem(
                    "(prefix)",
                    "",
                    f"{prefix!r} is not a usable DTMI prefix",
                    "dtmi:<segment>(:<segment>)*, e.g. dtmi:com:example",
                )
            ]
        )
    ids = {name: interface_id(prefix, name) for name in types}
    seen: dict[str, str] = {}
    for name, dtmi in ids.items():
        if dtmi in seen:
            raise InteropError(
                [
                    Problem(
                        "(types)",
                        name,
                        f"types {seen[dtmi]!r} and {name!r} both become {dtmi}",
                        "type names that differ in more than '.' and '-'",
                    )
                ]
            )
        seen[dtmi] = name
    out = DtdlExport(files={})
    for name, spec in types.items():
        file = f"{_dtdl_name(name, set())}.json"
        body, notes = _interface(name, spec, prefix, ids, file)
        out.files[file] = body
        out.notes.extend(notes)
    return out
