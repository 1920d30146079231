"""The twin-definition schema: twin types, twin instances, connectors and bindings.

A definition file declares *types* (what a kind of asset has: static properties,
telemetry, desired settings, commands, relationships) and *twins* (instances of a
type, with their attributes, relationships and connector bindings). This module
holds only the structure; cross-references (a twin's type exists, a binding names a
declared signal, ...) are checked in :mod:`twinworks.spec.validate`.

All models are frozen and forbid unknown keys, so a typo in a file is an error,
not a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from twinworks.spec.alarms import AlarmSpec
from twinworks.spec.models import ModelBindingSpec, TwinModelSpec
from twinworks.spec.nodeids import parse_node_id
from twinworks.spec.production import ProductionSpec

__all__ = [
    "ID_PATTERN",
    "STATUSES",
    "ArgumentSpec",
    "BindingSpec",
    "CommandRateSpec",
    "CommandSpec",
    "ConnectorSpec",
    "DType",
    "DesiredSpec",
    "ModbusBinding",
    "ModbusConnectorSpec",
    "ModbusRegister",
    "ModbusUnitSpec",
    "ModbusWrite",
    "MqttBinding",
    "MqttCommand",
    "MqttConnectorSpec",
    "MqttField",
    "MqttTimestamp",
    "MqttTls",
    "OpcUaBinding",
    "OpcUaConnectorSpec",
    "OpcUaMethod",
    "OpcUaNode",
    "OpcUaSecuritySpec",
    "PropertySpec",
    "ReconnectSpec",
    "RelationshipSpec",
    "SignalSpec",
    "SparkplugBinding",
    "SparkplugConnectorSpec",
    "StatusPolicySpec",
    "TlsSpec",
    "TwinDefinition",
    "TwinSpec",
    "TwinTypeSpec",
]

DType = Literal["float", "int", "bool", "string"]

# twin ids, type names and signal names appear in URLs, topics and node ids
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"
Name = Annotated[str, Field(pattern=ID_PATTERN)]

# a definition's name becomes the store's file name (<name>.db): no folders, no '..',
# nothing a file system treats specially, so that it cannot point outside the data folder
_UNSAFE_IN_FILE_NAMES = set('/\\:*?"<>|')


def _check_file_name(value: str) -> str:
    """``value`` if it is a plain file name, else ValueError saying what is wrong."""
    bad = sorted({c for c in value if c in _UNSAFE_IN_FILE_NAMES or ord(c) < 32 or c == "\x7f"})
    problem = None
    if bad:
        problem = "it contains " + " ".join(repr(c) for c in bad)
    elif value.startswith("."):
        problem = "it starts with '.'"
    elif value != value.strip():
        problem = "it starts or ends with a space"
    elif len(value) > 128:
        problem = f"it is {len(value)} characters long"
    if problem:
        raise ValueError(
            f"{value!r} is not a plain file name ({problem}); expected at most 128 characters "
            "without '/', '\\', ':', '*', '?', '\"', '<', '>', '|' and not starting with '.'"
        )
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Ranged(_Spec):
    """Shared by everything that carries a typed, possibly bounded value."""

    dtype: DType = "float"
    unit: str | None = Field(
        default=None, description="pint unit string such as 'degC', 'kW', 'mm/s'; none = unitless"
    )
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(
        default=None, description="allowed values of a string (enumeration)"
    )
    description: str = ""

    @model_validator(mode="after")
    def _check_bounds(self) -> _Ranged:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.values is not None and self.dtype != "string":
            raise ValueError("'values' lists the allowed values of a string; set dtype: string")
        if self.dtype in ("bool", "string") and (self.min is not None or self.max is not None):
            raise ValueError(f"min/max do not apply to dtype {self.dtype}")
        return self


class SignalSpec(_Ranged):
    """A telemetry signal: a time series reported by the asset."""

    max_rate: float | None = Field(
        default=None, gt=0, description="largest plausible change per second (unit/s)"
    )


class PropertySpec(_Ranged):
    """A static property (attribute) of a twin, e.g. its serial number or rated power."""

    required: bool = False
    default: Any = None


class DesiredSpec(_Ranged):
    """A writable setting: writing a desired value sends it to the asset."""

    max_rate: float | None = Field(
        default=None, gt=0, description="largest allowed change per second of the setting"
    )
    reported_by: str | None = Field(
        default=None, description="telemetry signal in which the asset reports the actual value"
    )


class ArgumentSpec(_Ranged):
    required: bool = True
    default: Any = None


class CommandSpec(_Spec):
    """An operation the asset performs on request (start, stop, change tool, ...)."""

    description: str = ""
    args: dict[Name, ArgumentSpec] = Field(default_factory=dict)
    allowed_states: list[str] | None = Field(
        default=None,
        description="values of the twin's 'state' telemetry in which the command is allowed",
    )


class RelationshipSpec(_Spec):
    """A typed link from a twin to others, e.g. ``partOf`` a cell or ``feeds`` a conveyor."""

    target: list[Name] = Field(description="twin types the relationship may point to")
    many: bool = False
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _target_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("target"), str):
            data = {**data, "target": [data["target"]]}
        return data


class CommandRateSpec(_Spec):
    """At most ``commands`` commands and desired writes per ``per_s`` seconds, per twin."""

    commands: int = Field(ge=1, le=10_000)
    per_s: float = Field(gt=0, le=86_400)


# the statuses a twin's own status signal can give (see StatusPolicySpec)
STATUSES = ("running", "idle", "setup", "maintenance", "stopped", "fault")
StatusValue = Annotated[str | bool | int, Field(union_mode="left_to_right")]


class StatusPolicySpec(_Spec):
    """Which telemetry signal tells a twin's status, and which of its values mean what.

    A value the policy does not list counts as ``running``: the asset reports, so it is
    up. Without a policy a type whose ``state`` signal is a string shows the values of
    that signal that are status names themselves (``running``, ``idle``, ...).
    """

    signal: Name = Field(description="the telemetry signal that reports the asset's state")
    running: list[StatusValue] = Field(default_factory=list)
    idle: list[StatusValue] = Field(default_factory=list)
    setup: list[StatusValue] = Field(default_factory=list)
    maintenance: list[StatusValue] = Field(default_factory=list)
    stopped: list[StatusValue] = Field(default_factory=list)
    fault: list[StatusValue] = Field(default_factory=list)

    def statuses(self) -> dict[Any, str]:
        """Each listed value of the signal → the status it means."""
        return {value: status for status in STATUSES for value in getattr(self, status)}


class TwinTypeSpec(_Spec):
    description: str = ""
    status: StatusPolicySpec | None = Field(
        default=None, description="which signal and values mean running, idle, fault, ..."
    )
    rate_limit: CommandRateSpec | None = Field(
        default=None, description="commands per twin of this type (default: 10 per 10 s)"
    )
    properties: dict[Name, PropertySpec] = Field(default_factory=dict)
    telemetry: dict[Name, SignalSpec] = Field(default_factory=dict)
    desired: dict[Name, DesiredSpec] = Field(default_factory=dict)
    commands: dict[Name, CommandSpec] = Field(default_factory=dict)
    relationships: dict[Name, RelationshipSpec] = Field(default_factory=dict)
    # limit, rate-of-change and anomaly alarms (see twinworks.spec.alarms)
    alarms: dict[Name, AlarmSpec] = Field(default_factory=dict)
    models: dict[Name, ModelBindingSpec] = Field(default_factory=dict)

    def status_policy(self) -> StatusPolicySpec | None:
        """The declared status policy, else the default one (see StatusPolicySpec), if any."""
        if self.status is not None:
            return self.status
        state = self.telemetry.get("state")
        if state is None or state.dtype != "string":
            return None
        known = state.values if state.values is not None else list(STATUSES)
        return StatusPolicySpec(
            signal="state",
            **{s: [s] for s in STATUSES if s in known},  # type: ignore[arg-type]
        )


# ---------------------------------------------------------------- connectors


class ReconnectSpec(_Spec):
    """Exponential back-off with jitter between reconnection attempts."""

    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1, description="random fraction added or removed")


class TlsSpec(_Spec):
    """TLS for a client connector (MQTT over TLS; see twinworks.security.tls.client_ssl_context).

    Paths are PEM files, read when the connector starts; the private key file must be
    0600. ``cert_file`` and ``key_file`` are accepted for ``certificate`` and
    ``private_key`` (the MQTT connector's earlier names).
    """

    ca_file: str | None = Field(
        default=None, description="CA certificate(s) that sign the server's; default: the system's"
    )
    certificate: str | None = Field(
        default=None,
        validation_alias=AliasChoices("certificate", "cert_file"),
        description="client certificate (PEM), for brokers that require one (mutual TLS)",
    )
    private_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("private_key", "key_file"),
        description="client private key (PEM, 0600)",
    )
    insecure: bool = Field(
        default=False,
        description="do not verify the server: no CA check, no host name check "
        "(bench tests only, never in a plant)",
    )

    @model_validator(mode="after")
    def _key_with_certificate(self) -> TlsSpec:
        if self.private_key is not None and self.certificate is None:
            raise ValueError("tls: a private_key needs its certificate")
        return self


class OpcUaSecuritySpec(_Spec):
    """OPC UA secure channel: a security policy, a mode and this client's certificate."""

    policy: Literal["Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"] = (
        "Basic256Sha256"
    )
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: str = Field(description="this client's certificate (PEM or DER)")
    private_key: str = Field(description="this client's private key (PEM or DER, mode 0600)")
    server_certificate: str | None = Field(
        default=None,
        description="the server's certificate, to pin it; without it the certificate the "
        "server offers is accepted (trust on first use)",
    )
    username: str | None = None
    password: SecretStr | None = Field(
        default=None, description="use ${ENV_VAR}: never write the password into the file"
    )


class OpcUaConnectorSpec(_Spec):
    protocol: Literal["opcua"]
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    publishing_interval_ms: float = Field(default=100, gt=0)
    request_timeout_s: float = Field(default=4.0, gt=0)
    reconnect: ReconnectSpec = ReconnectSpec()
    security: OpcUaSecuritySpec | None = Field(
        default=None, description="sign and encrypt the channel (Basic256Sha256 and certificates)"
    )
    description: str = ""


MqttTls = TlsSpec  # the MQTT connector's TLS block is the shared one


class MqttConnectorSpec(_Spec):
    """One MQTT broker connection (MQTT 3.1.1 or 5) shared by every twin bound to it."""

    protocol: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    version: Literal["3.1.1", "5"] = "5"
    client_id: str | None = Field(
        default=None,
        max_length=128,
        description="stable id for a persistent session; default twinworks-<connector name>",
    )
    clean_session: bool = Field(
        default=False,
        description="false: the broker keeps subscriptions and QoS 1 messages while we are away",
    )
    session_expiry_s: int = Field(
        default=86_400, ge=0, description="MQTT 5: how long the broker keeps a persistent session"
    )
    qos: Literal[0, 1] = 1
    keepalive_s: int = Field(default=30, ge=5, le=65_535)
    username: str | None = None
    password: str | None = None
    tls: TlsSpec | None = Field(
        default=None, description="TLS towards the broker (port 8883 by convention)"
    )
    max_payload_bytes: int = Field(
        default=256 * 1024, gt=0, description="larger messages are dead-lettered as oversized"
    )
    receive_maximum: int = Field(
        default=10_000,
        ge=1,
        le=65_535,
        description="MQTT 5: QoS 1 messages the broker may have in flight to us, unacknowledged",
    )
    reconnect: ReconnectSpec = ReconnectSpec()
    description: str = ""

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML reads `version: 5` as a number
        return str(value) if isinstance(value, int | float) else value


class ModbusUnitSpec(_Spec):
    """One unit id behind a Modbus TCP server (a device behind a gateway).

    A unit that does not answer in time is retried after its own back-off, while the
    connection and the other units carry on.
    """

    timeout_s: float | None = Field(
        default=None, gt=0, description="answer timeout of one request; default: connector's"
    )
    backoff: ReconnectSpec | None = Field(
        default=None, description="retry delays after a failed request; default: reconnect"
    )


class ModbusConnectorSpec(_Spec):
    """One Modbus TCP server (a PLC, a gateway); its registers are polled at a fixed rate."""

    protocol: Literal["modbus"]
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    poll_interval_s: float = Field(default=1.0, gt=0, description="default polling period")
    timeout_s: float = Field(default=2.0, gt=0, description="answer timeout of one request")
    max_block: int = Field(
        default=100, ge=1, le=125, description="registers read in one request at most"
    )
    reconnect: ReconnectSpec = ReconnectSpec()
    units: dict[int, ModbusUnitSpec] = Field(
        default_factory=dict, description="settings of single unit ids behind this server"
    )
    scaled_writes: Literal["round", "refuse"] = Field(
        default="round",
        description="a scaled value that falls between register steps: round it (and say so "
        "in the acknowledgement) or refuse the write",
    )
    description: str = ""

    @field_validator("units")
    @classmethod
    def _unit_ids(cls, units: dict[int, ModbusUnitSpec]) -> dict[int, ModbusUnitSpec]:
        wrong = sorted(u for u in units if not 0 <= u <= 255)
        if wrong:
            raise ValueError(f"unit ids are 0 to 255, not {', '.join(map(str, wrong))}")
        return units


# Sparkplug B names: groups, edge nodes and devices are topic levels (no / + # allowed)
_SPB_ID = r"^[^/+#]{1,128}$"


class SparkplugConnectorSpec(_Spec):
    """A Sparkplug B host application on one broker (see twinworks.connect.sparkplug)."""

    protocol: Literal["sparkplug"]
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    host_id: str = Field(
        default="twinworks",
        pattern=_SPB_ID,
        description="primary host id: STATE is published on spBv1.0/STATE/<host_id>",
    )
    groups: list[Annotated[str, Field(pattern=_SPB_ID)]] = Field(
        default_factory=list,
        description="group ids to subscribe to; default: the groups of the bindings",
    )
    client_id: str | None = Field(default=None, max_length=128)
    keepalive_s: int = Field(default=30, ge=5, le=65_535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsSpec | None = None
    qos: Literal[0, 1] = Field(
        default=1,
        description="subscription QoS; 0 spares an acknowledgement per message (edge nodes "
        "publish data at QoS 0, so the broker delivers it so anyway)",
    )
    rebirth_on_connect: bool = Field(
        default=True,
        description="ask every bound edge node for a rebirth after connecting, so the "
        "metric aliases are known at once",
    )
    max_payload_bytes: int = Field(default=256 * 1024, gt=0)
    reconnect: ReconnectSpec = ReconnectSpec()
    description: str = ""


ConnectorSpec = Annotated[
    OpcUaConnectorSpec | MqttConnectorSpec | ModbusConnectorSpec | SparkplugConnectorSpec,
    Field(discriminator="protocol"),
]


def _node_id(value: Any) -> Any:
    """Refuse a malformed node id when the definition is read, not when ``up`` connects."""
    if isinstance(value, str):
        parse_node_id(value)  # raises NodeIdError (a ValueError): reported with its line
    return value


NodeIdText = Annotated[str, AfterValidator(_node_id)]


class OpcUaMethod(_Spec):
    object: NodeIdText = Field(description="node id of the object that owns the method")
    method: NodeIdText = Field(description="node id of the method")


class OpcUaNode(_Spec):
    """A telemetry value read from a node: the whole value, or one element of an array.

    ``enum`` turns an enumeration's code into a name: a table ``{0: stopped, 1:
    running}``, ``true`` for the node's own EnumStrings/EnumValues (the default when
    the node has them), or ``false`` to keep the number.
    """

    node: NodeIdText
    index: int | None = Field(
        default=None, ge=0, description="element of an array value (0-based), e.g. Profile[2]"
    )
    enum: dict[int, str] | bool | None = Field(
        default=None,
        description="code → name table; true: the node's EnumStrings; false: keep the code",
    )


class OpcUaBinding(_Spec):
    """Maps OPC UA node ids to a twin's telemetry, desired settings and commands.

    A telemetry entry is a node id (``ns=3;s=Press7.Temperature``) or a mapping
    with ``node`` plus ``index`` (one element of an array) and/or ``enum``. One node
    may feed several signals (e.g. the elements of one array); each gets its value.
    """

    protocol: Literal["opcua"] = "opcua"
    connector: Name
    telemetry: dict[Name, OpcUaNode] = Field(default_factory=dict)
    desired: dict[Name, NodeIdText] = Field(default_factory=dict)
    commands: dict[Name, OpcUaMethod] = Field(default_factory=dict)
    uncertain: Literal["keep", "drop"] = Field(
        default="keep",
        description="values with an Uncertain status: keep them (marked uncertain) or drop them",
    )

    @field_validator("telemetry", mode="before")
    @classmethod
    def _node_shorthand(cls, value: Any) -> Any:
        # `temperature: ns=3;s=T` is short for `temperature: {node: ns=3;s=T}`
        if isinstance(value, dict):
            return {k: {"node": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


# ------------------------------------------------------------------- MQTT bindings

_TOPIC_FIELD = "{twin_id}"
_SIGNAL_FIELD = "{signal}"
# a payload path: keys joined by dots, list elements by index (values.0 or values[0])
_PATH = re.compile(r"^[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*$")


def _check_topic(topic: str, what: str, wildcards: bool = False) -> str:
    """A topic template: literal levels, ``{twin_id}``, and for telemetry ``{signal}``,
    ``+`` (any one level) and a last ``#`` (any levels)."""
    if not topic or len(topic.encode()) > 65_535:
        raise ValueError(f"{what} must be 1 to 65535 bytes")
    levels = topic.split("/")
    placeholders = (_TOPIC_FIELD, _SIGNAL_FIELD) if wildcards else (_TOPIC_FIELD,)
    for i, level in enumerate(levels):
        if level in placeholders:
            if levels.count(level) > 1:
                raise ValueError(f"{what} {topic!r}: {level} may appear once")
            continue
        if level.startswith("{") and level.endswith("}") and level.count("{") == 1:
            known = (
                "the placeholders are " + " and ".join(placeholders)
                if len(placeholders) > 1
                else f"the only placeholder is {_TOPIC_FIELD}"
            )
            raise ValueError(f"{what} {topic!r}: unknown placeholder {level}; {known}")
        if "{" in level or "}" in level:
            raise ValueError(
                f"{what} {topic!r}: level {level!r}: a placeholder ("
                + ", ".join(placeholders)
                + ") must be a whole topic level"
            )
        if "+" in level or "#" in level:
            if not wildcards:
                raise ValueError(f"{what} {topic!r}: wildcards + and # are not allowed here")
            if level not in ("+", "#") or (level == "#" and i != len(levels) - 1):
                raise ValueError(
                    f"{what} {topic!r}: a wildcard is a whole level: + anywhere, # last"
                )
    return topic


def _check_path(path: str, what: str) -> str:
    if not _PATH.match(path):
        raise ValueError(
            f"{what} {path!r} is not a payload path; expected keys joined by dots, "
            "list elements by index: data.sensors.2.value or data.sensors[2].value"
        )
    return path


class MqttField(_Spec):
    """Where a telemetry value sits in a payload, and how to turn it into the signal."""

    path: str | None = Field(
        default=None,
        min_length=1,
        description="dotted path, e.g. data.pressure, values.0 or data.sensors[2].value; "
        "with the signal named by the topic or a payload field: default the binding's value",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        description="the signal's name in the topic's {signal} level or the binding's "
        "signal_field; default the signal's own name",
    )
    scale: float = 1.0
    offset: float = 0.0
    enum: dict[str, str] | None = Field(
        default=None, description="raw value (as text) → state name, e.g. {0: idle, 1: running}"
    )
    unit_in_value: bool = Field(
        default=False,
        description="the value is text: a number and its unit ('7.2 bar'), converted to the "
        "signal's declared unit; a number alone is taken in the declared unit",
    )
    decimal: Literal[".", ","] = Field(
        default=".", description="decimal separator of numbers sent as text ('12,5 m3/h': ',')"
    )

    @field_validator("enum", mode="before")
    @classmethod
    def _enum_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k).lower() if isinstance(k, bool) else str(k): v for k, v in value.items()}
        return value

    @field_validator("path")
    @classmethod
    def _path_syntax(cls, value: str | None) -> str | None:
        return _check_path(value, "path") if value is not None else None

    @model_validator(mode="after")
    def _text_or_codes(self) -> MqttField:
        if self.enum is not None and self.unit_in_value:
            raise ValueError("enum maps state codes; unit_in_value reads numbers: choose one")
        return self


class MqttTimestamp(_Spec):
    path: str = Field(default="ts", min_length=1)
    unit: Literal["s", "ms", "us", "ns", "iso"] = Field(
        default="s", description="epoch seconds/milliseconds/... or an ISO 8601 string"
    )
    timezone: str | None = Field(
        default=None,
        description="zone of ISO times written without an offset (e.g. Europe/Berlin, UTC); "
        "none: the server's local zone, with a warning the first time",
    )

    @field_validator("path")
    @classmethod
    def _path_syntax(cls, value: str) -> str:
        return _check_path(value, "timestamp path")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; expected an IANA name such as "
                "Europe/Berlin, America/Chicago or UTC"
            ) from None
        return value


class MqttCommand(_Spec):
    name: str | None = Field(default=None, description="the name the device knows; default ours")


class MqttBinding(_Spec):
    """Telemetry from messages on a topic; commands out and acknowledgements back.

    ``topic`` may hold ``{twin_id}`` as a whole level (``plant/{twin_id}/telemetry``):
    twins that share a template share one wildcard subscription, and a message
    for a twin the definition does not know is dead-lettered as ``unknown_twin``.
    ``{signal}`` names the signal a message carries (one value per topic), ``+`` is
    any one level and a last ``#`` any levels. In a payload, ``twin_field`` and
    ``signal_field`` name the twin and the signal of each record (gateways that send
    many devices in one message).
    """

    protocol: Literal["mqtt"] = "mqtt"
    connector: Name
    topic: str = Field(
        description="telemetry topic template, e.g. plant/{twin_id}/telemetry or "
        "plant/+/{twin_id}/{signal}"
    )
    device: str | None = Field(
        default=None,
        min_length=1,
        description="what the source calls this twin (in the {twin_id} level of its topics, "
        "or in twin_field); "
        "default the twin id",
    )
    twin_field: str | None = Field(
        default=None, description="payload field naming the twin of each record, e.g. device"
    )
    signal_field: str | None = Field(
        default=None, description="payload field naming the signal of each record, e.g. signal"
    )
    value: str = Field(
        default="value",
        description="where the value is when the topic or signal_field names the signal",
    )
    retained: Literal["skip", "arrival"] = Field(
        default="skip",
        description="retained messages without their own timestamp: skip (their age is "
        "unknown) or store them stamped with their arrival time",
    )
    timestamp: MqttTimestamp | None = Field(
        default=None, description="where the source time is; none: the time of arrival"
    )
    telemetry: dict[Name, MqttField] = Field(default_factory=dict)
    command_topic: str | None = Field(default=None, description="e.g. plant/{twin_id}/cmd")
    reply_topic: str | None = Field(
        default=None, description="where the device acknowledges, e.g. plant/{twin_id}/cmd/reply"
    )
    ack_timeout_s: float = Field(
        default=5.0, gt=0, description="no acknowledgement within this time: the command failed"
    )
    desired: dict[Name, MqttCommand] = Field(default_factory=dict)
    commands: dict[Name, MqttCommand] = Field(default_factory=dict)

    @field_validator("telemetry", mode="before")
    @classmethod
    def _field_shorthand(cls, value: Any) -> Any:
        # `pressure: data.p` is short for `pressure: {path: data.p}`; a list of names
        # (signals named by the topic or a payload field) for `{name: {}, ...}`
        if isinstance(value, list):
            return {k: {} for k in value}
        if isinstance(value, dict):
            return {
                k: {"path": v} if isinstance(v, str) else {} if v is None else v
                for k, v in value.items()
            }
        return value

    @field_validator("desired", "commands", mode="before")
    @classmethod
    def _command_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: {} if v is None else v for k, v in value.items()}
        return value

    @field_validator("twin_field", "signal_field", "value")
    @classmethod
    def _path_syntax(cls, value: str | None) -> str | None:
        return _check_path(value, "path") if value is not None else None

    @property
    def signal_routed(self) -> bool:
        """Whether each message or record names its signal (topic level or payload field)."""
        return self.signal_field is not None or _SIGNAL_FIELD in self.topic.split("/")

    @model_validator(mode="after")
    def _check_topics(self) -> MqttBinding:
        _check_topic(self.topic, "topic", wildcards=True)
        for name in ("command_topic", "reply_topic"):
            value = getattr(self, name)
            if value is not None:
                _check_topic(value, name)
        if (self.desired or self.commands) and self.command_topic is None:
            raise ValueError("desired values and commands need a command_topic to publish to")
        if self.reply_topic is not None and self.command_topic is None:
            raise ValueError("reply_topic is set but command_topic is not")
        levels = self.topic.split("/")
        if _TOPIC_FIELD in levels and self.twin_field is not None:
            raise ValueError(
                f"the twin is named twice: by {_TOPIC_FIELD} in the topic and by twin_field "
                f"{self.twin_field!r}; keep one"
            )
        if _SIGNAL_FIELD in levels and self.signal_field is not None:
            raise ValueError(
                f"the signal is named twice: by {_SIGNAL_FIELD} in the topic and by "
                f"signal_field {self.signal_field!r}; keep one"
            )
        if self.signal_routed:
            names: dict[str, str] = {}
            for signal, f in self.telemetry.items():
                source = f.name or signal
                if source in names:
                    raise ValueError(
                        f"telemetry {names[source]!r} and {signal!r} both take the source "
                        f"signal {source!r}"
                    )
                names[source] = signal
        else:
            for signal, f in self.telemetry.items():
                if f.path is None:
                    raise ValueError(
                        f"telemetry {signal!r}: no path; give the payload path of its value "
                        f"(or name signals by a {_SIGNAL_FIELD} topic level or signal_field)"
                    )
                if f.name is not None:
                    raise ValueError(
                        f"telemetry {signal!r}: name is the signal's name in a "
                        f"{_SIGNAL_FIELD} topic level or signal_field, and this binding has "
                        "neither"
                    )
        return self


