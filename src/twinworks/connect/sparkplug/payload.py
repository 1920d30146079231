"""Sparkplug B payloads: the protobuf schema, decoding into plain values, and encoding.

The schema is Eclipse Tahu's ``sparkplug_b.proto`` (package
``org.eclipse.tahu.protobuf``), declared here as data and turned into message
classes by the protobuf runtime when this module is imported -- no generated code,
no compiler at install time. Only what a host application reads and writes is
declared (payload, metrics, properties, metadata); the values of the DataSet and
Template kinds are kept as unknown fields and reported as unsupported.

The packaged Sparkplug libraries could not be used: they pin paho-mqtt below 2
(which the MQTT connector needs) or an old protobuf; see docs/interop.md (Sparkplug B).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

__all__ = [
    "DATATYPES",
    "DTYPE_OF",
    "DecodedMetric",
    "DecodedPayload",
    "PayloadError",
    "coerce",
    "decode",
    "encode",
    "field_of",
    "signed",
    "value_fits",
]

# Sparkplug B DataType enumeration (specification 3.0, section 6.4.16)
DATATYPES: dict[int, str] = {
    0: "Unknown",
    1: "Int8",
    2: "Int16",
    3: "Int32",
    4: "Int64",
    5: "UInt8",
    6: "UInt16",
    7: "UInt32",
    8: "UInt64",
    9: "Float",
    10: "Double",
    11: "Boolean",
    12: "String",
    13: "DateTime",
    14: "Text",
    15: "UUID",
    16: "DataSet",
    17: "Bytes",
    18: "File",
    19: "Template",
    20: "PropertySet",
    21: "PropertySetList",
}
_CODE = {name: code for code, name in DATATYPES.items()}

# the twin definition's dtype for each datatype a twin can hold; the rest are not covered
DTYPE_OF: dict[str, str] = {
    "Int8": "int",
    "Int16": "int",
    "Int32": "int",
    "Int64": "int",
    "UInt8": "int",
    "UInt16": "int",
    "UInt32": "int",
    "UInt64": "int",
    "DateTime": "int",
    "Float": "float",
    "Double": "float",
    "Boolean": "bool",
    "String": "string",
    "Text": "string",
    "UUID": "string",
}

# which oneof field carries a datatype's value, and the bit width of the signed ones
_FIELD = {
    "Int8": "int_value",
    "Int16": "int_value",
    "Int32": "int_value",
    "UInt8": "int_value",
    "UInt16": "int_value",
    "UInt32": "int_value",
    "Int64": "long_value",
    "UInt64": "long_value",
    "DateTime": "long_value",
    "Float": "float_value",
    "Double": "double_value",
    "Boolean": "boolean_value",
    "String": "string_value",
    "Text": "string_value",
    "UUID": "string_value",
    "Bytes": "bytes_value",
}
_SIGNED_BITS = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
_RANGE = {
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
    "DateTime": (0, 2**64 - 1),
}

# property keys under which edge nodes put a metric's engineering unit
_UNIT_KEYS = ("engUnit", "EngUnit", "engineeringUnits", "EngineeringUnits", "unit", "units")

_T = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "uint32": _T.TYPE_UINT32,
    "uint64": _T.TYPE_UINT64,
    "float": _T.TYPE_FLOAT,
    "double": _T.TYPE_DOUBLE,
    "bool": _T.TYPE_BOOL,
    "string": _T.TYPE_STRING,
    "bytes": _T.TYPE_BYTES,
}

# message → [(field, number, type, repeated, oneof)]; a type not in _SCALARS is a message
_SCHEMA: dict[str, list[tuple[str, int, str, bool, str | None]]] = {
    "Payload": [
        ("timestamp", 1, "uint64", False, None),
        ("metrics", 2, "Payload.Metric", True, None),
        ("seq", 3, "uint64", False, None),
        ("uuid", 4, "string", False, None),
        ("body", 5, "bytes", False, None),
    ],
    "Payload.PropertyValue": [
        ("type", 1, "uint32", False, None),
        ("is_null", 2, "bool", False, None),
        ("int_value", 3, "uint32", False, "value"),
        ("long_value", 4, "uint64", False, "value"),
        ("float_value", 5, "float", False, "value"),
        ("double_value", 6, "double", False, "value"),
        ("boolean_value", 7, "bool", False, "value"),
        ("string_value", 8, "string", False, "value"),
        ("propertyset_value", 9, "Payload.PropertySet", False, "value"),
        ("propertysets_value", 10, "Payload.PropertySetList", False, "value"),
    ],
    "Payload.PropertySet": [
        ("keys", 1, "string", True, None),
        ("values", 2, "Payload.PropertyValue", True, None),
    ],
    "Payload.PropertySetList": [("propertyset", 1, "Payload.PropertySet", True, None)],
    "Payload.MetaData": [
        ("is_multi_part", 1, "bool", False, None),
        ("content_type", 2, "string", False, None),
        ("size", 3, "uint64", False, None),
        ("seq", 4, "uint64", False, None),
        ("file_name", 5, "string", False, None),
        ("file_type", 6, "string", False, None),
        ("md5", 7, "string", False, None),
        ("description", 8, "string", False, None),
    ],
    "Payload.Metric": [
        ("name", 1, "string", False, None),
        ("alias", 2, "uint64", False, None),
        ("timestamp", 3, "uint64", False, None),
        ("datatype", 4, "uint32", False, None),
        ("is_historical", 5, "bool", False, None),
        ("is_transient", 6, "bool", False, None),
        ("is_null", 7, "bool", False, None),
        ("metadata", 8, "Payload.MetaData", False, None),
        ("properties", 9, "Payload.PropertySet", False, None),
        ("int_value", 10, "uint32", False, "value"),
        ("long_value", 11, "uint64", False, "value"),
        ("float_value", 12, "float", False, "value"),
        ("double_value", 13, "double", False, "value"),
        ("boolean_value", 14, "bool", False, "value"),
        ("string_value", 15, "string", False, "value"),
        ("bytes_value", 16, "bytes", False, "value"),
    ],
}
_PACKAGE = "org.eclipse.tahu.protobuf"


def _message_class() -> Any:
    """Build the Payload message class from ``_SCHEMA`` in a pool of our own."""
    file = descriptor_pb2.FileDescriptorProto(
        name="twinworks_sparkplug_b.proto", package=_PACKAGE, syntax="proto2"
    )
    payload = file.message_type.add(name="Payload")
    nested: dict[str, Any] = {"Payload": payload}
    for full in _SCHEMA:
        if full != "Payload":
            nested[full] = payload.nested_type.add(name=full.split(".", 1)[1])
    for full, fields in _SCHEMA.items():
        msg = nested[full]
        oneofs: dict[str, int] = {}
        for name, number, kind, repeated, oneof in fields:
            f = msg.field.add(name=name, number=number)
            f.label = _T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL
            if kind in _SCALARS:
                f.type = _SCALARS[kind]
            else:
                f.type = _T.TYPE_MESSAGE
                f.type_name = f".{_PACKAGE}.{kind}"
            if oneof is not None:
                if oneof not in oneofs:
                    oneofs[oneof] = len(msg.oneof_decl)
                    msg.oneof_decl.add(name=oneof)
                f.oneof_index = oneofs[oneof]
        if full == "Payload":
            msg.extension_range.add(start=6, end=536_870_912)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Payload"))


Payload = _message_class()


class PayloadError(ValueError):
    """A payload that is not a usable Sparkplug B message; ``reason`` names the kind."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class DecodedMetric:
    name: str | None
    alias: int | None
    timestamp: int | None  # ms since epoch
    datatype: str | None  # None: not given (data messages may leave it out)
    value: Any  # None for is_null
    value_field: str | None  # which oneof field was set (checked against the birth's datatype)
    is_null: bool = False
    is_historical: bool = False
    unit: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DecodedPayload:
    timestamp: int | None
    seq: int | None
    metrics: list[DecodedMetric]


