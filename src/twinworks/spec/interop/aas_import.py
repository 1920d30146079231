"""Asset Administration Shells (AAS v3.0) back into twin types and twins.

Each shell becomes a twin; its ``assetType`` (or, without one, its idShort) names
its twin type, and the twins of one type together declare the type's elements.
Elements are read from the submodels by semantic id:

* Technical Data → properties and their values (the twin's attributes);
* Digital Nameplate → properties such as ``manufacturer_name`` and ``serial_number``
  when Technical Data does not already hold them;
* Time Series Data → telemetry (the record's variables);
* twinworks' operational data → telemetry, desired settings, commands, relationships.

Units come from the elements' IEC 61360 concept descriptions, ranges and the like
from ``twinworks:`` qualifiers. Anything else (other submodels, Files, Blobs,
Entities, ...) is listed in the notes, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from basyx.aas import model
from pydantic import ValidationError

from twinworks.spec.interop.aas_model import (
    NAMEPLATE,
    NAMEPLATE_ELEMENTS,
    OPERATIONAL_DATA,
    TECHNICAL_DATA,
    TIME_SERIES,
    TS,
    dtype_of,
    qualifiers_of,
    semantic_id_of,
)
from twinworks.spec.interop.problems import InteropError, Problem
from twinworks.spec.schema import ID_PATTERN, TwinSpec, TwinTypeSpec
from twinworks.spec.units import UnitError, check_unit

__all__ = ["AasImport", "import_environment"]

_ID = __import__("re").compile(ID_PATTERN)
# nameplate idShort -> the property name an import gives it
_NAMEPLATE_PROPERTY = {short: sources[0] for short, (_, _, sources) in NAMEPLATE_ELEMENTS.items()}
_NAMEPLATE_PROPERTY["URIOfTheProduct"] = "uri_of_the_product"


@dataclass
class AasImport:
    types: dict[str, TwinTypeSpec]
    twins: list[TwinSpec]
    notes: list[Problem] = field(default_factory=list)


def _text(value: Any) -> str:
    """English text of a multi-language value, else the first language's."""
    if not value:
        return ""
    items = dict(value)
    return str(items.get("en") or next(iter(items.values()), ""))


