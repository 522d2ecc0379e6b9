"""The forging code: each forgery keeps the real token's claims and breaks exactly what it says, and the
timing helpers tell when a real token is expired or not yet valid (the clock frozen with freezegun)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from freezegun import freeze_time
from jwt.algorithms import RSAAlgorithm

from pytest_authcheck import _forge as forge

CLAIMS = {"iss": "https://idp.test", "aud": "https://api.test", "client_id": "ci-viewer", "exp": 2_000_000_000}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_jwk(key: rsa.RSAPrivateKey) -> dict:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "rsa-1", "alg": "RS256", "use": "sig"})
    return jwk


@pytest.fixture(scope="module")
def token(key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(CLAIMS, key, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"})


def _verifies(token: str, key: rsa.RSAPrivateKey) -> bool:
    try:
        jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="https://api.test")
    except jwt.InvalidTokenError:
        return False
    return True


def test_altered_signature_keeps_claims_and_no_longer_verifies(token: str, key: rsa.RSAPrivateKey) -> None:
    assert _verifies(token, key)
    forged = forge.altered_signature(token)
    assert forged != token
    assert forged.split(".")[:2] == token.split(".")[:2]
    assert not _verifies(forged, key)
    assert forge.split(forged)[1] == CLAIMS


def test_stripped_signature_and_altered_claims(token: str, key: rsa.RSAPrivateKey) -> None:
    stripped = forge.stripped_signature(token)
    assert forge.split(stripped)[2] == b"" and forge.split(stripped)[0]["alg"] == "RS256"
    changed = forge.altered_claims(token)
    assert changed.split(".")[2] == token.split(".")[2]
    assert forge.split(changed)[1] == {**CLAIMS, "sub": "-authcheck"}
    assert not _verifies(stripped, key) and not _verifies(changed, key)


@pytest.mark.parametrize("spelling", forge.NONE_SPELLINGS)
def test_alg_none_is_unsigned_with_the_real_claims(token: str, spelling: str) -> None:
    forged = forge.alg_none(token, spelling)
    header, claims, signature = forge.split(forged)
    assert header["alg"] == spelling and "kid" not in header and header["typ"] == "at+jwt"
    assert claims == CLAIMS and signature == b"" and forged.endswith(".")


def test_key_confusion_tokens_are_hmac_under_each_public_key_encoding(token: str, key: rsa.RSAPrivateKey,
                                                                      public_jwk: dict) -> None:
    forged = forge.key_confusion(token, public_jwk)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert set(forged) >= {"PEM (SubjectPublicKeyInfo)", "PEM (PKCS#1)", "DER", "JWK JSON"}
    for label, value in forged.items():
        header, claims, signature = forge.split(value)
        assert header["alg"] == "HS256" and header["kid"] == "rsa-1" and claims == CLAIMS, label
    signing_input, _, signature = forged["PEM (SubjectPublicKeyInfo)"].rpartition(".")
    expected = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_key_confusion_refuses_what_it_cannot_use(token: str) -> None:
    with pytest.raises(forge.ForgeError, match="RSA"):
        forge.key_confusion(token, {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"})
    with pytest.raises(forge.ForgeError, match="usable RSA key"):
        forge.key_confusion(token, {"kty": "RSA", "n": "!!", "e": "AQAB"})
    with pytest.raises(forge.ForgeError, match="HMAC"):
        forge.hmac_signed(token, b"x", "RS256")


def test_private_members_never_reach_the_forgery(token: str, key: rsa.RSAPrivateKey, public_jwk: dict) -> None:
    private = json.loads(RSAAlgorithm.to_jwk(key))
    encodings = forge.public_key_encodings({**public_jwk, **{k: private[k] for k in ("d", "p", "q")}})
    der_public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert encodings["DER"] == der_public


@pytest.mark.parametrize("bad", ["not-a-jwt", "a.b", "%%%.%%%.%%%", "W10.W10.", "..", "e30.e30"])
def test_split_refuses_non_tokens(bad: str) -> None:
    with pytest.raises(forge.ForgeError):
        forge.split(bad)


def test_malformed_probes_are_not_tokens() -> None:
    for value in forge.malformed().values():
        with pytest.raises(forge.ForgeError):
            forge.split(value)


def test_altered_signature_needs_a_signature(token: str) -> None:
    with pytest.raises(forge.ForgeError, match="no signature"):
        forge.altered_signature(forge.alg_none(token))


@freeze_time("2030-01-01 00:00:00")
def test_expiry_wait_counts_leeway_from_now() -> None:
    now = time.time()
    assert forge.expiry_wait({"exp": now + 2}, leeway=1) == pytest.approx(4.0)
    assert forge.expiry_wait({"exp": now - 100}, leeway=30) == 0.0
    assert forge.expiry_wait({"exp": "soon"}, leeway=1) is None
    assert forge.expiry_wait({"exp": True}, leeway=1) is None
    assert forge.expiry_wait({}, leeway=1) is None


@freeze_time("2030-01-01 00:00:00")
def test_not_yet_valid_only_beyond_leeway() -> None:
    now = time.time()
    assert forge.not_yet_valid_for({"nbf": now + 3600}, leeway=60) == pytest.approx(3540)
    assert forge.not_yet_valid_for({"nbf": now + 30}, leeway=60) is None
    assert forge.not_yet_valid_for({"nbf": now - 5}, leeway=0) is None
    assert forge.not_yet_valid_for({}, leeway=0) is None


def test_timing_helpers_follow_the_clock() -> None:
    with freeze_time("2030-01-01 00:00:00") as frozen:
        claims = {"exp": time.time() + 10, "nbf": time.time() + 10}
        assert forge.expiry_wait(claims, leeway=0) == pytest.approx(11)
        assert forge.not_yet_valid_for(claims, leeway=0) == pytest.approx(10)
        frozen.tick(20)
        assert forge.expiry_wait(claims, leeway=0) == 0.0
        assert forge.not_yet_valid_for(claims, leeway=0) is None
