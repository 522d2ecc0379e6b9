"""A JWK's certificate chain (``x5c``) and thumbprints (``x5t``, ``x5t#S256``) against the key itself.

RFC 7517 §4.7: ``x5c`` is an array of base64 (not base64url) DER certificates, and the key in the first
MUST match the key the JWK's other members give; §4.8 and §4.9: ``x5t`` and ``x5t#S256`` are the
base64url SHA-1 and SHA-256 of that first certificate's DER. A verifier that trusts the chain gets
another key than the one published beside it when they differ, so garbage or a mismatch is a finding.
At most ``MAX_CERTIFICATES`` certificates of at most ``MAX_CERTIFICATE_CHARS`` characters are read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ._jwk import b64url_bytes

MAX_CERTIFICATES = 10
MAX_CERTIFICATE_CHARS = 64 * 1024
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "secp256k1": ec.SECP256K1}


def x5c_problems(key: dict[str, Any]) -> list[str]:
    """What is wrong with a JWK's ``x5c`` and thumbprints (nothing when it has none)."""
    chain = key.get("x5c")
    if chain is None:  # thumbprints alone name a certificate published elsewhere (x5u): nothing to compare here
        return []
    if not isinstance(chain, list) or not chain:
        return ["member 'x5c' is not a non-empty array of certificates"]
    problems = []
    first: tuple[bytes, x509.Certificate] | None = None
    for index, entry in enumerate(chain[:MAX_CERTIFICATES]):
        der = _der(entry)
        try:
            certificate = x509.load_der_x509_certificate(der) if der else None
        except ValueError:
            certificate = None
        if der is None or certificate is None:
            problems.append(f"x5c[{index}] is not a base64 DER certificate")
        elif index == 0:
            first = der, certificate
    if len(chain) > MAX_CERTIFICATES:
        problems.append(f"x5c holds {len(chain)} certificates; only the first {MAX_CERTIFICATES} were read")
    if first is None:
        return problems
    first_der, certificate = first
    mismatch = _key_mismatch(key, certificate)
    if mismatch:
        problems.append(f"the key in x5c[0] is not the JWK's key ({mismatch})")
    for member, digest in (("x5t", hashlib.sha1), ("x5t#S256", hashlib.sha256)):
        if member in key and b64url_bytes(key[member]) != digest(first_der).digest():
            problems.append(f"{member} is not the {digest().name.upper()} thumbprint of x5c[0]")
    return problems


def _der(entry: Any) -> bytes | None:
    if not isinstance(entry, str) or not entry or len(entry) > MAX_CERTIFICATE_CHARS:
        return None
    try:
        return base64.b64decode(entry, validate=True)
    except (binascii.Error, ValueError):
        return None


def _key_mismatch(key: dict[str, Any], certificate: x509.Certificate) -> str | None:
    """Why the certificate's public key differs from the JWK's, or None when they are the same key."""
    try:
        public = certificate.public_key()
    except ValueError:
        return "the certificate's key cannot be read"
    kty = key.get("kty")
    if kty == "RSA":
        if not isinstance(public, rsa.RSAPublicKey):
            return f"the certificate holds a {_kind(public)} key"
        numbers = public.public_numbers()
        n, e = b64url_bytes(key.get("n")), b64url_bytes(key.get("e"))
        same = n is not None and e is not None and int.from_bytes(n, "big") == numbers.n \
            and int.from_bytes(e, "big") == numbers.e
        return None if same else "a different RSA modulus or exponent"
    if kty == "EC":
        if not isinstance(public, ec.EllipticCurvePublicKey):
            return f"the certificate holds a {_kind(public)} key"
        curve = _CURVES.get(str(key.get("crv")))
        if curve is None or not isinstance(public.curve, curve):
            return f"the certificate's curve is {public.curve.name}"
        point = public.public_numbers()
        x, y = b64url_bytes(key.get("x")), b64url_bytes(key.get("y"))
        same = x is not None and y is not None and int.from_bytes(x, "big") == point.x and int.from_bytes(y, "big") == point.y
        return None if same else "a different EC point"
    if kty == "OKP":
        if not isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            return f"the certificate holds a {_kind(public)} key"
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return None if b64url_bytes(key.get("x")) == raw else "a different OKP key"
    return f"a JWK of kty {str(kty)[:20]!r} cannot carry a certificate key"


def _kind(public: Any) -> str:
    return type(public).__name__.removeprefix("_").replace("PublicKey", "") or "different"
