"""Twin definitions: types, instances, connectors and bindings, loaded from YAML.

>>> from twinworks.spec import parse_definition
>>> d = parse_definition('''
... types:
...   pump: {telemetry: {flow: {unit: "m**3/h", min: 0, max: 500}}}
... twins:
...   - {id: p1, type: pump}
... ''')
>>> d.type_of("p1").telemetry["flow"].max
500.0
"""

from twinworks.spec.alarms import AlarmSpec, AnomalyAlarmSpec, LimitAlarmSpec, RateAlarmSpec
from twinworks.spec.loader import LIMITS, load_definition, parse_definition
from twinworks.spec.schema import (
    ArgumentSpec,
    BindingSpec,
    CommandSpec,
    ConnectorSpec,
    DesiredSpec,
    DType,
    OpcUaBinding,
    OpcUaConnectorSpec,
    OpcUaMethod,
    OpcUaNode,
    OpcUaSecuritySpec,
    PropertySpec,
    ReconnectSpec,
    RelationshipSpec,
    SignalSpec,
    TlsSpec,
    TwinDefinition,
    TwinSpec,
    TwinTypeSpec,
)
from twinworks.spec.validate import check_value

__all__ = [
    "LIMITS",
    "AlarmSpec",
    "AnomalyAlarmSpec",
    "ArgumentSpec",
    "BindingSpec",
    "CommandSpec",
    "ConnectorSpec",
    "DType",
    "DesiredSpec",
    "LimitAlarmSpec",
    "OpcUaBinding",
    "OpcUaConnectorSpec",
    "OpcUaMethod",
    "OpcUaNode",
    "OpcUaSecuritySpec",
    "PropertySpec",
    "RateAlarmSpec",
    "ReconnectSpec",
    "RelationshipSpec",
    "SignalSpec",
    "TlsSpec",
    "TwinDefinition",
    "TwinSpec",
    "TwinTypeSpec",
    "check_value",
    "load_definition",
    "parse_definition",
]
