"""Twins as Asset Administration Shells (AAS v3.0), one shell per twin.

Each shell has:

* **Digital Nameplate** (IDTA 02006, 2.0) — from the twin's properties (``manufacturer``,
  ``serial_number``, ``year_of_construction``, ...) when it has what the template
  requires; otherwise it is left out and a note names what was missing;
* **Technical Data** (IDTA 02003, 1.2) — every property of the twin with its value;
* **Time Series Data** (IDTA 02008, 1.1) — the telemetry signals as the record, and one
  linked segment per signal pointing at the API route that serves its history;
* **operational data** (twinworks) — telemetry and desired settings with their latest
  values when a store is read, model estimates, remaining useful life, commands as
  Operations, relationships as RelationshipElements.

Units, dtypes and descriptions go into IEC 61360 concept descriptions; ranges and the
rest into ``twinworks:`` qualifiers, so that :mod:`twinworks.spec.interop.aas_import`
can rebuild the twin definition from the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from basyx.aas import model

from twinworks.spec.interop.aas_model import (
    CONTACT,
    CONTACT_ELEMENTS,
    DTYPE_VALUE_TYPE,
    NAMEPLATE,
    NAMEPLATE_ELEMENTS,
    OPERATIONAL_DATA,
    TECHNICAL,
    TECHNICAL_DATA,
    TIME_SERIES,
    TS,
    global_ref,
    id_short,
    qualifier,
)
from twinworks.spec.interop.problems import Problem
from twinworks.spec.schema import (
    ArgumentSpec,
    DesiredSpec,
    PropertySpec,
    SignalSpec,
    TwinDefinition,
    TwinSpec,
    TwinTypeSpec,
)

__all__ = [
    "SUBMODELS",
    "AasExport",
    "OperationalData",
    "ShellWriter",
    "build_environment",
    "default_prefix",
    "shell_id",
    "submodel_id",
]

# the idShorts (and last id segments) of the submodels a shell may have
SUBMODELS = ("Nameplate", "TechnicalData", "TimeSeries", "OperationalData")

_Ranged = PropertySpec | SignalSpec | DesiredSpec | ArgumentSpec
_IEC61360 = "https://admin-shell.io/DataSpecificationTemplates/DataSpecificationIec61360/3"
# a MEASURE needs a unit (AASc-3a-009); a unitless number is a COUNT
_IEC_TYPE = {
    "float": model.DataTypeIEC61360.REAL_COUNT,
    "int": model.DataTypeIEC61360.INTEGER_COUNT,
    "bool": model.DataTypeIEC61360.BOOLEAN,
    "string": model.DataTypeIEC61360.STRING,
}
_MEASURE = {
    "float": model.DataTypeIEC61360.REAL_MEASURE,
    "int": model.DataTypeIEC61360.INTEGER_MEASURE,
    "bool": model.DataTypeIEC61360.BOOLEAN,
    "string": model.DataTypeIEC61360.STRING,
}
TELEMETRY_ROUTE = "/api/v1/twins/{twin}/telemetry/{signal}"


@dataclass
class OperationalData:
    """A twin's latest state as read from a store; the export writes it as values."""

    reported: dict[str, tuple[float, Any]] = field(default_factory=dict)
    desired: dict[str, Any] = field(default_factory=dict)  # the last value written
    estimates: dict[str, tuple[float, Any]] = field(default_factory=dict)
    rul: dict[str, Any] | None = None


@dataclass
class AasExport:
    store: model.DictIdentifiableStore[model.Identifiable]
    shells: list[str]
    notes: list[Problem] = field(default_factory=list)


def default_prefix(definition_name: str) -> str:
    """``urn:twinworks:<name>``: the identifier prefix when none is given."""
    return "urn:twinworks:" + (re.sub(r"[^A-Za-z0-9._-]", "-", definition_name) or "plant")


def shell_id(prefix: str, twin_id: str) -> str:
    return f"{prefix}:aas:{twin_id}"


def submodel_id(prefix: str, twin_id: str, which: str) -> str:
    return f"{prefix}:sm:{twin_id}:{which}"


def _text(text: str) -> model.MultiLanguageTextType | None:
    return model.MultiLanguageTextType({"en": text[:1023]}) if text else None


def _value(dtype: str, value: Any) -> Any:
    """A value as the Property's value type accepts it; None when it does not fit."""
    if value is None:
        return None
    try:
        if dtype == "float":
            number = float(value)
            return number if math.isfinite(number) else None
        if dtype == "int":
            return int(value)
        if dtype == "bool":
            return bool(value)
        return str(value)
    except (TypeError, ValueError):
        return None


