"""MQTT over TLS against a real mosquitto with a TLS listener and certificates made here.

The test makes its own CA, a server certificate for 127.0.0.1 signed by it, and a
client certificate (mutual TLS), with the ``cryptography`` package; mosquitto gets a
second listener on a free loopback port that speaks TLS only. Devices publish on the
plain listener; the twin's connector talks TLS to the same broker.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError
from tests.conftest import free_port
from tests.connect.devices import MqttDevice, wait_published
from tests.connect.test_mqtt import definition, message, until

from twinworks.plant.broker import MosquittoBroker
from twinworks.runtime import Runtime
from twinworks.spec import TlsSpec
from twinworks.store import MemoryStore

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.integration,
    # paho can leave the socket of a refused TLS handshake to the garbage collector (the
    # connector collects it at once; a collection elsewhere may still see one)
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Pki:
    """A CA, and certificates it signs, written as PEM files into ``directory``."""

    def __init__(self, directory: Path, name: str = "twinworks test CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, cn: str, server: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(cn))]),
                critical=False,
            )
        return _write(self.directory, stem, builder.sign(self.key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _listener(pki: Pki, port: int, require_certificate: bool = False) -> str:
    cert, key = pki.issue("server", "127.0.0.1", server=True)
    lines = [
        f"listener {port} 127.0.0.1",
        f"cafile {pki.ca_path}",
        f"certfile {cert}",
        f"keyfile {key}",
        "tls_version tlsv1.2",
    ]
    if require_certificate:
        lines.append("require_certificate true")
    return "\n".join(lines)


async def test_telemetry_and_commands_over_tls_with_a_password(tmp_path: Path, pki: Pki) -> None:
    tls_port = free_port()
    with MosquittoBroker(
        directory=tmp_path / "b", users={"plant": "s3cret"}, extra_config=_listener(pki, tls_port)
    ) as broker:
        tls = f"tls: {{ca_file: {pki.ca_path}}}"
        defn = definition(
            tls_port, twins=("c1",), extra=f"{tls}\n    username: plant\n    password: s3cret"
        )
        store = MemoryStore()
        async with Runtime(defn, store) as rt:
            connector = rt.connectors["broker"]
            assert await connector.wait_connected(10), connector.status.last_error
            with MqttDevice(
                broker.port,
                "dev",
                command_topic="plant/c1/cmd",
                username="plant",
                password="s3cret",
            ) as dev:
                wait_published([dev.publish("plant/c1/telemetry", message(i)) for i in range(300)])
                await until(lambda: store.count("c1") == 1200, what="telemetry over TLS")
                ok = await rt.wait_command(await rt.call_command("c1", "start"), 5)
                assert ok.status == "acknowledged"
            assert connector.status.details["acknowledged"] >= 300
        # TLS does not stand in for the password: a wrong one is still refused
        wrong = definition(
            tls_port, twins=("c1",), extra=f"{tls}\n    username: plant\n    password: guess"
        )
        async with Runtime(wrong, MemoryStore()) as rt:
            connector = rt.connectors["broker"]
            await until(lambda: connector.status.last_error is not None, what="a refusal")
            assert not connector.status.connected
            assert "username and password" in (connector.status.last_error or "")


async def test_a_broker_signed_by_another_ca_is_refused_clearly(tmp_path: Path, pki: Pki) -> None:
    other = Pki(tmp_path / "other", name="some other CA")
    tls_port = free_port()
    with MosquittoBroker(directory=tmp_path / "b", extra_config=_listener(pki, tls_port)):
        wrong_ca = definition(tls_port, twins=("c1",), extra=f"tls: {{ca_file: {other.ca_path}}}")
        async with Runtime(wrong_ca, MemoryStore()) as rt:
            connector = rt.connectors["broker"]
            await until(lambda: connector.status.last_error is not None, what="a TLS refusal")
            assert not connector.status.connected
            error = connector.status.last_error or ""
            assert f"the broker at 127.0.0.1:{tls_port} was not verified" in error
            assert "certificate" in error  # what OpenSSL found wrong with it
            assert "tls.ca_file" in error
        # verification off (a bench test only): the same CA mismatch is let through
        off = definition(
            tls_port, twins=("c1",), extra=f"tls: {{ca_file: {other.ca_path}, insecure: true}}"
        )
        async with Runtime(off, MemoryStore()) as rt:
            assert await rt.connectors["broker"].wait_connected(10)


async def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    defn = definition(free_port(), twins=("c1",), extra=f"tls: {{ca_file: {missing}}}")
    async with Runtime(defn, MemoryStore()) as rt:
        connector = rt.connectors["broker"]
        await until(lambda: connector.status.last_error is not None, what="an error")
        assert f"TLS: cannot load ca_file {missing}" in (connector.status.last_error or "")


async def test_mutual_tls_needs_the_client_certificate(tmp_path: Path, pki: Pki) -> None:
    cert, key = pki.issue("client", "twinworks", server=False)
    tls_port = free_port()
    listener = _listener(pki, tls_port, require_certificate=True)
    with MosquittoBroker(directory=tmp_path / "b", extra_config=listener) as broker:
        # the earlier names cert_file and key_file are still understood
        mutual = f"tls: {{ca_file: {pki.ca_path}, cert_file: {cert}, key_file: {key}}}"
        store = MemoryStore()
        async with Runtime(definition(tls_port, twins=("c1",), extra=mutual), store) as rt:
            assert await rt.connectors["broker"].wait_connected(10)
            with MqttDevice(broker.port, "dev") as dev:
                wait_published([dev.publish("plant/c1/telemetry", message(i)) for i in range(10)])
                await until(lambda: store.count("c1") == 40, what="telemetry over mutual TLS")
        anonymous = definition(tls_port, twins=("c1",), extra=f"tls: {{ca_file: {pki.ca_path}}}")
        async with Runtime(anonymous, MemoryStore()) as rt:
            connector = rt.connectors["broker"]
            await until(lambda: connector.status.reconnects >= 1, what="a refusal")
            assert not connector.status.connected
            assert "require a client certificate" in (connector.status.last_error or "")


def test_the_tls_block_is_the_shared_tls_spec() -> None:
    spec = TlsSpec.model_validate({"ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "c.key"})
    assert (spec.certificate, spec.private_key) == ("c.pem", "c.key")
    with pytest.raises(ValidationError, match="private_key needs its certificate"):
        TlsSpec(private_key="c.key")
    defn = definition(8883, twins=("c1",), extra="tls: {ca_file: ca.pem, insecure: true}")
    assert defn.connectors["broker"].tls == TlsSpec(ca_file="ca.pem", insecure=True)  # type: ignore[union-attr]
