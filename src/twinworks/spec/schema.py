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

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from twinworks.spec.models import ModelBindingSpec, TwinModelSpec
from twinworks.spec.production import ProductionSpec

__all__ = [
    "ID_PATTERN",
    "ArgumentSpec",
    "BindingSpec",
    "CommandRateSpec",
    "CommandSpec",
    "ConnectorSpec",
    "DType",
    "DesiredSpec",
    "OpcUaBinding",
    "OpcUaConnectorSpec",
    "OpcUaMethod",
    "OpcUaSecuritySpec",
    "PropertySpec",
    "ReconnectSpec",
    "RelationshipSpec",
    "SignalSpec",
    "TlsSpec",
    "TwinDefinition",
    "TwinSpec",
    "TwinTypeSpec",
]

DType = Literal["float", "int", "bool", "string"]

# twin ids, type names and signal names appear in URLs, topics and node ids
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"
Name = Annotated[str, Field(pattern=ID_PATTERN)]


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


class TwinTypeSpec(_Spec):
    description: str = ""
    rate_limit: CommandRateSpec | None = Field(
        default=None, description="commands per twin of this type (default: 10 per 10 s)"
    )
    properties: dict[Name, PropertySpec] = Field(default_factory=dict)
    telemetry: dict[Name, SignalSpec] = Field(default_factory=dict)
    desired: dict[Name, DesiredSpec] = Field(default_factory=dict)
    commands: dict[Name, CommandSpec] = Field(default_factory=dict)
    relationships: dict[Name, RelationshipSpec] = Field(default_factory=dict)
    models: dict[Name, ModelBindingSpec] = Field(default_factory=dict)


# ---------------------------------------------------------------- connectors


class ReconnectSpec(_Spec):
    """Exponential back-off with jitter between reconnection attempts."""

    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1, description="random fraction added or removed")


class TlsSpec(_Spec):
    """TLS for a client connector (MQTT over TLS; see twinworks.security.tls.client_ssl_context).

    Paths are read when the connector starts; the private key file must be 0600.
    """

    ca_file: str | None = Field(
        default=None, description="CA certificate(s) that sign the server's; default: the system's"
    )
    certificate: str | None = Field(default=None, description="client certificate (PEM)")
    private_key: str | None = Field(default=None, description="client private key (PEM, 0600)")
    insecure: bool = Field(
        default=False, description="do not verify the server (bench tests only, never in a plant)"
    )


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


ConnectorSpec = Annotated[OpcUaConnectorSpec, Field(discriminator="protocol")]


class OpcUaMethod(_Spec):
    object: str = Field(description="node id of the object that owns the method")
    method: str = Field(description="node id of the method")


class OpcUaBinding(_Spec):
    """Maps OPC UA node ids to a twin's telemetry, desired settings and commands."""

    connector: Name
    telemetry: dict[Name, str] = Field(default_factory=dict)
    desired: dict[Name, str] = Field(default_factory=dict)
    commands: dict[Name, OpcUaMethod] = Field(default_factory=dict)


BindingSpec = OpcUaBinding


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

    def twin(self, twin_id: str) -> TwinSpec:
        for twin in self.twins:
            if twin.id == twin_id:
                return twin
        raise KeyError(twin_id)

    def type_of(self, twin_id: str) -> TwinTypeSpec:
        return self.types[self.twin(twin_id).type]
