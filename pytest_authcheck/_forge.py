"""Forged tokens for resource-server probes, built locally from a real token (pure functions, no I/O).

Nothing here can sign with the provider's private key, so every forgery is one a correct resource
server must refuse: a malformed token, a real token whose signature was altered, a real token's claims
re-encoded with ``alg: none``, or re-signed with HMAC keyed by the provider's *public* key (RFC 8725
§2.1, §3.1). Tokens that are invalid for their claims alone (expired, not yet valid, another audience or
issuer) must come from a real issuer; ``expiry_wait`` and ``not_yet_valid_for`` say when such a real
token is usable as a probe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")
HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class ForgeError(ValueError):
    """The token or key cannot be used to build the forgery (not a JWS, not an RSA key, ...)."""


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError):
        raise ForgeError("a segment is not base64url") from None


def _json_segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature of a compact JWS; ``ForgeError`` if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ForgeError("not a compact JWS (three dot-separated parts)")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise ForgeError("header or payload is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ForgeError("header and payload must be JSON objects")
    return header, claims, _b64url_decode(parts[2])


def malformed() -> dict[str, str]:
    """Bearer values that are not tokens at all, by label."""
    return {
        "not a JWT": "not-a-jwt",
        "two segments": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",
        "segments not base64url JSON": "%%%.%%%.%%%",
        "empty segments": "..",
    }


def altered_signature(token: str) -> str:
    """The real token with one bit of its signature flipped (header and claims untouched)."""
    parts = token.split(".")
    _, _, signature = split(token)
    if not signature:
        raise ForgeError("the token has no signature to alter")
    flipped = bytes([signature[0] ^ 0x01]) + signature[1:]
    return f"{parts[0]}.{parts[1]}.{b64url(flipped)}"


def stripped_signature(token: str) -> str:
    """The real token with its signature removed, ``alg`` unchanged (the "null signature" form)."""
    parts = token.split(".")
    split(token)
    return f"{parts[0]}.{parts[1]}."


def altered_claims(token: str) -> str:
    """The real token with one claim changed (``sub`` gets a suffix) and the original signature kept."""
    parts = token.split(".")
    _, claims, _ = split(token)
    claims["sub"] = f"{claims.get('sub', '')}-authcheck"
    return f"{parts[0]}.{_json_segment(claims)}.{parts[2]}"


def alg_none(token: str, spelling: str = "none") -> str:
    """The real token's claims re-encoded unsigned (``alg`` = ``spelling``, empty signature, RFC 7519 §6.1)."""
    header, claims, _ = split(token)
    header = {k: v for k, v in header.items() if k != "kid"} | {"alg": spelling}
    return f"{_json_segment(header)}.{_json_segment(claims)}."


def public_key_encodings(jwk: Mapping[str, Any]) -> dict[str, bytes]:
    """The byte strings a careless verifier may use as an HMAC secret for an RSA public JWK, by label."""
    if jwk.get("kty") != "RSA":
        raise ForgeError("key confusion needs an RSA public key")
    public_only = {k: v for k, v in jwk.items() if k in ("kty", "n", "e", "kid", "alg", "use")}
    try:
        key = RSAAlgorithm.from_jwk(dict(public_only))
    except Exception as exc:  # PyJWT raises several types for a malformed JWK
        raise ForgeError(f"the JWK is not a usable RSA key ({type(exc).__name__})") from None
    public = key if hasattr(key, "public_bytes") else key.public_key()
    spki = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "PEM (SubjectPublicKeyInfo)": spki,
        "PEM without final newline": spki.rstrip(b"\n"),
        "PEM (PKCS#1)": pkcs1,
        "DER": der,
        "JWK JSON": json.dumps(dict(jwk)).encode(),
        "JWK JSON, compact": json.dumps(dict(jwk), separators=(",", ":")).encode(),
    }


def hmac_signed(token: str, secret: bytes, alg: str = "HS256") -> str:
    """The real token's claims re-signed with HMAC under ``secret`` (header ``alg`` = ``alg``, ``kid`` kept)."""
    if alg not in HMAC_DIGESTS:
        raise ForgeError(f"{alg} is not an HMAC algorithm")
    header, claims, _ = split(token)
    signing_input = f"{_json_segment(header | {'alg': alg})}.{_json_segment(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), HMAC_DIGESTS[alg]).digest()
    return f"{signing_input}.{b64url(signature)}"


def key_confusion(token: str, jwk: Mapping[str, Any]) -> dict[str, str]:
    """HS256 re-encodings of the real token keyed with each encoding of the provider's public key."""
    return {label: hmac_signed(token, secret) for label, secret in public_key_encodings(jwk).items()}


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def expiry_wait(claims: Mapping[str, Any], leeway: float, now: float | None = None) -> float | None:
    """Seconds until a real token is expired beyond the API's leeway (0 if it already is; None without exp)."""
    exp = _number(claims, "exp")
    if exp is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, exp + leeway + 1.0 - now)


def not_yet_valid_for(claims: Mapping[str, Any], leeway: float, now: float | None = None) -> float | None:
    """Seconds for which a real token stays not yet valid beyond the API's leeway (None if it is valid now)."""
    nbf = _number(claims, "nbf")
    if nbf is None:
        return None
    now = time.time() if now is None else now
    remaining = nbf - leeway - now
    return remaining if remaining > 0 else None