class ShellWriter:
    """Builds shells into :attr:`store`; ``operational`` rebuilds one twin's live submodel."""

    def __init__(self, definition: TwinDefinition, prefix: str, api_url: str) -> None:
        self.d = definition
        self.prefix = prefix
        self.api_url = api_url.rstrip("/")
        self.store: model.DictIdentifiableStore[model.Identifiable] = model.DictIdentifiableStore()
        self.notes: list[Problem] = []
        self.concepts: dict[str, model.ConceptDescription] = {}

    def concept(self, type_name: str, kind: str, name: str, spec: _Ranged) -> model.Reference:
        """The concept description of one element of a type (shared by its twins)."""
        cid = f"{self.prefix}:cd:{type_name}:{kind}:{name}"
        if cid not in self.concepts:
            content = model.DataSpecificationIEC61360(
                preferred_name=model.PreferredNameTypeIEC61360({"en": name[:255]}),
                data_type=_MEASURE[spec.dtype] if spec.unit else _IEC_TYPE[spec.dtype],
                # a definition is mandatory (AASc-3a-008)
                definition=model.DefinitionTypeIEC61360(
                    {"en": (spec.description or f"{kind} {name} of {type_name}")[:1023]}
                ),
                unit=spec.unit or None,
            )
            cd = model.ConceptDescription(
                cid,
                id_short=id_short(name),
                embedded_data_specifications=[
                    model.EmbeddedDataSpecification(global_ref(_IEC61360), content)
                ],
            )
            self.concepts[cid] = cd
            self.store.add(cd)
        return model.ModelReference(
            (model.Key(model.KeyTypes.CONCEPT_DESCRIPTION, cid),), model.ConceptDescription
        )

    def element(
        self, type_name: str, kind: str, name: str, spec: _Ranged, value: Any = None
    ) -> model.Property:
        quals = []
        if id_short(name) != name:
            quals.append(qualifier("name", name))
        for key in ("min", "max", "values", "max_rate", "reported_by"):
            v = getattr(spec, key, None)
            if v is not None:
                quals.append(qualifier(key, v))
        if isinstance(spec, PropertySpec | ArgumentSpec):
            if spec.required != isinstance(spec, ArgumentSpec):
                quals.append(qualifier("required", spec.required))
            if spec.default is not None:
                quals.append(qualifier("default", spec.default))
        return model.Property(
            id_short(name),
            DTYPE_VALUE_TYPE[spec.dtype],
            _value(spec.dtype, value),
            description=_text(spec.description),
            semantic_id=self.concept(type_name, kind, name, spec),
            qualifier=quals,
        )

    # ------------------------------------------------------------------ submodels

    def nameplate(self, twin: TwinSpec, ttype: TwinTypeSpec) -> model.Submodel | None:
        values = {k: v for k, v in twin.attributes.items() if v is not None}
        for name, prop in ttype.properties.items():
            if name not in values and prop.default is not None:
                values[name] = prop.default
        elements: list[model.SubmodelElement] = []
        found: set[str] = set()
        for short, (sid, multi, sources) in NAMEPLATE_ELEMENTS.items():
            source = next((s for s in sources if s in values), None)
            if source is None:
                if short == "URIOfTheProduct":
                    # the asset's global id is the URI that identifies this product instance
                    elements.append(
                        model.Property(short, str, self.asset_id(twin), semantic_id=global_ref(sid))
                    )
                    found.add(short)
                continue
            text = str(values[source])
            found.add(short)
            if multi:
                elements.append(
                    model.MultiLanguageProperty(short, _text(text), semantic_id=global_ref(sid))
                )
            else:
                elements.append(model.Property(short, str, text, semantic_id=global_ref(sid)))
        contact: list[model.SubmodelElement] = []
        for short, (sid, sources) in CONTACT_ELEMENTS.items():
            source = next((s for s in sources if s in values), None)
            if source is not None:
                contact.append(
                    model.MultiLanguageProperty(
                        short, _text(str(values[source])), semantic_id=global_ref(sid)
                    )
                )
        missing = [
            n
            for n in ("ManufacturerName", "ManufacturerProductDesignation", "YearOfConstruction")
            if n not in found
        ]
        if not {"ManufacturerProductFamily", "ManufacturerProductType"} & found:
            missing.append("ManufacturerProductFamily or ManufacturerProductType")
        if missing or not contact:
            if len(found) > 1:  # more than the URI: the twin meant to have a nameplate
                wanted = ", ".join(missing) if missing else "manufacturer contact information"
                self.notes.append(
                    Problem(twin.id, "Nameplate", f"no Digital Nameplate: it requires {wanted}")
                )
            return None
        elements.append(
            model.SubmodelElementCollection(
                "ContactInformation", contact, semantic_id=global_ref(CONTACT)
            )
        )
        return model.Submodel(
            submodel_id(self.prefix, twin.id, "Nameplate"),
            elements,
            id_short="Nameplate",
            semantic_id=global_ref(NAMEPLATE),
        )

    def technical_data(self, twin: TwinSpec, ttype: TwinTypeSpec) -> model.Submodel:
        general: list[model.SubmodelElement] = []
        for short in ("ManufacturerName", "ManufacturerProductDesignation"):
            _, _, sources = NAMEPLATE_ELEMENTS[short]
            source = next((s for s in sources if s in twin.attributes), None)
            if source is not None:
                general.append(
                    model.MultiLanguageProperty(
                        short,
                        _text(str(twin.attributes[source])),
                        semantic_id=global_ref(TECHNICAL[short]),
                    )
                )
        props = [
            self.element(twin.type, "property", name, spec, twin.attributes.get(name))
            for name, spec in ttype.properties.items()
        ]
        elements: list[model.SubmodelElement] = []
        if general:
            elements.append(
                model.SubmodelElementCollection(
                    "GeneralInformation",
                    general,
                    semantic_id=global_ref(TECHNICAL["GeneralInformation"]),
                )
            )
        if props:
            elements.append(
                model.SubmodelElementCollection(
                    "TechnicalProperties",
                    props,
                    semantic_id=global_ref(TECHNICAL["TechnicalProperties"]),
                )
            )
        return model.Submodel(
            submodel_id(self.prefix, twin.id, "TechnicalData"),
            elements,
            id_short="TechnicalData",
            semantic_id=global_ref(TECHNICAL_DATA),
        )

    def time_series(self, twin: TwinSpec, ttype: TwinTypeSpec) -> model.Submodel:
        record: list[model.SubmodelElement] = [
            model.Property("Time", model.datatypes.DateTime, semantic_id=global_ref(TS["Time"]))
        ]
        segments: list[model.SubmodelElement] = []
        for name, spec in ttype.telemetry.items():
            record.append(
                model.Property(
                    id_short(name),
                    DTYPE_VALUE_TYPE[spec.dtype],
                    semantic_id=self.concept(twin.type, "telemetry", name, spec),
                )
            )
            route = TELEMETRY_ROUTE.format(twin=twin.id, signal=name)
            segments.append(
                model.SubmodelElementCollection(
                    id_short(name),
                    [
                        model.MultiLanguageProperty(
                            "Name", _text(name), semantic_id=global_ref(TS["Name"])
                        ),
                        model.Property(
                            "Endpoint",
                            model.datatypes.AnyURI,
                            model.datatypes.AnyURI(self.api_url + route),
                            semantic_id=global_ref(TS["Endpoint"]),
                        ),
                        model.Property(
                            "Query",
                            str,
                            "start={start}&end={end}&bucket={width}",
                            semantic_id=global_ref(TS["Query"]),
                        ),
                    ],
                    semantic_id=global_ref(TS["LinkedSegment"]),
                )
            )
        metadata = model.SubmodelElementCollection(
            "Metadata",
            [
                model.MultiLanguageProperty("Name", _text(f"{twin.name or twin.id} telemetry")),
                model.SubmodelElementCollection(
                    "Record", record, semantic_id=global_ref(TS["Record"])
                ),
            ],
            semantic_id=global_ref(TS["Metadata"]),
        )
        return model.Submodel(
            submodel_id(self.prefix, twin.id, "TimeSeries"),
            [
                metadata,
                model.SubmodelElementCollection(
                    "Segments", segments, semantic_id=global_ref(TS["Segments"])
                ),
            ],
            id_short="TimeSeries",
            semantic_id=global_ref(TIME_SERIES),
        )

    def operational(
        self, twin: TwinSpec, ttype: TwinTypeSpec, live: OperationalData | None
    ) -> model.Submodel:
        reported = live.reported if live else {}
        elements: list[model.SubmodelElement] = []
        telemetry = [
            self.element(twin.type, "telemetry", n, s, reported.get(n, (None, None))[1])
            for n, s in ttype.telemetry.items()
        ]
        wanted = live.desired if live else {}
        desired = [
            self.element(twin.type, "desired", n, s, wanted.get(n))
            for n, s in ttype.desired.items()
        ]
        for short, items in (("Reported", telemetry), ("Desired", desired)):
            if items:
                elements.append(model.SubmodelElementCollection(short, items))
        if live is not None and live.estimates:
            elements.append(
                model.SubmodelElementCollection(
                    "Estimates",
                    [
                        model.Property(id_short(n), float, _value("float", v))
                        if isinstance(v, int | float) and not isinstance(v, bool)
                        else model.Property(id_short(n), str, _value("string", v))
                        for n, (_, v) in sorted(live.estimates.items())
                    ],
                )
            )
        if live is not None and live.rul:
            rul = [
                model.Property(id_short(k), float, _value("float", v))
                for k, v in live.rul.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            rul += [
                model.Property(id_short(k), str, str(v))
                for k, v in live.rul.items()
                if isinstance(v, str)
            ]
            elements.append(model.SubmodelElementCollection("RemainingUsefulLife", rul))
        commands: list[model.SubmodelElement] = []
        for name, cmd in ttype.commands.items():
            quals = [qualifier("name", name)] if id_short(name) != name else []
            if cmd.allowed_states is not None:
                quals.append(qualifier("allowed_states", cmd.allowed_states))
            commands.append(
                model.Operation(
                    id_short(name),
                    input_variable=[
                        self.element(twin.type, f"command.{name}", a, spec)
                        for a, spec in cmd.args.items()
                    ],
                    description=_text(cmd.description),
                    qualifier=quals,
                )
            )
        if commands:
            elements.append(model.SubmodelElementCollection("Commands", commands))
        relationships: list[model.SubmodelElement] = []
        for name, rel in ttype.relationships.items():
            targets = twin.relationships.get(name, [])
            target_list = [targets] if isinstance(targets, str) else list(targets)
            quals = [qualifier("targets", rel.target), qualifier("many", rel.many)]
            if id_short(name) != name:
                quals.append(qualifier("name", name))
            relationships.append(
                model.SubmodelElementCollection(
                    id_short(name),
                    [
                        model.RelationshipElement(
                            f"{id_short(name)}_{i}",
                            self.shell_ref(twin.id),
                            self.shell_ref(target),
                        )
                        for i, target in enumerate(target_list)
                    ],
                    description=_text(rel.description),
                    qualifier=quals,
                )
            )
        if relationships:
            elements.append(model.SubmodelElementCollection("Relationships", relationships))
        quals = []
        if ttype.description:
            quals.append(qualifier("type_description", ttype.description))
        if ttype.rate_limit is not None:
            quals.append(qualifier("rate_limit", ttype.rate_limit.model_dump()))
        if ttype.status is not None:  # the status policy: which values mean running, fault...
            quals.append(qualifier("status", ttype.status.model_dump()))
        return model.Submodel(
            submodel_id(self.prefix, twin.id, "OperationalData"),
            elements,
            id_short="OperationalData",
            semantic_id=global_ref(OPERATIONAL_DATA),
            qualifier=quals,
        )

    def asset_id(self, twin: TwinSpec) -> str:
        return f"{self.prefix}:asset:{twin.id}"

    def shell_ref(self, twin_id: str) -> model.ModelReference[model.AssetAdministrationShell]:
        return model.ModelReference(
            (model.Key(model.KeyTypes.ASSET_ADMINISTRATION_SHELL, shell_id(self.prefix, twin_id)),),
            model.AssetAdministrationShell,
        )

    def shell(self, twin: TwinSpec, live: OperationalData | None) -> str:
        ttype = self.d.types[twin.type]
        submodels = [
            self.nameplate(twin, ttype),
            self.technical_data(twin, ttype),
            self.time_series(twin, ttype) if ttype.telemetry else None,
            self.operational(twin, ttype, live),
        ]
        refs = set()
        for sm in submodels:
            if sm is not None:
                self.store.add(sm)
                refs.add(model.ModelReference.from_referable(sm))
        sid = shell_id(self.prefix, twin.id)
        self.store.add(
            model.AssetAdministrationShell(
                model.AssetInformation(
                    model.AssetKind.INSTANCE,
                    global_asset_id=self.asset_id(twin),
                    asset_type=twin.type,
                    specific_asset_id=[model.SpecificAssetId("twinworks:twinId", twin.id)],
                ),
                sid,
                id_short=id_short(twin.id),
                display_name=model.MultiLanguageNameType({"en": twin.name[:128]})
                if twin.name
                else None,
                submodel=refs,
            )
        )
        skipped = [
            what
            for what, present in (
                ("connector bindings", twin.bindings),
                ("model parameters", twin.models),
                ("alarms", ttype.alarms),
                ("model bindings", ttype.models),
            )
            if present
        ]
        if skipped:
            self.notes.append(Problem(twin.id, "", "not part of the shell: " + ", ".join(skipped)))
        return sid


def build_environment(
    definition: TwinDefinition,
    prefix: str,
    api_url: str = "http://127.0.0.1:8321",
    live: dict[str, OperationalData] | None = None,
) -> AasExport:
    """One shell per twin, its submodels and concept descriptions, in a basyx object store."""
    exporter = ShellWriter(definition, prefix, api_url)
    shells = [exporter.shell(twin, (live or {}).get(twin.id)) for twin in definition.twins]
    for what in ("connectors", "production"):
        if getattr(definition, what):
            exporter.notes.append(
                Problem("(definition)", what, "no shell holds this section; not written")
            )
    return AasExport(exporter.store, shells, exporter.notes)
