"""Why a connection attempt failed, in words a plant engineer can act on.

asyncua reports a pinned server certificate that does not match as a bare
timeout (the server cannot decrypt what we sent with the wrong key), and a wrong
password as a status code. Here the attempt's error is turned into a message that
names the cause: the two certificate thumbprints, the rejected user, the
untrusted client certificate. ``kind`` is set for causes that retrying cannot
fix, so that the connector backs off long and shows the reason.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from asyncua import Client, ua
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from twinworks.spec.schema import OpcUaConnectorSpec

__all__ = ["diagnose_connect_error", "thumbprint"]

_IDENTITY = {"BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid"}
_UNTRUSTED = {
    "BadCertificateUntrusted",
    "BadSecurityChecksFailed",
    "BadCertificateInvalid",
    "BadCertificateUriInvalid",
    "BadCertificateTimeInvalid",
}


def thumbprint(cert: bytes) -> str:
    """SHA-256 of a certificate's DER form, as hex pairs (what certificate tools print)."""
    try:
        der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    except ValueError:
        der = cert
    return hashlib.sha256(der).hexdigest().upper()


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _offered_certificates(spec: OpcUaConnectorSpec) -> list[bytes]:
    """The certificates the server's endpoints offer (asked over an unsecured discovery channel)."""
    probe = Client(spec.endpoint, timeout=spec.request_timeout_s)
    endpoints = await probe.connect_and_get_server_endpoints()
    return [e.ServerCertificate for e in endpoints if e.ServerCertificate]


async def diagnose_connect_error(
    exc: BaseException, spec: OpcUaConnectorSpec
) -> tuple[str, str | None]:
    """(message, kind) for a failed connect; kind is None when retrying may help."""
    code = type(exc).__name__
    security = spec.security
    user = security.username if security is not None else None
    if code in _IDENTITY:
        return (
            f"the server rejected the identity (user {user!r}): {code}; check the user name "
            "and password (the password comes from the definition's ${VAR})"
            if user
            else f"the server rejected the anonymous identity: {code}; it needs a user name",
            "identity_rejected",
        )
    if code in _UNTRUSTED:
        return (
            f"the server does not trust this client's certificate ({code}); add "
            f"{security.certificate if security else 'it'} to the server's trusted certificates",
            "certificate_untrusted",
        )
    if security is not None and security.server_certificate:
        try:
            pinned = thumbprint(Path(security.server_certificate).read_bytes())
            offered = {thumbprint(c) for c in await _offered_certificates(spec)}
        except Exception:  # the server cannot be asked either: report the first error
            return f"{_error_text(exc)} (connecting to {spec.endpoint})", None
        if offered and pinned not in offered:
            return (
                "the server's certificate does not match the pinned one: the server presents "
                f"SHA-256 {', '.join(sorted(offered))}, the pinned certificate "
                f"{security.server_certificate} is SHA-256 {pinned}; if the server's "
                "certificate was renewed, pin the new one",
                "certificate_mismatch",
            )
    if isinstance(exc, ua.UaStatusCodeError):
        return f"the server refused the connection: {code} ({exc})", None
    return _error_text(exc), None