def signed(value: int, datatype: str | None) -> int:
    """An IntN value read from its unsigned wire pattern (32 or N bits), as a signed int."""
    bits = _SIGNED_BITS.get(datatype or "")
    if bits is not None and value >= 1 << (bits - 1):
        # two's complement: Tahu writes negative IntN values as their unsigned pattern
        value -= 1 << (32 if bits < 64 and value >= 1 << 31 else bits)
    return value


def _property_value(pv: Any) -> Any:
    which = pv.WhichOneof("value")
    if pv.is_null or which is None:
        return None
    if which in ("propertyset_value", "propertysets_value"):
        return None  # nested sets: not used by the host
    value = getattr(pv, which)
    if which in ("int_value", "long_value"):
        value = signed(value, DATATYPES.get(pv.type))
    return value


def decode(data: bytes) -> DecodedPayload:
    """A Sparkplug B payload as plain Python values; PayloadError if it is not one."""
    msg = Payload()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeWarning) as exc:
        raise PayloadError(
            "not_sparkplug", f"not a Sparkplug B (protobuf) payload: {exc or 'cannot parse'}"
        ) from None
    metrics: list[DecodedMetric] = []
    for m in msg.metrics:
        which = m.WhichOneof("value")
        datatype = DATATYPES.get(m.datatype, f"type {m.datatype}") if m.datatype else None
        value: Any = None
        if which is not None and not m.is_null:
            value = getattr(m, which)
            if which in ("int_value", "long_value"):
                value = signed(value, datatype)
        unit = None
        props: dict[str, Any] = {}
        if m.HasField("properties"):
            for key, pv in zip(m.properties.keys, m.properties.values, strict=False):
                props[key] = _property_value(pv)
            for key in _UNIT_KEYS:
                if isinstance(props.get(key), str) and props[key]:
                    unit = props[key]
                    break
        metrics.append(
            DecodedMetric(
                m.name if m.HasField("name") else None,
                m.alias if m.HasField("alias") else None,
                m.timestamp if m.HasField("timestamp") else None,
                datatype,
                value,
                which,
                m.is_null,
                m.is_historical,
                unit,
                props,
            )
        )
    return DecodedPayload(
        msg.timestamp if msg.HasField("timestamp") else None,
        msg.seq if msg.HasField("seq") else None,
        metrics,
    )


