"""Read DTDL v3 Interfaces and turn them into twin types.

Every file is checked against the DTDL v3 rules that matter before anything is
converted: ``@context``, identifiers, names, schemas, ``extends`` (no cycles, no
unknown bases) and unique names in an Interface with everything it inherits. All
problems of all files are collected and raised together as an :class:`InteropError`.

What a twin type cannot hold (a Map or Object value, a geospatial point, a command's
response) is left out and listed in :attr:`DtdlImport.notes`.

Mapping: Telemetry → telemetry; Property → property, or a desired setting when
``writable``; Command → command (its request: one argument, or one per field of an
Object); Relationship → relationship; Component → its Interface's contents under
``<component>.<name>``; ``extends`` → the base's contents, inherited.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twinworks.spec.interop.dtdl_syntax import (
    CONTENT_CLASSES,
    CONTEXT,
    DTMI,
    GEOSPATIAL,
    INTERFACE_DTMI_MAX,
    NAME,
    NAME_MAX,
    PRIMITIVES,
    RESERVED_PREFIXES,
    decode_extras,
    text_of,
)
from twinworks.spec.interop.dtdl_units import QUANTITATIVE_CONTEXT, SEMANTIC_TYPES, UNITS
from twinworks.spec.interop.problems import InteropError, Problem
from twinworks.spec.schema import ID_PATTERN, TwinTypeSpec

__all__ = ["MAX_FILE_BYTES", "DtdlImport", "import_dtdl", "import_dtdl_files"]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_EXTENDS_DEPTH = 10  # DTDL v3: at most 10 levels of extends
MAX_COMPONENT_DEPTH = 8

_ID = __import__("re").compile(ID_PATTERN)


@dataclass
class DtdlImport:
    """Twin types read from DTDL, with the notes on what could not be carried over."""

    types: dict[str, TwinTypeSpec]
    notes: list[Problem] = field(default_factory=list)
    interfaces: dict[str, str] = field(default_factory=dict)  # type name -> Interface @id


@dataclass
class _Interface:
    dtmi: str
    file: str
    path: str
    body: dict[str, Any]
    extras: dict[str, Any]


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.interfaces: dict[str, _Interface] = {}
        self.schemas: dict[str, tuple[str, str, Any]] = {}  # @id -> (file, path, schema)

    # ------------------------------------------------------------------ checking

    def fail(self, file: str, path: str, message: str, expected: str | None = None) -> None:
        self.problems.append(Problem(file, path, message, expected))

    def note(self, file: str, path: str, message: str) -> None:
        self.notes.append(Problem(file, path, message))

    def check_dtmi(self, file: str, path: str, value: Any, what: str) -> bool:
        if not isinstance(value, str) or not DTMI.match(value):
            self.fail(
                file,
                path,
                f"{what} {value!r} is not a valid DTMI",
                "dtmi:<segment>(:<segment>)*;<version>, segments of letters, digits and _, "
                "e.g. dtmi:com:example:Pump;1",
            )
            return False
        if len(value) > INTERFACE_DTMI_MAX:
            self.fail(file, path, f"{what} is {len(value)} characters", "at most 2048")
            return False
        if value.startswith(RESERVED_PREFIXES):
            self.fail(file, path, f"{what} {value!r} uses a reserved prefix", "not dtmi:dtdl:…")
            return False
        return True

    def check_name(self, file: str, path: str, value: Any) -> bool:
        if not isinstance(value, str) or not NAME.match(value) or len(value) > NAME_MAX:
            self.fail(
                file,
                path,
                f"name {value!r} is not a valid DTDL name",
                "1 to 512 letters, digits and _, starting with a letter and not ending with _",
            )
            return False
        return True

    def read_file(self, file: str, text: str | bytes) -> None:
        size = len(text.encode() if isinstance(text, str) else text)
        if size > MAX_FILE_BYTES:
            self.fail(file, "", f"file is {size} bytes", f"at most {MAX_FILE_BYTES} bytes")
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.fail(file, "", f"not valid JSON: {exc}", "a DTDL v3 Interface (JSON-LD)")
            return
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            path = f"[{i}]" if isinstance(data, list) else ""
            self.read_interface(file, path, item)

    def read_interface(self, file: str, path: str, body: Any) -> None:
        if not isinstance(body, dict):
            self.fail(file, path, f"a {type(body).__name__}", "a JSON object (an Interface)")
            return
        context = body.get("@context")
        contexts = context if isinstance(context, list) else [context]
        if context is None:
            self.fail(file, _join(path, "@context"), "missing", f"@context {CONTEXT!r}")
            return
        if contexts[0] != CONTEXT:
            older = isinstance(contexts[0], str) and contexts[0].startswith("dtmi:dtdl:context;")
            self.fail(
                file,
                _join(path, "@context"),
                f"{contexts[0]!r}" + (" is another DTDL version" if older else ""),
                f"{CONTEXT!r} first (DTDL v3)",
            )
            return
        body = {**body, "_quantitative": QUANTITATIVE_CONTEXT in contexts}
        types = _as_list(body.get("@type"))
        if "Interface" not in types:
            self.fail(file, _join(path, "@type"), f"{body.get('@type')!r}", "'Interface'")
            return
        for cotype in types:
            if cotype != "Interface":
                self.note(file, _join(path, "@type"), f"co-type {cotype!r} is not mapped; left out")
        dtmi = body.get("@id")
        if not self.check_dtmi(file, _join(path, "@id"), dtmi, "@id"):
            return
        if dtmi in self.interfaces:
            first = self.interfaces[dtmi]
            self.fail(
                file,
                _join(path, "@id"),
                f"Interface {dtmi} is defined twice (first in {first.file})",
                "each @id once",
            )
            return
        extras, bad = decode_extras(body.get("comment"))
        if bad:
            self.fail(file, _join(path, "comment"), bad)
        self.interfaces[dtmi] = _Interface(dtmi, file, path, body, extras)
        for i, schema in enumerate(_as_list(body.get("schemas"))):
            spath = _join(path, f"schemas[{i}]")
            sid = schema.get("@id") if isinstance(schema, dict) else None
            if self.check_dtmi(file, _join(spath, "@id"), sid, "schema @id"):
                self.schemas[str(sid)] = (file, spath, schema)

    # ------------------------------------------------------------------ schemas

    def check_schema(self, file: str, path: str, schema: Any, depth: int = 0) -> None:
        """Structural check of any schema (primitive, Enum, Object, Array, Map, reference)."""
        if depth > 16:
            self.fail(file, path, "schema nested too deeply", "at most 16 levels")
            return
        if isinstance(schema, str):
            if schema in PRIMITIVES or schema in GEOSPATIAL:
                return
            if schema.startswith("dtmi:"):
                if schema not in self.schemas:
                    self.fail(
                        file, path, f"unknown schema {schema!r}", "a schema defined in 'schemas'"
                    )
                return
            self.fail(
                file,
                path,
                f"unknown schema {schema!r}",
                "a primitive (" + ", ".join(sorted(PRIMITIVES)) + ") or an Enum, Object, "
                "Array or Map",
            )
            return
        if not isinstance(schema, dict):
            self.fail(file, path, f"schema is a {type(schema).__name__}", "a string or an object")
            return
        kind = schema.get("@type")
        if kind == "Enum":
            if schema.get("valueSchema") not in ("integer", "string"):
                self.fail(
                    file,
                    _join(path, "valueSchema"),
                    f"{schema.get('valueSchema')!r}",
                    "'integer' or 'string'",
                )
            values = schema.get("enumValues")
            if not isinstance(values, list) or not values:
                self.fail(file, _join(path, "enumValues"), "missing or empty", "a list of values")
                return
            self.check_unique(file, path, "enumValues", values)
            for i, v in enumerate(values):
                vpath = _join(path, f"enumValues[{i}]")
                if not isinstance(v, dict) or "enumValue" not in v:
                    self.fail(file, vpath, "no enumValue", "{name, enumValue}")
                    continue
                want = int if schema.get("valueSchema") == "integer" else str
                if not isinstance(v["enumValue"], want) or isinstance(v["enumValue"], bool):
                    self.fail(
                        file,
                        _join(vpath, "enumValue"),
                        f"{v['enumValue']!r}",
                        f"a value of the valueSchema ({schema.get('valueSchema')})",
                    )
        elif kind == "Object":
            fields = schema.get("fields")
            if not isinstance(fields, list):
                self.fail(file, _join(path, "fields"), "missing", "a list of fields")
                return
            self.check_unique(file, path, "fields", fields)
            for i, f in enumerate(fields):
                fpath = _join(path, f"fields[{i}]")
                if isinstance(f, dict):
                    self.check_schema(file, _join(fpath, "schema"), f.get("schema"), depth + 1)
        elif kind == "Array":
            self.check_schema(
                file, _join(path, "elementSchema"), schema.get("elementSchema"), depth + 1
            )
        elif kind == "Map":
            key, value = schema.get("mapKey"), schema.get("mapValue")
            if not isinstance(key, dict) or key.get("schema") != "string":
                self.fail(
                    file,
                    _join(path, "mapKey"),
                    "missing or not a string key",
                    "{name, schema: string}",
                )
            if not isinstance(value, dict):
                self.fail(file, _join(path, "mapValue"), "missing", "{name, schema}")
            else:
                self.check_schema(
                    file, _join(path, "mapValue.schema"), value.get("schema"), depth + 1
                )
        else:
            self.fail(
                file,
                _join(path, "@type"),
                f"unknown schema type {kind!r}",
                "Enum, Object, Array or Map",
            )

    def check_unique(self, file: str, path: str, key: str, items: list[Any]) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            ipath = _join(path, f"{key}[{i}]")
            name = item.get("name") if isinstance(item, dict) else None
            if not self.check_name(file, _join(ipath, "name"), name):
                continue
            if name in seen:
                self.fail(file, _join(ipath, "name"), f"duplicate name {name!r}", "unique names")
            seen.add(str(name))

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.schemas:
            return self.schemas[schema][2]
        return schema

    # ------------------------------------------------------------------ contents

    def check_contents(self, itf: _Interface) -> None:
        contents = itf.body.get("contents", [])
        if not isinstance(contents, list):
            self.fail(itf.file, _join(itf.path, "contents"), "not a list", "a list of contents")
            return
        for i, item in enumerate(contents):
            path = _join(itf.path, f"contents[{i}]")
            if not isinstance(item, dict):
                self.fail(itf.file, path, f"a {type(item).__name__}", "an object")
                continue
            cls, cotypes = _classes(item.get("@type"))
            if cls is None:
                self.fail(
                    itf.file,
                    _join(path, "@type"),
                    f"{item.get('@type')!r}",
                    "one of " + ", ".join(CONTENT_CLASSES),
                )
                continue
            self.check_name(itf.file, _join(path, "name"), item.get("name"))
            if cls in ("Telemetry", "Property"):
                self.check_schema(itf.file, _join(path, "schema"), item.get("schema"))
                self.check_semantic(itf, path, item, cotypes)
            elif cls == "Command":
                request = item.get("request")
                if request is not None:
                    if not isinstance(request, dict):
                        self.fail(
                            itf.file, _join(path, "request"), "not an object", "{name, schema}"
                        )
                    else:
                        self.check_name(itf.file, _join(path, "request.name"), request.get("name"))
                        self.check_schema(
                            itf.file, _join(path, "request.schema"), request.get("schema")
                        )
            elif cls == "Relationship":
                target = item.get("target")
                if target is not None:
                    self.check_dtmi(itf.file, _join(path, "target"), target, "target")
                mx = item.get("maxMultiplicity")
                if mx is not None and (not isinstance(mx, int) or isinstance(mx, bool) or mx < 1):
                    self.fail(itf.file, _join(path, "maxMultiplicity"), f"{mx!r}", "an integer ≥ 1")
            elif cls == "Component":
                schema = item.get("schema")
                if isinstance(schema, dict):
                    self.fail(
                        itf.file,
                        _join(path, "schema"),
                        "an inline Interface",
                        "the DTMI of an Interface defined at the top level of a file",
                    )
                else:
                    self.check_dtmi(itf.file, _join(path, "schema"), schema, "component schema")

    def check_semantic(
        self, itf: _Interface, path: str, item: dict[str, Any], cotypes: list[str]
    ) -> None:
        unit = item.get("unit")
        semantic = [c for c in cotypes if c in SEMANTIC_TYPES]
        for c in cotypes:
            if c not in SEMANTIC_TYPES:
                self.note(itf.file, _join(path, "@type"), f"co-type {c!r} is not mapped; left out")
        if (semantic or unit is not None) and not itf.body["_quantitative"]:
            self.fail(
                itf.file,
                _join(path, "@type"),
                "a semantic type or unit needs the QuantitativeTypes extension",
                f"{QUANTITATIVE_CONTEXT!r} in @context",
            )
            return
        if unit is not None and not semantic:
            self.fail(
                itf.file,
                _join(path, "unit"),
                f"unit {unit!r} without a semantic type",
                "a co-type such as Temperature in @type",
            )
            return
        if semantic and unit is not None:
            enum = SEMANTIC_TYPES[semantic[0]]
            if unit not in UNITS[enum]:
                self.fail(
                    itf.file,
                    _join(path, "unit"),
                    f"unit {unit!r} is not a {enum} (of {semantic[0]}) that twinworks maps",
                    "one of " + ", ".join(UNITS[enum]),
                )

    def check_extends(self) -> dict[str, list[str]]:
        """Each Interface's bases, nearest last; cycles and unknown bases are problems."""
        bases: dict[str, list[str]] = {}
        for dtmi, itf in self.interfaces.items():
            raw = itf.body.get("extends")
            direct = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
            if raw is not None and not isinstance(raw, str | list):
                self.fail(itf.file, _join(itf.path, "extends"), "not a DTMI", "a DTMI or a list")
            for i, base in enumerate(direct):
                where = _join(itf.path, "extends" if isinstance(raw, str) else f"extends[{i}]")
                if not isinstance(base, str):
                    self.fail(itf.file, where, "an inline Interface", "the DTMI of an Interface")
                elif base not in self.interfaces:
                    self.fail(
                        itf.file,
                        where,
                        f"unknown Interface {base!r}",
                        "an Interface defined in one of the files",
                    )
            bases[dtmi] = [b for b in direct if isinstance(b, str) and b in self.interfaces]
        order: dict[str, list[str]] = {}
        for dtmi in self.interfaces:
            chain: list[str] = []
            if self._ancestors(dtmi, bases, [dtmi], chain):
                order[dtmi] = chain
        return order

    def _ancestors(
        self, dtmi: str, bases: dict[str, list[str]], trail: list[str], out: list[str]
    ) -> bool:
        if len(trail) > MAX_EXTENDS_DEPTH + 1:
            itf = self.interfaces[trail[0]]
            self.fail(
                itf.file,
                _join(itf.path, "extends"),
                "extends is nested too deeply",
                f"at most {MAX_EXTENDS_DEPTH} levels",
            )
            return False
        for base in bases.get(dtmi, []):
            if base in trail:
                itf = self.interfaces[trail[0]]
                if base == trail[0]:
                    cycle = " → ".join([*trail, base])
                    self.fail(
                        itf.file,
                        _join(itf.path, "extends"),
                        f"extends forms a cycle: {cycle}",
                        "an Interface never extends itself, directly or not",
                    )
                return False
            if not self._ancestors(base, bases, [*trail, base], out):
                return False
            if base not in out:
                out.append(base)
        return True


