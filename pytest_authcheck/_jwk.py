"""Judging published JWKs one by one (PyJWT's PyJWKSet silently drops keys it cannot use).

A set is judged on its first ``MAX_KEYS`` keys: a provider rotates through a handful, and a set of
thousands is a finding of its own (jwks.structure), not a reason to spend minutes on every check.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ._bounds import clip

REQUIRED_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "oct": ("k",)}
PRIVATE_MEMBERS = {"RSA": ("d", "p", "q", "dp", "dq", "qi", "oth"), "EC": ("d",), "OKP": ("d",)}
ALLOWED_CURVES = {"EC": ("P-256", "P-384", "P-521"), "OKP": ("Ed25519", "Ed448")}
MIN_RSA_BITS = 2048
MAX_KEYS = 100
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
# Which key can sign with which JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
ALG_KEYS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"), "ES256K": ("EC", "secp256k1"),
    "EdDSA": ("OKP", None), "Ed25519": ("OKP", "Ed25519"), "Ed448": ("OKP", "Ed448"),
}


def all_keys(jwks: Any) -> list[Any]:
    """Every entry of the set's ``keys`` array ([] when it is not an array)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return keys if isinstance(keys, list) else []


def judged_keys(jwks: Any) -> list[Any]:
    """The keys a check judges: the first ``MAX_KEYS``."""
    return all_keys(jwks)[:MAX_KEYS]


def unjudged(jwks: Any) -> str | None:
    """Why a check that found nothing wrong in the judged keys cannot pass, or None when it judged them all."""
    count = len(all_keys(jwks))
    if count <= MAX_KEYS:
        return None
    return (f"the JWK Set holds {count} keys; only the first {MAX_KEYS} were judged (jwks.structure reports the "
            "count), so the rest may hide what this check looks for")


def describe(key: Any, index: int) -> str:
    """A name for a key in messages: its kid, else its position."""
    if isinstance(key, dict) and isinstance(key.get("kid"), str):
        return f"kid {clip(key['kid'], 120, 50)!r}"
    return f"key #{index}"


def b64url_bytes(value: Any) -> bytes | None:
    """Decode an unpadded base64url member, or None when it is not one."""
    if not isinstance(value, str) or not _B64URL.match(value):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def structure_problems(key: Any) -> list[str]:
    """What makes a key malformed (RFC 7517 §4, RFC 7518 §6)."""
    if not isinstance(key, dict):
        return ["is not a JSON object"]
    kty = key.get("kty")
    if not isinstance(kty, str):
        return ["has no kty"]
    problems = []
    for member in REQUIRED_MEMBERS.get(kty, ()):
        if member not in key:
            problems.append(f"lacks {member!r} required for kty {kty}")
        elif member != "crv" and b64url_bytes(key[member]) is None:
            problems.append(f"member {member!r} is not unpadded base64url")
    if kty not in REQUIRED_MEMBERS:
        problems.append(f"has unknown kty {kty!r}")
    for member in ("use", "alg", "kid"):
        if member in key and not isinstance(key[member], str):
            problems.append(f"member {member!r} is not a string")
    if "key_ops" in key and not isinstance(key["key_ops"], list):
        problems.append("member 'key_ops' is not an array")
    return problems


def rsa_bits(key: dict[str, Any]) -> int | None:
    """Modulus length of an RSA JWK in bits."""
    modulus = b64url_bytes(key.get("n"))
    return int.from_bytes(modulus, "big").bit_length() if modulus else None


def strength_problem(key: dict[str, Any]) -> str | None:
    """Why a public key is too weak, or None (RFC 7518 §3.3: RSA >= 2048; curves P-256 and up)."""
    kty = key.get("kty")
    if kty == "RSA":
        bits = rsa_bits(key)
        if bits is not None and bits < MIN_RSA_BITS:
            return f"RSA modulus of {bits} bits (at least {MIN_RSA_BITS} required)"
    elif isinstance(kty, str) and kty in ALLOWED_CURVES:
        if key.get("crv") not in ALLOWED_CURVES[kty]:
            return f"curve {key.get('crv')!r} (allowed: {', '.join(ALLOWED_CURVES[kty])})"
    return None


def private_members(key: dict[str, Any]) -> list[str]:
    """Private or symmetric key material present in a published key."""
    if key.get("kty") == "oct":
        return ["k (a symmetric key)"] if "k" in key else ["kty oct (a symmetric key)"]
    return [m for m in PRIVATE_MEMBERS.get(str(key.get("kty")), ()) if m in key]


def alg_fits(alg: str, key: dict[str, Any]) -> bool:
    """Whether a key of this kty/crv can carry ``alg``."""
    wanted = ALG_KEYS.get(alg)
    if wanted is None:
        return key.get("kty") == "oct" if alg.startswith("HS") else False
    kty, crv = wanted
    return key.get("kty") == kty and (crv is None or key.get("crv") == crv)


def can_sign(key: dict[str, Any], alg: str) -> bool:
    """Whether a published key can verify signatures made with ``alg``."""
    if key.get("use") not in (None, "sig"):
        return False
    ops = key.get("key_ops")
    if isinstance(ops, list) and "verify" not in ops:
        return False
    if isinstance(key.get("alg"), str) and key["alg"] != alg:
        return False
    return alg_fits(alg, key)