# ------------------------------------------------------------------- Modbus bindings

RegisterType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bool", "string"
]
# coils and discrete inputs hold single bits; holding and input registers 16-bit words
BIT_TABLES = ("coil", "discrete_input")


class _Register(_Spec):
    address: int = Field(ge=0, le=65_535, description="0-based register address")
    type: RegisterType = "uint16"
    word_order: Literal["big", "little"] = Field(
        default="big", description="big: the first register holds the most significant word"
    )
    byte_order: Literal["big", "little"] = Field(
        default="big", description="within each register; little = bytes swapped"
    )
    scale: float = Field(default=1.0, description="value = raw * scale + offset")
    offset: float = 0.0
    length: int | None = Field(
        default=None, ge=1, le=123, description="for type string: registers it spans (2 chars each)"
    )
    table: str = "holding"

    @model_validator(mode="after")
    def _check_scale(self) -> _Register:
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if (self.type == "string") != (self.length is not None):
            raise ValueError("type string needs 'length' (registers), and only it takes one")
        if self.type == "string" and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError("a string cannot be scaled")
        if self.table in BIT_TABLES and self.type not in ("bool", "uint16"):
            raise ValueError(f"a {self.table} holds one bit: its type is bool")
        if self.table in BIT_TABLES and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"a {self.table} holds one bit and cannot be scaled")
        return self

    @property
    def is_bit(self) -> bool:
        """Held in a coil or discrete input (one bit), not in 16-bit registers."""
        return self.table in BIT_TABLES


