"""What a TLS endpoint presents: chain verification, certificate, negotiated and legacy versions.

The facts come from our own handshakes (no HTTP is sent): one with verification against the system
trust store plus ``ca_bundle`` (host name checked separately, so each defect is reported by the
check it belongs to), one without verification only to read the certificate for the evidence when
verification failed, and one per legacy protocol version to see whether the server still accepts it.
Each handshake ends within ``timeout`` (Python bounds a whole handshake by the socket timeout), and all of
them within ``budget``: a server that stalls every probe costs the budget once, not four timeouts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from ._http import make_ssl_context

# OpenSSL verify codes that concern only dates: the chain itself was trusted (checked before dates).
DATE_ONLY_VERIFY_CODES = frozenset({9, 10})  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
LEGACY_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@dataclass
class Certificate:
    """A summary of the leaf certificate for checks and evidence."""

    subject: str
    issuer: str
    sans: list[str]
    not_before: str
    not_after: str
    serial: str
    sha256: str
    days_left: float

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        """Parse a DER certificate."""
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
            sans += [f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            sans = []
        not_after = cert.not_valid_after_utc
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            sans=sans,
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=not_after.isoformat(),
            serial=format(cert.serial_number, "x"),
            sha256=hashlib.sha256(der).hexdigest(),
            days_left=round((not_after - datetime.now(UTC)).total_seconds() / 86400, 2),
        )

    def matches_host(self, host: str) -> bool:
        """RFC 6125 matching of ``host`` against the SANs (IP literals only against IP SANs)."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        for san in self.sans:
            kind, _, value = san.partition(":")
            if address is not None:
                if kind == "IP" and ipaddress.ip_address(value) == address:
                    return True
                continue
            if kind == "DNS" and _dns_match(value.lower(), host.lower()):
                return True
        return False


@dataclass
class TlsFacts:
    """The TLS facts of one host:port, JSON-able for evidence and for passing to xdist workers."""

    host: str
    port: int
    reachable: bool
    error: str | None = None
    verified: bool = False
    verify_error: str | None = None
    chain_trusted: bool = False
    version: str | None = None
    cipher: str | None = None
    certificate: Certificate | None = None
    legacy: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)


def inspect(host: str, port: int, *, ca_bundle: Path | None, timeout: float, budget: float | None = None) -> TlsFacts:
    """Handshake with ``host:port`` and collect the facts within ``budget`` seconds; never raises for network trouble."""
    ends = time.monotonic() + (budget if budget is not None else 4 * timeout)

    def left() -> float:
        return max(0.0, min(timeout, ends - time.monotonic()))

    facts = TlsFacts(host=host, port=port, reachable=True)
    context = make_ssl_context(ca_bundle)
    context.check_hostname = False
    der: bytes | None = None
    try:
        with _handshake(host, port, context, left()) as tls:
            facts.verified = facts.chain_trusted = True
            facts.version = tls.version()
            facts.cipher = (tls.cipher() or ("",))[0]
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        facts.verify_error = f"{exc.verify_message} (OpenSSL code {exc.verify_code})"
        facts.chain_trusted = exc.verify_code in DATE_ONLY_VERIFY_CODES
    except ssl.SSLError as exc:
        facts.verify_error = f"handshake failed: {exc.reason or exc}"
    except OSError as exc:
        facts.reachable = False
        facts.error = f"cannot connect to {host}:{port}: {exc.strerror or exc}"
        return facts
    if der is None and left() > 0:
        der, version = _peek_certificate(host, port, left())
        facts.version = facts.version or version
    if der:
        facts.certificate = Certificate.from_der(der)
    facts.legacy = {name: _probe_version(host, port, version, left()) if left() > 0 else
                    "untestable: no time left within the bound of the inspection"
                    for name, version in LEGACY_VERSIONS.items()}
    return facts


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        server_name = None if _is_ip(host) else host
        return context.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def _peek_certificate(host: str, port: int, timeout: float) -> tuple[bytes | None, str | None]:
    # Verification already failed; this handshake only reads the certificate for the evidence.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _handshake(host, port, context, timeout) as tls:
            return tls.getpeercert(binary_form=True), tls.version()
    except (OSError, ssl.SSLError):
        return None, None


def _probe_version(host: str, port: int, version: ssl.TLSVersion, timeout: float) -> str:
    """``refused``, ``accepted`` or ``untestable: why`` for one legacy protocol version."""
    try:
        with warnings.catch_warnings():
            # Offering a deprecated version is the point of this probe.
            warnings.simplefilter("ignore", DeprecationWarning)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.minimum_version = version
            context.maximum_version = version
            context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        return f"untestable: this machine's OpenSSL cannot offer it ({exc})"
    try:
        with _handshake(host, port, context, timeout) as tls:
            negotiated = tls.version()
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)
        if "NO_PROTOCOLS_AVAILABLE" in reason or "no protocols available" in reason:
            return "untestable: this machine's OpenSSL cannot offer it"
        return "refused"
    except OSError:
        return "refused"
    return "accepted" if negotiated == _version_name(version) else "refused"


def _version_name(version: ssl.TLSVersion) -> str:
    return {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}.get(version, str(version))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _dns_match(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    if pattern.startswith("*.") and "." in host:
        return host.split(".", 1)[1] == pattern[2:]
    return False


