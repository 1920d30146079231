"""A vendor-style OPC UA server for the connector's tests, run in the test's event loop.

It looks like what a plant engineer meets on a real machine, not like the demo plant:

* two registered namespaces, the machine's nodes in the *second* one
  (``urn:vendor:common`` is index 2, ``urn:vendor:press`` index 3 — or the reverse
  when started with ``swap_namespaces=True``, as after a firmware update);
* string node ids with ``/`` and ``.``, numeric ids, nested folders;
* Int16, UInt32, Float, Double, Boolean, String, DateTime, an Int32 enumeration
  with EnumStrings, a Double[5] array;
* a sensor whose status the test sets to Bad or Uncertain;
* a writable setpoint with EURange and EngineeringUnits, a read-only serial number;
* a method with typed input arguments that refuses any other type, as strict
  servers do (``BadTypeMismatch``);
* optionally Basic256Sha256 only, with a user name and password.

``stop()`` and ``start()`` again restart it on the same port.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

from twinworks.security.opcua import secure_server

__all__ = ["PRESS", "VendorServer"]

COMMON_URI = "urn:vendor:common"
PRESS_URI = "urn:vendor:press"

# string identifiers of the press's nodes (in the PRESS_URI namespace)
PRESS = {
    "line": "Line1",
    "press": "Line1/Press7",
    "temperature": "Line1/Press7/Temperature.PV",
    "count": "Line1/Press7/Counters.Strokes16",
    "total": "Line1/Press7/Counters.Total",
    "running": "Line1/Press7/Running",
    "recipe": "Line1/Press7/Recipe.Name",
    "serviced": "Line1/Press7/LastService",
    "mode": "Line1/Press7/Mode",
    "profile": "Line1/Press7/Profile",
    "sensor": "Line1/Press7/Oil.Pressure",
    "setpoint": "Line1/Press7/Speed.SP",
    "serial": "Line1/Press7/Serial",
    "set_speed": "Line1/Press7/SetSpeed",
}
FORCE_ID = 1002  # numeric identifier of the Float force node
MODES = ["Stopped", "Running", "Fault"]
SERVICED_AT = dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC)


class _Users:
    """One operator with a password, as a vendor server configures it."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, **_: Any
    ) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