class ModbusRegister(_Register):
    """A telemetry value (or a writable setting) held in registers, a coil or a discrete input."""

    table: Literal["holding", "input", "coil", "discrete_input"] = "holding"
    bit: int | None = Field(default=None, ge=0, le=15, description="for type bool: one bit")
    enum: dict[int, str] | None = Field(
        default=None,
        description="register value → state name, e.g. {0: stopped, 1: running}; "
        "a code not listed arrives as 'unknown(<code>)'",
    )

    @model_validator(mode="after")
    def _check_bit(self) -> ModbusRegister:
        if self.bit is not None and self.type != "bool":
            raise ValueError("bit applies to type bool only")
        if self.bit is not None and self.is_bit:
            raise ValueError(f"bit applies to registers; a {self.table} is a single bit already")
        if self.enum is not None and (self.is_bit or self.type in ("string", "bool")):
            raise ValueError("enum maps integer codes: use an integer register type")
        return self


class ModbusWrite(_Register):
    """A command: write a constant, or one of the command's arguments, to a register or coil."""

    table: Literal["holding", "coil"] = "holding"
    value: float | int | bool | str | None = None
    arg: Name | None = Field(default=None, description="the command argument to write")

    @model_validator(mode="after")
    def _value_or_arg(self) -> ModbusWrite:
        if (self.value is None) == (self.arg is None):
            raise ValueError("give exactly one of 'value' (a constant) and 'arg' (an argument)")
        return self