def value_fits(datatype: str, value_field: str | None) -> bool:
    """Whether a metric's value travels in the field its datatype puts it in."""
    return value_field is None or _FIELD.get(datatype) == value_field


def field_of(datatype: str) -> str | None:
    """The payload field that carries values of ``datatype`` (None: not a plain value)."""
    return _FIELD.get(datatype)


def coerce(datatype: str, value: Any) -> Any:
    """``value`` as the Python value of a ``datatype`` metric; ValueError if it cannot be."""
    if datatype in _RANGE:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not an integer for a {datatype} metric")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an integer for a {datatype} metric")
        low, high = _RANGE[datatype]
        if not low <= int(value) <= high:
            raise ValueError(f"{value!r} is outside the range of {datatype} ({low}..{high})")
        return int(value)
    if datatype in ("Float", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number for a {datatype} metric")
        return float(value)
    if datatype == "Boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false for a Boolean metric")
        return value
    if datatype in ("String", "Text", "UUID"):
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not text for a {datatype} metric")
        return value
    if datatype == "Bytes":
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"{value!r} is not bytes for a Bytes metric")
        return bytes(value)
    raise ValueError(f"metrics of datatype {datatype} are not supported")


def encode(
    metrics: list[dict[str, Any]],
    *,
    timestamp: int | None = None,
    seq: int | None = None,
) -> bytes:
    """A payload from metric dicts: ``name``/``alias``, ``datatype`` (name), ``value``.

    Optional keys: ``timestamp`` (ms), ``properties`` (a dict of strings, numbers or
    booleans), ``is_null``. Values are checked against their datatype (ValueError).
    """
    msg = Payload()
    if timestamp is not None:
        msg.timestamp = timestamp
    if seq is not None:
        msg.seq = seq
    for spec in metrics:
        m = msg.metrics.add()
        if spec.get("name") is not None:
            m.name = spec["name"]
        if spec.get("alias") is not None:
            m.alias = spec["alias"]
        if spec.get("timestamp") is not None:
            m.timestamp = spec["timestamp"]
        datatype = spec.get("datatype")
        if datatype is not None:
            m.datatype = _CODE[datatype]
        for key, value in (spec.get("properties") or {}).items():
            m.properties.keys.append(key)
            pv = m.properties.values.add()
            if isinstance(value, bool):
                pv.type, pv.boolean_value = _CODE["Boolean"], value
            elif isinstance(value, int):
                pv.type, pv.long_value = _CODE["Int64"], value & (2**64 - 1)
            elif isinstance(value, float):
                pv.type, pv.double_value = _CODE["Double"], value
            else:
                pv.type, pv.string_value = _CODE["String"], str(value)
        if spec.get("is_null") or "value" not in spec:
            if spec.get("is_null"):
                m.is_null = True
            continue
        raw = spec["value"]
        if "value_field" in spec:  # deliberately mis-typed payloads (tests of bad input)
            setattr(m, spec["value_field"], raw)
            continue
        if datatype is None:
            raise ValueError(f"metric {spec.get('name') or spec.get('alias')}: no datatype")
        value = coerce(datatype, raw)
        bits = _SIGNED_BITS.get(datatype)
        if bits is not None and value < 0:
            value &= (1 << (32 if bits < 64 else 64)) - 1
        setattr(m, _FIELD[datatype], value)
    return bytes(msg.SerializeToString())