def _join(path: str, key: str) -> str:
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _drop(value: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value.pop(key, None)


def _classes(value: Any) -> tuple[str | None, list[str]]:
    types = _as_list(value)
    main = [t for t in types if t in CONTENT_CLASSES]
    if len(main) != 1 or not all(isinstance(t, str) for t in types):
        return None, []
    return main[0], [t for t in types if t != main[0]]


# ---------------------------------------------------------------------- conversion


class _Builder:
    """Turns checked Interfaces into twin types."""

    def __init__(self, reader: _Reader, ancestors: dict[str, list[str]]) -> None:
        self.r = reader
        self.ancestors = ancestors
        self.type_names: dict[str, str] = {}

    def type_name(self, itf: _Interface) -> str:
        name = itf.extras.get("type")
        if isinstance(name, str) and _ID.match(name):
            return name
        return itf.dtmi.split(";")[0].rsplit(":", 1)[-1]

    def contents(self, dtmi: str) -> list[tuple[_Interface, str, dict[str, Any]]]:
        """An Interface's own and inherited contents with where each one is written."""
        out = []
        for source in [*self.ancestors.get(dtmi, []), dtmi]:
            itf = self.r.interfaces[source]
            for i, item in enumerate(itf.body.get("contents", [])):
                out.append((itf, _join(itf.path, f"contents[{i}]"), item))
        return out

    def check_duplicates(self, dtmi: str) -> None:
        seen: dict[str, tuple[_Interface, str]] = {}
        for itf, path, item in self.contents(dtmi):
            name = item.get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                first, _ = seen[name]
                where = "" if first is itf else f" (also in {first.dtmi}, inherited)"
                self.r.fail(
                    itf.file,
                    _join(path, "name"),
                    f"duplicate name {name!r}{where}",
                    "names unique in an Interface and everything it extends",
                )
            else:
                seen[name] = (itf, path)

    def build(self, dtmi: str) -> dict[str, Any]:
        itf = self.r.interfaces[dtmi]
        spec: dict[str, Any] = {
            "description": text_of(itf.body.get("description")),
            "properties": {},
            "telemetry": {},
            "desired": {},
            "commands": {},
            "relationships": {},
        }
        if isinstance(itf.extras.get("rate_limit"), dict):
            spec["rate_limit"] = itf.extras["rate_limit"]
        if isinstance(itf.extras.get("status"), dict):
            spec["status"] = itf.extras["status"]
        self.add_contents(spec, dtmi, "", 0)
        return spec

    def add_contents(self, spec: dict[str, Any], dtmi: str, prefix: str, depth: int) -> None:
        for itf, path, item in self.contents(dtmi):
            cls, cotypes = _classes(item.get("@type"))
            extras, _ = decode_extras(item.get("comment"))
            name = prefix + str(extras.get("name", item.get("name")))
            if cls == "Component":
                target = item.get("schema")
                if target not in self.r.interfaces:
                    self.r.fail(
                        itf.file,
                        _join(path, "schema"),
                        f"unknown Interface {target!r}",
                        "an Interface defined in one of the files",
                    )
                elif depth >= MAX_COMPONENT_DEPTH:
                    self.r.fail(
                        itf.file,
                        path,
                        "components nested too deeply",
                        f"at most {MAX_COMPONENT_DEPTH} levels",
                    )
                else:
                    self.add_contents(spec, str(target), name + ".", depth + 1)
                continue
            if not _ID.match(name):
                self.r.fail(
                    itf.file,
                    _join(path, "name"),
                    f"{name!r} is not a twinworks name",
                    "letters, digits, _, . or -, at most 128 characters",
                )
                continue
            if cls in ("Telemetry", "Property"):
                value = self.value(itf, path, item, cotypes, extras)
                if value is None:
                    continue
                if cls == "Telemetry":
                    kind = "telemetry"
                    _drop(value, "required", "default")
                elif item.get("writable") is True:
                    kind = "desired"
                    _drop(value, "required", "default")
                    if "reported_by" in extras:
                        value["reported_by"] = prefix + str(extras["reported_by"])
                else:
                    kind = "properties"
                    _drop(value, "max_rate")
                spec[kind][name] = value
            elif cls == "Command":
                spec["commands"][name] = self.command(itf, path, item, extras)
            elif cls == "Relationship":
                spec["relationships"][name] = self.relationship(itf, path, item, extras)

    def value(
        self,
        itf: _Interface,
        path: str,
        item: dict[str, Any],
        cotypes: list[str],
        extras: dict[str, Any],
    ) -> dict[str, Any] | None:
        out = self.schema_value(itf, _join(path, "schema"), item.get("schema"))
        if out is None:
            return None
        semantic = [c for c in cotypes if c in SEMANTIC_TYPES]
        unit = item.get("unit")
        if semantic and isinstance(unit, str):
            out["unit"] = UNITS[SEMANTIC_TYPES[semantic[0]]].get(unit)
        for key in ("unit", "min", "max", "max_rate", "required", "default"):
            if key in extras:
                out[key] = extras[key]
        description = text_of(item.get("description")) or text_of(item.get("displayName"))
        if description:
            out["description"] = description
        return out

    def schema_value(self, itf: _Interface, path: str, schema: Any) -> dict[str, Any] | None:
        schema = self.r.resolve(schema)
        if isinstance(schema, str) and schema in PRIMITIVES:
            dtype, exact = PRIMITIVES[schema]
            if not exact:
                self.r.note(itf.file, path, f"{schema} values are kept as text (dtype string)")
            return {"dtype": dtype}
        if isinstance(schema, dict) and schema.get("@type") == "Enum":
            values = [v["enumValue"] for v in schema.get("enumValues", [])]
            if schema.get("valueSchema") == "string":
                return {"dtype": "string", "values": values}
            self.r.note(
                itf.file,
                path,
                "integer Enum: kept as an int within its values' range; "
                "the value names are not kept",
            )
            return {"dtype": "int", "min": min(values), "max": max(values)}
        what = schema if isinstance(schema, str) else (schema or {}).get("@type", "this schema")
        self.r.note(itf.file, path, f"{what} schema has no twin-type equivalent; element left out")
        return None

    def command(
        self, itf: _Interface, path: str, item: dict[str, Any], extras: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"description": text_of(item.get("description"))}
        if isinstance(extras.get("allowed_states"), list):
            out["allowed_states"] = extras["allowed_states"]
        raw_args = extras.get("args")
        arg_extras: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        args: dict[str, Any] = {}
        request = item.get("request")
        if isinstance(request, dict):
            schema = self.r.resolve(request.get("schema"))
            rpath = _join(path, "request")
            if isinstance(schema, dict) and schema.get("@type") == "Object":
                for i, f in enumerate(schema.get("fields", [])):
                    fx, _ = decode_extras(f.get("comment"))
                    name = str(fx.get("name", f.get("name")))
                    value = self.schema_value(
                        itf, _join(rpath, f"schema.fields[{i}]"), f.get("schema")
                    )
                    if value is not None:
                        args[name] = value
            else:
                rx, _ = decode_extras(request.get("comment"))
                name = str(rx.get("name", request.get("name")))
                value = self.schema_value(itf, _join(rpath, "schema"), schema)
                if value is not None:
                    if request.get("nullable") is True:
                        value["required"] = False
                    args[name] = value
        for name, value in args.items():
            extra = arg_extras.get(name)
            if isinstance(extra, dict):
                value.update(extra)
        if args:
            out["args"] = args
        if item.get("response") is not None:
            self.r.note(
                itf.file,
                _join(path, "response"),
                "command responses are not part of a twin type; left out",
            )
        return out

    def relationship(
        self, itf: _Interface, path: str, item: dict[str, Any], extras: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"description": text_of(item.get("description"))}
        targets = extras.get("targets")
        if isinstance(targets, list):
            out["target"] = targets
        elif isinstance(item.get("target"), str):
            target = item["target"]
            if target in self.r.interfaces:
                out["target"] = [self.type_names[target]]
            else:
                self.r.fail(
                    itf.file,
                    _join(path, "target"),
                    f"unknown Interface {target!r}",
                    "an Interface defined in one of the files",
                )
                out["target"] = []
        else:
            out["target"] = sorted(set(self.type_names.values()))
            self.r.note(itf.file, path, "relationship without a target: any imported type allowed")
        out["many"] = item.get("maxMultiplicity") != 1
        if item.get("properties"):
            self.r.note(
                itf.file,
                _join(path, "properties"),
                "relationship properties are not part of a twin type; left out",
            )
        return out


def import_dtdl(sources: Mapping[str, str | bytes]) -> DtdlImport:
    """Twin types from DTDL v3 documents (file name → JSON text). Raises :class:`InteropError`."""
    reader = _Reader()
    for file, text in sources.items():
        reader.read_file(file, text)
    for itf in reader.interfaces.values():
        reader.check_contents(itf)
    ancestors = reader.check_extends()
    if reader.problems:
        raise InteropError(reader.problems)
    builder = _Builder(reader, ancestors)
    components = {
        str(item.get("schema"))
        for itf in reader.interfaces.values()
        for item in itf.body.get("contents", [])
        if isinstance(item, dict) and _classes(item.get("@type"))[0] == "Component"
    }
    for dtmi, itf in reader.interfaces.items():
        builder.check_duplicates(dtmi)
        if dtmi not in components:
            name = builder.type_name(itf)
            if name in builder.type_names.values():
                reader.fail(
                    itf.file,
                    _join(itf.path, "@id"),
                    f"a second Interface named {name!r}",
                    "Interfaces whose last DTMI segments differ",
                )
            elif not _ID.match(name):
                reader.fail(
                    itf.file,
                    _join(itf.path, "@id"),
                    f"{name!r} is not a twinworks type name",
                    "letters, digits, _, . or -",
                )
            builder.type_names[dtmi] = name
    if reader.problems:
        raise InteropError(reader.problems)
    raw = {builder.type_names[d]: builder.build(d) for d in builder.type_names}
    if reader.problems:
        raise InteropError(reader.problems)
    types: dict[str, TwinTypeSpec] = {}
    for dtmi, tname in builder.type_names.items():
        itf = reader.interfaces[dtmi]
        try:
            types[tname] = TwinTypeSpec.model_validate(raw[tname])
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                reader.fail(
                    itf.file,
                    itf.path or "(Interface)",
                    f"{where}: {err['msg']}",
                    "values a twin type accepts",
                )
    if reader.problems:
        raise InteropError(reader.problems)
    return DtdlImport(
        types=types,
        notes=reader.notes,
        interfaces={name: dtmi for dtmi, name in builder.type_names.items()},
    )


def import_dtdl_files(paths: Iterable[str | os.PathLike[str]]) -> DtdlImport:
    """Twin types from DTDL v3 files or directories of ``*.json``; raises :class:`InteropError`."""
    sources: dict[str, bytes] = {}
    problems: list[Problem] = []
    for entry in paths:
        path = Path(entry)
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                size = file.stat().st_size
                if size > MAX_FILE_BYTES:
                    problems.append(
                        Problem(
                            str(file),
                            "",
                            f"file is {size} bytes",
                            f"at most {MAX_FILE_BYTES} bytes",
                        )
                    )
                    continue
                sources[str(file)] = file.read_bytes()
            except OSError as exc:
                problems.append(Problem(str(file), "", f"cannot read the file: {exc.strerror}"))
    if problems:
        raise InteropError(problems)
    if not sources:
        raise InteropError([Problem("(arguments)", "", "no DTDL files given", "*.json files")])
    return import_dtdl(sources)
