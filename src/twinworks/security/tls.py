"""Certificates and TLS contexts: HTTPS for the API, TLS for MQTT, certificates for OPC UA.

:func:`make_self_signed` makes a key and a self-signed certificate with the
extensions both TLS and OPC UA expect (subject alternative names with host
names, addresses and an application URI; key usages for signing and key
encipherment). It is what ``twinworks certs self-signed`` and the tests use; in
a plant, use certificates from the site's CA.

:func:`client_ssl_context` builds the ``ssl.SSLContext`` a TLS client connector
uses from a :class:`~twinworks.spec.schema.TlsSpec` (the MQTT connector's ``tls:`` block).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from twinworks.security.files import check_private_file, write_private_file
from twinworks.spec.schema import TlsSpec

__all__ = [
    "CertPair",
    "application_uri_of",
    "client_ssl_context",
    "make_self_signed",
    "write_self_signed",
]


class CertPair:
    """A certificate and its private key (PEM), and where they were written."""

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.cert_path: Path | None = None
        self.key_path: Path | None = None

    def __repr__(self) -> str:
        return f"CertPair(cert_path={self.cert_path!s}, key=<hidden>)"


def make_self_signed(
    common_name: str,
    *,
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    uri: str | None = None,
    days: int = 365,
    key_size: int = 2048,
) -> CertPair:
    """A new RSA key and a self-signed certificate for ``hosts`` (names or IP addresses)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    if uri:
        alt.append(x509.UniformResourceIdentifier(uri))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def write_self_signed(directory: Path, stem: str, common_name: str, **kwargs: object) -> CertPair:
    """Make a pair and write ``STEM.pem`` (certificate) and ``STEM.key`` (mode 0600)."""
    pair = make_self_signed(common_name, **kwargs)  # type: ignore[arg-type]
    directory.mkdir(parents=True, exist_ok=True)
    pair.cert_path = directory / f"{stem}.pem"
    pair.key_path = directory / f"{stem}.key"
    pair.cert_path.write_bytes(pair.cert_pem)
    write_private_file(pair.key_path, pair.key_pem)
    return pair


def application_uri_of(cert_pem_or_der: bytes) -> str | None:
    """The first URI in a certificate's subject alternative names (OPC UA's application URI)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem_or_der)
    except ValueError:
        cert = x509.load_der_x509_certificate(cert_pem_or_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def client_ssl_context(spec: TlsSpec) -> ssl.SSLContext:
    """The TLS context of a client connector (MQTT over TLS and the like).

    Verifies the server against ``ca_file`` (or the system's CAs), checks its host
    name, and presents a client certificate when one is given. ``insecure: true``
    turns verification off and is meant for a first test on a bench only.
    """
    context = ssl.create_default_context(cafile=spec.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if spec.certificate:
        if spec.private_key:
            check_private_file(Path(spec.private_key), "TLS private key")
        context.load_cert_chain(spec.certificate, spec.private_key)
    if spec.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
