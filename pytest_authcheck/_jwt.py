"""Reading JWTs for evaluation and evidence: header and claims, never the signature or raw token."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS; ``ValueError`` if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS (expected three dot-separated parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("header or payload is not base64url-encoded JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header and payload must be JSON objects")
    return header, claims


def looks_like_jwt(token: str) -> bool:
    """True when the token has the shape of a compact JWS with a JSON header."""
    try:
        decode_unverified(token)
    except ValueError:
        return False
    return True


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token in evidence."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def jwk_thumbprint(jwk: dict[str, Any]) -> str | None:
    """The RFC 7638 thumbprint of a public JWK (base64url SHA-256), or None for unknown key types."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
                "oct": ("k", "kty")}.get(str(jwk.get("kty")))
    if required is None or not all(isinstance(jwk.get(m), str) for m in required):
        return None
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