class _Importer:
    def __init__(self, store: model.DictIdentifiableStore[model.Identifiable], source: str) -> None:
        self.store = store
        self.source = source
        self.notes: list[Problem] = []
        self.problems: list[Problem] = []
        self.types: dict[str, dict[str, Any]] = {}
        self.twin_of_shell: dict[str, str] = {}

    def note(self, where: str, message: str) -> None:
        self.notes.append(Problem(self.source, where, message))

    def resolve(self, ref: Any) -> Any:
        try:
            return ref.resolve(self.store)
        except (KeyError, TypeError, ValueError):
            return None

    def unit_of(self, element: Any, where: str) -> str | None:
        """The unit of the element's IEC 61360 concept description, if pint knows it."""
        ref = element.semantic_id
        if not isinstance(ref, model.ModelReference):
            return None
        cd = self.resolve(ref)
        if not isinstance(cd, model.ConceptDescription):
            return None
        for eds in cd.embedded_data_specifications:
            content = eds.data_specification_content
            unit = getattr(content, "unit", None)
            if unit:
                try:
                    check_unit(unit)
                except UnitError:
                    self.note(where, f"unit {unit!r} is not one twinworks knows; left out")
                    return None
                return str(unit)
        return None

    def value_spec(self, element: Any, where: str, kind: str) -> tuple[str, dict[str, Any], Any]:
        """``(name, spec, value)`` of a Property, or of a MultiLanguageProperty as a string."""
        extras, errors = qualifiers_of(element)
        for error in errors:
            self.problems.append(Problem(self.source, where, error, "a JSON value"))
        name = str(extras.get("name", element.id_short))
        spec: dict[str, Any] = {}
        value: Any = None
        if isinstance(element, model.Property):
            dtype = dtype_of(element.value_type)
            value = element.value
            if isinstance(value, model.datatypes.AnyURI):
                value = str(value)
        else:  # MultiLanguageProperty
            dtype, value = "string", _text(element.value) or None
        if dtype != "float":
            spec["dtype"] = dtype
        unit = self.unit_of(element, where)
        if unit is not None:
            spec["unit"] = unit
        allowed = {
            "properties": ("min", "max", "values", "required", "default"),
            "telemetry": ("min", "max", "values", "max_rate"),
            "desired": ("min", "max", "values", "max_rate", "reported_by"),
            "args": ("min", "max", "values", "required", "default"),
        }[kind]
        for key in allowed:
            if key in extras:
                spec[key] = extras[key]
        description = _text(element.description)
        if description:
            spec["description"] = description
        return name, spec, value

    def elements(
        self, parent: Any, where: str, kind: str, into: dict[str, Any], values: dict[str, Any]
    ) -> None:
        for element in parent:
            path = f"{where}.{element.id_short}"
            if isinstance(element, model.Property | model.MultiLanguageProperty):
                name, spec, value = self.value_spec(element, path, kind)
                if not _ID.match(name):
                    self.note(path, f"{name!r} is not a twinworks name; left out")
                    continue
                into.setdefault(name, spec)
                if value is not None:
                    values[name] = value
            else:
                self.note(path, f"{type(element).__name__} has no twin-type equivalent; left out")

    # ------------------------------------------------------------------ submodels

    def technical_data(
        self, sm: model.Submodel, spec: dict[str, Any], twin: dict[str, Any]
    ) -> None:
        for element in sm.submodel_element:
            path = f"{sm.id_short}.{element.id_short}"
            if element.id_short == "TechnicalProperties" and isinstance(
                element, model.SubmodelElementCollection
            ):
                self.elements(
                    element.value, path, "properties", spec["properties"], twin["attributes"]
                )
            elif element.id_short != "GeneralInformation":
                self.note(path, "not read: only TechnicalProperties become properties")

    def nameplate(self, sm: model.Submodel, spec: dict[str, Any], twin: dict[str, Any]) -> None:
        for element in sm.submodel_element:
            name = _NAMEPLATE_PROPERTY.get(element.id_short)
            if name is None or not isinstance(
                element, model.Property | model.MultiLanguageProperty
            ):
                if element.id_short != "ContactInformation":
                    self.note(f"{sm.id_short}.{element.id_short}", "nameplate element not mapped")
                continue
            sources = NAMEPLATE_ELEMENTS.get(element.id_short, ("", False, (name,)))[2]
            if any(source in spec["properties"] for source in sources):
                continue  # Technical Data holds it (or what it was made from), fully declared
            value = element.value if isinstance(element, model.Property) else _text(element.value)
            if name == "uri_of_the_product" and value == twin.get("_asset_id"):
                continue  # written from the asset id by an export: nothing of the twin's own
            spec["properties"][name] = {"dtype": "string"}
            if value:
                twin["attributes"][name] = str(value)

    def time_series(self, sm: model.Submodel, spec: dict[str, Any]) -> None:
        for element in sm.submodel_element:
            if semantic_id_of(element) != TS["Metadata"] or not isinstance(
                element, model.SubmodelElementCollection
            ):
                continue
            for record in element.value:
                if semantic_id_of(record) != TS["Record"] or not isinstance(
                    record, model.SubmodelElementCollection
                ):
                    continue
                variables = [v for v in record.value if semantic_id_of(v) != TS["Time"]]
                self.elements(
                    variables, f"{sm.id_short}.Metadata.Record", "telemetry", spec["telemetry"], {}
                )

    def operational(self, sm: model.Submodel, spec: dict[str, Any], twin: dict[str, Any]) -> None:
        extras, _ = qualifiers_of(sm)
        if isinstance(extras.get("type_description"), str):
            spec.setdefault("description", extras["type_description"])
        if isinstance(extras.get("rate_limit"), dict):
            spec.setdefault("rate_limit", extras["rate_limit"])
        if isinstance(extras.get("status"), dict):
            spec.setdefault("status", extras["status"])
        for element in sm.submodel_element:
            path = f"{sm.id_short}.{element.id_short}"
            if not isinstance(element, model.SubmodelElementCollection):
                self.note(path, f"{type(element).__name__} not mapped")
                continue
            if element.id_short == "Reported":
                self.elements(element.value, path, "telemetry", spec["telemetry"], {})
            elif element.id_short == "Desired":
                self.elements(element.value, path, "desired", spec["desired"], {})
            elif element.id_short == "Commands":
                for op in element.value:
                    self.command(op, f"{path}.{op.id_short}", spec["commands"])
            elif element.id_short == "Relationships":
                for rel in element.value:
                    self.relationship(rel, f"{path}.{rel.id_short}", spec, twin)
            elif element.id_short in ("Estimates", "RemainingUsefulLife"):
                continue  # values computed by the running twin, not part of its definition
            else:
                self.note(path, "not mapped")

    def command(self, op: Any, where: str, commands: dict[str, Any]) -> None:
        if not isinstance(op, model.Operation):
            self.note(where, f"{type(op).__name__} is not an Operation; left out")
            return
        extras, _ = qualifiers_of(op)
        name = str(extras.get("name", op.id_short))
        out: dict[str, Any] = {}
        description = _text(op.description)
        if description:
            out["description"] = description
        if isinstance(extras.get("allowed_states"), list):
            out["allowed_states"] = extras["allowed_states"]
        args: dict[str, Any] = {}
        self.elements(op.input_variable, where, "args", args, {})
        if args:
            out["args"] = args
        if op.output_variable or op.in_output_variable:
            self.note(where, "output variables of an Operation are not part of a command")
        commands.setdefault(name, out)

    def relationship(
        self, rel: Any, where: str, spec: dict[str, Any], twin: dict[str, Any]
    ) -> None:
        extras, _ = qualifiers_of(rel)
        name = str(extras.get("name", rel.id_short))
        if not isinstance(rel, model.SubmodelElementCollection):
            self.note(where, f"{type(rel).__name__} not mapped")
            return
        targets: list[str] = []
        for element in rel.value:
            if isinstance(element, model.RelationshipElement) and element.second is not None:
                key = element.second.key[-1].value if element.second.key else None
                targets.append(str(key))
            else:
                self.note(f"{where}.{element.id_short}", "not a RelationshipElement; left out")
        decl: dict[str, Any] = {"target": extras.get("targets", [])}
        if extras.get("many") is True:
            decl["many"] = True
        description = _text(rel.description)
        if description:
            decl["description"] = description
        spec["relationships"].setdefault(name, decl)
        if targets:
            twin["relationships"][name] = targets  # shell ids, turned into twin ids at the end

    # ------------------------------------------------------------------ shells

    def shell(self, shell: model.AssetAdministrationShell) -> dict[str, Any]:
        info = shell.asset_information
        twin_id = next(
            (s.value for s in info.specific_asset_id if s.name == "twinworks:twinId"),
            shell.id_short,
        )
        type_name = info.asset_type or f"{shell.id_short}_type"
        if not info.asset_type:
            self.note(shell.id, f"no assetType: the twin gets a type of its own, {type_name!r}")
        twin: dict[str, Any] = {
            "id": twin_id,
            "type": type_name,
            "attributes": {},
            "relationships": {},
            "_asset_id": info.global_asset_id,
        }
        if shell.display_name:
            twin["name"] = _text(shell.display_name)
        spec = self.types.setdefault(
            type_name,
            {
                "properties": {},
                "telemetry": {},
                "desired": {},
                "commands": {},
                "relationships": {},
            },
        )
        submodels = []
        for ref in shell.submodel:
            sm = self.resolve(ref)
            if not isinstance(sm, model.Submodel):
                self.problems.append(
                    Problem(
                        self.source,
                        shell.id,
                        f"submodel {ref.key[-1].value!r} is missing",
                        "every submodel a shell refers to in the file",
                    )
                )
                continue
            submodels.append(sm)
        # Technical Data first: the nameplate only adds what it does not declare
        order = {TECHNICAL_DATA: 0, OPERATIONAL_DATA: 1, TIME_SERIES: 2, NAMEPLATE: 3}
        for sm in sorted(submodels, key=lambda s: order.get(semantic_id_of(s) or "", 9)):
            sid = semantic_id_of(sm)
            if sid == TECHNICAL_DATA:
                self.technical_data(sm, spec, twin)
            elif sid == NAMEPLATE:
                self.nameplate(sm, spec, twin)
            elif sid == TIME_SERIES:
                if not spec["telemetry"]:
                    self.time_series(sm, spec)
            elif sid == OPERATIONAL_DATA:
                self.operational(sm, spec, twin)
            else:
                self.note(
                    f"{twin_id}.{sm.id_short}",
                    f"submodel with semanticId {sid!r} not mapped to the twin",
                )
        self.twin_of_shell[shell.id] = twin_id
        return twin


