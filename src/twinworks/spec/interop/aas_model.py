"""What the Asset Administration Shell export and import share: semantic ids, names, qualifiers.

Submodels follow the IDTA templates a plant expects (Digital Nameplate 2.0, Technical
Data 1.2, Time Series Data 1.1); the twin's live state and its type information go
into an operational-data submodel of twinworks' own (``OPERATIONAL_DATA``). What the
AAS meta-model has no field for (a valid range, a rate limit, the states a command
is allowed in) is written as qualifiers ``twinworks:<key>`` with a JSON value, and
units as IEC 61360 concept descriptions: an import reads both back.
"""

from __future__ import annotations

import json
import re
from typing import Any

from basyx.aas import model

__all__ = [
    "CONTACT",
    "CONTACT_ELEMENTS",
    "DTYPE_VALUE_TYPE",
    "NAMEPLATE",
    "NAMEPLATE_ELEMENTS",
    "OPERATIONAL_DATA",
    "QUALIFIER_PREFIX",
    "TECHNICAL",
    "TECHNICAL_DATA",
    "TIME_SERIES",
    "TS",
    "dtype_of",
    "global_ref",
    "id_short",
    "qualifier",
    "qualifiers_of",
    "semantic_id_of",
]

NAMEPLATE = "https://admin-shell.io/zvei/nameplate/2/0/Nameplate"
CONTACT = "https://admin-shell.io/zvei/nameplate/1/0/ContactInformations/ContactInformation"
TECHNICAL_DATA = "https://admin-shell.io/ZVEI/TechnicalData/Submodel/1/2"
TIME_SERIES = "https://admin-shell.io/idta/TimeSeries/1/1"
OPERATIONAL_DATA = "urn:twinworks:submodel:OperationalData:1:0"

# Technical Data 1.2 and Time Series 1.1 elements
TECHNICAL = {
    "GeneralInformation": "https://admin-shell.io/ZVEI/TechnicalData/GeneralInformation/1/1",
    "TechnicalProperties": "https://admin-shell.io/ZVEI/TechnicalData/TechnicalProperties/1/1",
    "ManufacturerName": "0173-1#02-AAO677#002",
    "ManufacturerProductDesignation": "0173-1#02-AAW338#001",
}
TS = {
    "Metadata": "https://admin-shell.io/idta/TimeSeries/Metadata/1/1",
    "Record": "https://admin-shell.io/idta/TimeSeries/Record/1/1",
    "Time": "https://admin-shell.io/idta/TimeSeries/UtcTime/1/1",
    "Segments": "https://admin-shell.io/idta/TimeSeries/Segments/1/1",
    "LinkedSegment": "https://admin-shell.io/idta/TimeSeries/Segments/LinkedSegment/1/1",
    "Endpoint": "https://admin-shell.io/idta/TimeSeries/Endpoint/1/1",
    "Query": "https://admin-shell.io/idta/TimeSeries/Query/1/1",
    "Name": "https://admin-shell.io/idta/TimeSeries/Segment/Name/1/1",
}

# Digital Nameplate 2.0: idShort -> (semantic id, multi-language?, twin property names that
# fill it, first match wins). Required by the template: URIOfTheProduct, ManufacturerName,
# ManufacturerProductDesignation, ContactInformation, YearOfConstruction, and a family or type.
NAMEPLATE_ELEMENTS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "URIOfTheProduct": ("0173-1#02-AAY811#001", False, ("uri_of_the_product", "product_uri")),
    "ManufacturerName": ("0173-1#02-AAO677#002", True, ("manufacturer_name", "manufacturer")),
    "ManufacturerProductDesignation": (
        "0173-1#02-AAW338#001",
        True,
        ("manufacturer_product_designation", "product_designation", "model"),
    ),
    "ManufacturerProductFamily": (
        "0173-1#02-AAU731#001",
        True,
        ("manufacturer_product_family", "product_family"),
    ),
    "ManufacturerProductType": (
        "0173-1#02-AAO057#002",
        True,
        ("manufacturer_product_type", "product_type", "model"),
    ),
    "OrderCodeOfManufacturer": ("0173-1#02-AAO227#002", True, ("order_code",)),
    "ProductArticleNumberOfManufacturer": ("0173-1#02-AAO676#003", True, ("article_number",)),
    "SerialNumber": ("0173-1#02-AAM556#002", False, ("serial_number", "serial")),
    "YearOfConstruction": ("0173-1#02-AAP906#001", False, ("year_of_construction",)),
    "HardwareVersion": ("0173-1#02-AAN270#002", True, ("hardware_version",)),
    "FirmwareVersion": ("0173-1#02-AAM985#002", True, ("firmware_version",)),
    "SoftwareVersion": ("0173-1#02-AAM737#002", True, ("software_version",)),
    "CountryOfOrigin": ("0173-1#02-AAO259#004", False, ("country_of_origin",)),
}
# contact information of the manufacturer: idShort -> (semantic id, twin property names)
CONTACT_ELEMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Company": ("0173-1#02-AAW001#001", ("manufacturer_name", "manufacturer")),
    "Street": ("0173-1#02-AAO128#002", ("manufacturer_street",)),
    "Zipcode": ("0173-1#02-AAO129#002", ("manufacturer_zipcode",)),
    "CityTown": ("0173-1#02-AAO132#002", ("manufacturer_city",)),
    "NationalCode": ("0173-1#02-AAO134#002", ("manufacturer_country",)),
}

DTYPE_VALUE_TYPE: dict[str, type] = {"float": float, "int": int, "bool": bool, "string": str}

QUALIFIER_PREFIX = "twinworks:"

_ID_SHORT = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]*[a-zA-Z0-9_]+$")


def id_short(name: str) -> str:
    """An AAS idShort for a twinworks name (which may hold '.', or be one letter)."""
    text = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:128]
    if not text[:1].isalpha():
        text = "x" + text
    if not _ID_SHORT.match(text):
        text = (text + "_")[:128]
    return text


def global_ref(iri: str) -> model.ExternalReference:
    return model.ExternalReference((model.Key(model.KeyTypes.GLOBAL_REFERENCE, iri),))


def semantic_id_of(element: Any) -> str | None:
    ref = getattr(element, "semantic_id", None)
    if ref is None or not ref.key:
        return None
    return str(ref.key[0].value)


def qualifier(key: str, value: Any) -> model.Qualifier:
    return model.Qualifier(QUALIFIER_PREFIX + key, str, json.dumps(value))


def qualifiers_of(element: Any) -> tuple[dict[str, Any], list[str]]:
    """``({key: value}, errors)`` of the element's twinworks qualifiers; others are ignored."""
    out: dict[str, Any] = {}
    errors = []
    for q in getattr(element, "qualifier", ()):
        if not q.type.startswith(QUALIFIER_PREFIX):
            continue
        try:
            out[q.type[len(QUALIFIER_PREFIX) :]] = json.loads(str(q.value))
        except ValueError:
            errors.append(f"qualifier {q.type} is not JSON: {q.value!r}")
    return out, errors


def dtype_of(value_type: Any) -> str:
    """The twinworks dtype of an XSD value type (basyx's Python class for it)."""
    if value_type is bool:
        return "bool"
    if isinstance(value_type, type) and issubclass(value_type, int):
        return "int"
    if value_type in (float, model.datatypes.Float) or getattr(value_type, "__name__", "") == (
        "Decimal"
    ):
        return "float"
    return "string"
