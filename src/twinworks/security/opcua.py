"""OPC UA secure channels: Basic256Sha256 (or the AES policies) with X.509 certificates.

* :func:`secure_client` configures an asyncua ``Client`` from a connector's
  ``security:`` block (policy, mode, certificate, key, pinned server certificate,
  user name and password).
* :func:`secure_server` makes an asyncua ``Server`` (the plant simulator) offer
  only signed-and-encrypted endpoints and, when ``trusted`` certificates are
  given, accept only clients that present one of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncua import Client, Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import security_policies
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from twinworks.security.files import check_private_file
from twinworks.security.tls import application_uri_of
from twinworks.spec.schema import OpcUaSecuritySpec

__all__ = ["secure_client", "secure_server"]

_POLICY_CLASS: dict[str, Any] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128Sha256RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256Sha256RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _cert_der(path: str | Path, what: str) -> bytes:
    # asyncua guesses PEM or DER from a file's extension; hand it DER, whatever the file is
    return _load_cert(_read(path, what)).public_bytes(serialization.Encoding.DER)


def _key_der(path: str | Path, what: str, password: bytes | None = None) -> bytes:
    data = _read(path, what)
    try:
        key = serialization.load_pem_private_key(data, password)
    except ValueError:
        key = serialization.load_der_private_key(data, password)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def secure_client(client: Client, spec: OpcUaSecuritySpec) -> None:
    """Set up the client's secure channel; call before ``connect()``."""
    check_private_file(Path(spec.private_key), "OPC UA private key")
    cert = _cert_der(spec.certificate, "OPC UA client certificate")
    # the server checks that our application URI is the one in our certificate
    uri = application_uri_of(cert)
    if uri:
        client.application_uri = uri
    server_cert = (
        _cert_der(spec.server_certificate, "server certificate")
        if spec.server_certificate
        else None
    )
    await client.set_security(
        _POLICY_CLASS[spec.policy],
        certificate=cert,
        private_key=_key_der(spec.private_key, "OPC UA private key"),
        server_certificate=server_cert,
        mode=getattr(ua.MessageSecurityMode, spec.mode),
    )
    if spec.username:
        client.set_user(spec.username)
    if spec.password is not None:
        client.set_password(spec.password.get_secret_value())


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _load_cert(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return x509.load_der_x509_certificate(data)


async def secure_server(
    server: Server,
    certificate: Path,
    private_key: Path,
    *,
    trusted: Sequence[Path] = (),
    allow_sign_only: bool = False,
) -> None:
    """Offer only secure endpoints; with ``trusted``, refuse clients whose certificate is not one.

    Call after ``server.init()`` and ``set_endpoint`` and before ``start()``.
    """
    check_private_file(private_key, "OPC UA server private key")
    cert_bytes = _cert_der(certificate, "OPC UA server certificate")
    uri = application_uri_of(cert_bytes)
    if uri:
        await server.set_application_uri(uri)
    policies = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
    if allow_sign_only:
        policies.append(ua.SecurityPolicyType.Basic256Sha256_Sign)
    server.set_security_policy(policies)
    await server.load_certificate(cert_bytes)
    await server.load_private_key(_key_der(private_key, "OPC UA server private key"))
    if trusted:
        allowed = {_fingerprint(_load_cert(_read(p, "trusted certificate"))) for p in trusted}

        async def validate(cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
            now = dt.datetime.now(dt.UTC)
            if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
                raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid)
            if _fingerprint(cert) not in allowed:
                raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

        server.set_certificate_validator(validate)