@dataclass
class VendorServer:
    port: int
    swap_namespaces: bool = False
    certificate: Path | None = None
    private_key: Path | None = None
    users: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    server: Server | None = None
    ns: int = 0

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/vendor/press"

    def node_id(self, key: str) -> ua.NodeId:
        return ua.NodeId(PRESS[key], self.ns)

    async def start(self) -> None:
        server = Server(user_manager=_Users(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Press vendor server")
        if self.certificate is not None and self.private_key is not None:
            await secure_server(server, self.certificate, self.private_key)
            server.set_security_IDs(["Username"])
        uris = [COMMON_URI, PRESS_URI]
        if self.swap_namespaces:
            uris.reverse()
        for uri in uris:
            await server.register_namespace(uri)
        self.ns = await server.get_namespace_index(PRESS_URI)
        common = await server.get_namespace_index(COMMON_URI)
        ns = self.ns
        objects = server.nodes.objects
        await objects.add_folder(ua.NodeId("Info", common), ua.QualifiedName("Info", common))
        line = await objects.add_folder(self.node_id("line"), ua.QualifiedName("Line1", ns))
        press = await line.add_object(self.node_id("press"), ua.QualifiedName("Press7", ns))

        async def var(key: str, name: str, value: Any, vtype: ua.VariantType) -> Any:
            return await press.add_variable(
                self.node_id(key), ua.QualifiedName(name, ns), ua.Variant(value, vtype)
            )

        temperature = await var("temperature", "Temperature", 21.5, ua.VariantType.Double)
        await _engineering(temperature, "°C", "CEL", 0.0, 200.0)
        force = await press.add_variable(
            ua.NodeId(FORCE_ID, ns),
            ua.QualifiedName("Force", ns),
            ua.Variant(0.1, ua.VariantType.Float),
        )
        await _engineering(force, "kN", "KN", 0.0, 500.0)
        await var("count", "Strokes", 7, ua.VariantType.Int16)
        await var("total", "Total", 4_000_000_000, ua.VariantType.UInt32)
        await var("running", "Running", True, ua.VariantType.Boolean)
        await var("recipe", "Recipe", "bracket-A", ua.VariantType.String)
        await var("serviced", "LastService", SERVICED_AT, ua.VariantType.DateTime)
        mode = await press.add_variable(
            self.node_id("mode"),
            ua.QualifiedName("Mode", ns),
            ua.Variant(1, ua.VariantType.Int32),
            datatype=ua.NodeId(ua.ObjectIds.Enumeration),
        )
        await mode.add_property(
            ua.NodeId(f"{PRESS['mode']}.EnumStrings", ns),
            ua.QualifiedName("EnumStrings", 0),
            ua.Variant([ua.LocalizedText(s) for s in MODES], ua.VariantType.LocalizedText),
        )
        await var("profile", "Profile", [1.0, 2.0, 3.0, 4.0, 5.0], ua.VariantType.Double)
        sensor = await var("sensor", "OilPressure", 5.0, ua.VariantType.Double)
        await _engineering(sensor, "bar", "BAR", 0.0, 10.0)
        setpoint = await var("setpoint", "SpeedSetpoint", 40.0, ua.VariantType.Double)
        await _engineering(setpoint, "1/min", "RPM", 10.0, 90.0)
        await setpoint.set_writable()
        await var("serial", "Serial", "P7-0042", ua.VariantType.String)

        async def set_speed(parent: ua.NodeId, speed: ua.Variant, ramp: ua.Variant) -> Any:
            # strict, like a PLC's method: the declared types or nothing
            if speed.VariantType != ua.VariantType.Int16 or ramp.VariantType != (
                ua.VariantType.Boolean
            ):
                return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
            self.calls.append((speed.Value, ramp.Value))
            await setpoint.write_value(ua.Variant(float(speed.Value), ua.VariantType.Double))
            return [ua.Variant(True, ua.VariantType.Boolean)]

        speed_arg = ua.Argument()
        speed_arg.Name = "speed"
        speed_arg.DataType = ua.NodeId(ua.ObjectIds.Int16)
        speed_arg.ValueRank = -1
        speed_arg.Description = ua.LocalizedText("strokes per minute")
        ramp_arg = ua.Argument()
        ramp_arg.Name = "ramp"
        ramp_arg.DataType = ua.NodeId(ua.ObjectIds.Boolean)
        ramp_arg.ValueRank = -1
        await press.add_method(
            self.node_id("set_speed"),
            ua.QualifiedName("SetSpeed", ns),
            set_speed,
            [speed_arg, ramp_arg],
            [ua.VariantType.Boolean],
        )
        await server.start()
        self.server = server

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> VendorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def write(self, key: str | int, value: Any, vtype: ua.VariantType, **kw: Any) -> None:
        """Write a value as the machine would, optionally with a status code."""
        assert self.server is not None
        node_id = ua.NodeId(FORCE_ID, self.ns) if key == FORCE_ID else self.node_id(str(key))
        status = kw.get("status", ua.StatusCodes.Good)
        await self.server.get_node(node_id).write_value(
            ua.DataValue(
                ua.Variant(value, vtype),
                StatusCode=ua.StatusCode(status),
                SourceTimestamp=dt.datetime.now(dt.UTC),
            )
        )

    async def read(self, key: str) -> Any:
        assert self.server is not None
        return await self.server.get_node(self.node_id(key)).read_value()


async def _engineering(node: Any, unit: str, code: str, low: float, high: float) -> None:
    """EURange and EngineeringUnits properties, as an AnalogItem carries them."""
    info = ua.EUInformation()
    info.NamespaceUri = "http://www.opcfoundation.org/UA/units/un/cefact"
    info.UnitId = sum(ord(c) << (8 * i) for i, c in enumerate(reversed(code[:3])))
    info.DisplayName = ua.LocalizedText(unit)
    info.Description = ua.LocalizedText(unit)
    await node.add_property(
        ua.NodeId(f"{node.nodeid.Identifier}.EngineeringUnits", node.nodeid.NamespaceIndex),
        ua.QualifiedName("EngineeringUnits", 0),
        ua.Variant(info, ua.VariantType.ExtensionObject),
    )
    rng = ua.Range()
    rng.Low, rng.High = low, high
    await node.add_property(
        ua.NodeId(f"{node.nodeid.Identifier}.EURange", node.nodeid.NamespaceIndex),
        ua.QualifiedName("EURange", 0),
        ua.Variant(rng, ua.VariantType.ExtensionObject),
    )
