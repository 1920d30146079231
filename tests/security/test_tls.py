"""TLS contexts for client connectors (the MQTT-over-TLS hook) and self-signed certificates."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from twinworks.errors import InsecureFileError
from twinworks.security.tls import application_uri_of, client_ssl_context, write_self_signed
from twinworks.spec import TlsSpec


def test_a_self_signed_pair_has_what_tls_and_opc_ua_check(tmp_path: Path) -> None:
    pair = write_self_signed(
        tmp_path, "plc", "plc", hosts=["plc.local", "10.0.0.5"], uri="urn:plant:plc"
    )
    assert pair.cert_path is not None and pair.key_path is not None
    assert pair.key_path.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(pair.cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["plc.local"]
    assert application_uri_of(pair.cert_pem) == "urn:plant:plc"
    assert "BEGIN" not in repr(pair)


def test_the_client_context_verifies_the_server_by_default(tmp_path: Path) -> None:
    ca = write_self_signed(tmp_path, "ca", "broker")
    client = write_self_signed(tmp_path, "client", "twinworks")
    context = client_ssl_context(
        TlsSpec(
            ca_file=str(ca.cert_path),
            certificate=str(client.cert_path),
            private_key=str(client.key_path),
        )
    )
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    bench = client_ssl_context(TlsSpec(ca_file=str(ca.cert_path), insecure=True))
    assert bench.verify_mode == ssl.CERT_NONE


def test_a_client_key_others_can_read_is_refused(tmp_path: Path) -> None:
    client = write_self_signed(tmp_path, "client", "twinworks")
    assert client.key_path is not None
    client.key_path.chmod(0o640)
    with pytest.raises(InsecureFileError, match="TLS private key"):
        client_ssl_context(
            TlsSpec(certificate=str(client.cert_path), private_key=str(client.key_path))
        )