class ModbusBinding(_Spec):
    """Registers of one Modbus unit mapped to a twin's telemetry, settings and commands."""

    protocol: Literal["modbus"] = "modbus"
    connector: Name
    unit_id: int = Field(default=1, ge=0, le=255)
    poll_interval_s: float | None = Field(default=None, gt=0, description="default: connector's")
    telemetry: dict[Name, ModbusRegister] = Field(default_factory=dict)
    desired: dict[Name, ModbusRegister] = Field(default_factory=dict)
    commands: dict[Name, ModbusWrite | list[ModbusWrite]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _desired_in_holding(self) -> ModbusBinding:
        for name, reg in self.desired.items():
            if reg.table not in ("holding", "coil"):
                raise ValueError(f"desired {name!r}: only holding registers and coils are writable")
        return self


class SparkplugBinding(_Spec):
    """A Sparkplug edge node, or a device under it, mapped to a twin.

    ``telemetry``, ``desired`` and ``commands`` map the twin's names to Sparkplug
    metric names (``temperature: Inputs/Temperature``); a list means the same name
    on both sides. Commands and desired values are sent as NCMD (no ``device``) or
    DCMD with the datatype the metric had in its birth certificate.
    """

    protocol: Literal["sparkplug"] = "sparkplug"
    connector: Name
    group: str = Field(pattern=_SPB_ID)
    edge_node: str = Field(pattern=_SPB_ID)
    device: str | None = Field(default=None, pattern=_SPB_ID, description="none: the node itself")
    telemetry: dict[Name, str] = Field(default_factory=dict)
    desired: dict[Name, str] = Field(default_factory=dict)
    commands: dict[Name, str] = Field(default_factory=dict)

    @field_validator("telemetry", "desired", "commands", mode="before")
    @classmethod
    def _same_name(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: name for name in value}
        return value


def _binding_protocol(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("protocol", "opcua"))
    return str(getattr(data, "protocol", "opcua"))


BindingSpec = Annotated[
    Annotated[OpcUaBinding, Tag("opcua")]
    | Annotated[MqttBinding, Tag("mqtt")]
    | Annotated[ModbusBinding, Tag("modbus")]
    | Annotated[SparkplugBinding, Tag("sparkplug")],
    Discriminator(_binding_protocol),
]


class TwinSpec(_Spec):
    id: Name
    type: Name
    name: str = ""
    attributes: dict[Name, Any] = Field(default_factory=dict)
    relationships: dict[Name, Name | list[Name]] = Field(default_factory=dict)
    bindings: list[BindingSpec] = Field(default_factory=list)
    models: dict[Name, TwinModelSpec] = Field(default_factory=dict)


class TwinDefinition(_Spec):
    """A whole definition file."""

    version: Literal[1] = 1
    name: str = ""
    description: str = ""
    connectors: dict[Name, ConnectorSpec] = Field(default_factory=dict)
    types: dict[Name, TwinTypeSpec] = Field(default_factory=dict)
    twins: list[TwinSpec] = Field(default_factory=list)
    # what the line makes and how: routings, stations, shifts (see twinworks.spec.production)
    production: ProductionSpec | None = None

    @field_validator("name")
    @classmethod
    def _name_is_a_file_name(cls, value: str) -> str:
        return _check_file_name(value) if value else value

    @model_validator(mode="before")
    @classmethod
    def _binding_protocols(cls, data: Any) -> Any:
        """Tell each binding the protocol of its connector, so it is read by the right model."""
        if not isinstance(data, dict):
            return data
        connectors, twins = data.get("connectors"), data.get("twins")
        if not isinstance(connectors, dict) or not isinstance(twins, list):
            return data
        protocols = {
            name: c.get("protocol") if isinstance(c, dict) else getattr(c, "protocol", None)
            for name, c in connectors.items()
        }
        new_twins = []
        for twin in twins:
            bindings = twin.get("bindings") if isinstance(twin, dict) else None
            if isinstance(bindings, list):
                tagged = []
                for b in bindings:
                    protocol = protocols.get(b.get("connector")) if isinstance(b, dict) else None
                    if isinstance(b, dict) and "protocol" not in b and isinstance(protocol, str):
                        b = {**b, "protocol": protocol}
                    tagged.append(b)
                twin = {**twin, "bindings": tagged}
            new_twins.append(twin)
        return {**data, "twins": new_twins}

    def twin(self, twin_id: str) -> TwinSpec:
        for twin in self.twins:
            if twin.id == twin_id:
                return twin
        raise KeyError(twin_id)

    def type_of(self, twin_id: str) -> TwinTypeSpec:
        return self.types[self.twin(twin_id).type]
