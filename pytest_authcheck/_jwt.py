"""Reading JWTs for evaluation and evidence: header and claims, never the signature or raw token."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ._bounds import finish, shape

if TYPE_CHECKING:
    from ._redact import Redactor

_EVIDENCE_CACHE_SIZE = 64
_evidence_cache: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
_evidence_lock = threading.Lock()


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


def jwt_evidence(token: str, redactor: Redactor) -> dict[str, Any]:
    """A JWT's fingerprint and its decoded header and claims (or why they cannot be read), bounded and redacted.

    Many checks record the same token: it is decoded and bounded once while the run learns no new secret
    (the cache is keyed by the token's fingerprint and the number of secrets the redactor knows), so a
    token with a 1 MiB claim costs one decoding, not one per check.
    """
    name = fingerprint(token)
    key = (name, id(redactor), redactor.known)
    with _evidence_lock:
        cached = _evidence_cache.get(key)
        if cached is not None:
            _evidence_cache.move_to_end(key)
            return dict(cached)
    try:
        header, claims = decode_unverified(token)
    except ValueError as exc:
        evidence: dict[str, Any] = {"fingerprint": name, "error": str(exc)}
    else:
        evidence = {"fingerprint": name, "header": finish(redactor.data(shape(header))),
                    "claims": finish(redactor.data(shape(claims)))}
    with _evidence_lock:
        _evidence_cache[key] = evidence
        while len(_evidence_cache) > _EVIDENCE_CACHE_SIZE:
            _evidence_cache.popitem(last=False)
    return dict(evidence)


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