def import_environment(
    store: model.DictIdentifiableStore[model.Identifiable], source: str
) -> AasImport:
    """Twin types and twins from the shells in a basyx store. Raises :class:`InteropError`."""
    importer = _Importer(store, source)
    shells = sorted(
        (o for o in store if isinstance(o, model.AssetAdministrationShell)), key=lambda s: s.id
    )
    if not shells:
        raise InteropError(
            [Problem(source, "", "no Asset Administration Shell in the file", "at least one shell")]
        )
    raw_twins = [importer.shell(s) for s in shells]
    if importer.problems:
        raise InteropError(importer.problems)
    types: dict[str, TwinTypeSpec] = {}
    problems: list[Problem] = []
    for name, raw in importer.types.items():
        try:
            types[name] = TwinTypeSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(source, f"type {name}", f"{where}: {err['msg']}"))
    twins: list[TwinSpec] = []
    for raw in raw_twins:
        raw.pop("_asset_id", None)
        rels: dict[str, Any] = {}
        many = types[raw["type"]].relationships if raw["type"] in types else {}
        for rname, shell_ids in raw["relationships"].items():
            ids = [importer.twin_of_shell.get(s, s) for s in shell_ids]
            rel = many.get(rname)
            rels[rname] = ids if (rel is not None and rel.many) or len(ids) != 1 else ids[0]
        raw["relationships"] = rels
        try:
            twins.append(TwinSpec.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(source, f"twin {raw['id']}", f"{where}: {err['msg']}"))
    if problems:
        raise InteropError(problems)
    return AasImport(types, twins, importer.notes)
