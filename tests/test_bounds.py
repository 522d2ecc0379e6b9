"""Pure pieces of the bounds on hostile answers: cut values, escaped controls, bounded structures, decoded-once
JWTs, x5c against the key, throttles, token staleness. The whole run against hostile issuers is
tests/test_hostile.py and tests/test_hostile_world.py."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from pytest_authcheck._bounds import DEPTH_LIMIT, ITEM_LIMIT, NODE_BUDGET, TEXT_LIMIT, clip, finish, printable, shape
from pytest_authcheck._http import Exchange, Response, retry_after_seconds
from pytest_authcheck._jwt import jwt_evidence
from pytest_authcheck._record import CheckFailed, CheckRecord
from pytest_authcheck._redact import MASK, Redactor
from pytest_authcheck._tokens import Token
from pytest_authcheck._x5c import x5c_problems
from tests.hostile_world import b64u, certificate_der, other_key, public_jwk, signing_key, with_x5c

HOSTILE = "\x00\x1b[31m\x07\r\x7f\x85\x9b\u202aA\u202bB\u202cC\u202dD\u202eE\u2066F\u2067G\u2068H\u2069"


# ---- cut values ----------------------------------------------------------------------------------------
def test_a_long_value_keeps_its_ends_its_length_and_its_hash() -> None:
    value = "a" * 300 + "b" * 1_048_000 + "c" * 300
    cut = clip(value)
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    assert cut == "a" * 200 + f"\u2026[cut {len(value) - 400} chars, sha256:{digest}]\u2026" + "c" * 200
    assert clip("x" * TEXT_LIMIT) == "x" * TEXT_LIMIT
    small = clip("abcdefghij", limit=4, keep=3)  # keeps at most half the limit at each end
    assert small.startswith("ab\u2026[cut 6 chars, sha256:") and small.endswith("]\u2026ij")


def test_control_and_bidi_characters_are_shown_escaped() -> None:
    shown = printable(f"ok\ttab\nline{HOSTILE}")
    assert shown.startswith("ok\ttab\nline\\u0000\\u001b[31m\\u0007\\u000d\\u007f\\u0085\\u009b\\u202aA")
    assert shown.endswith("\\u2068H\\u2069")
    assert all(ord(c) >= 0x20 or c in "\t\n" for c in shown) and not any(0x7F <= ord(c) <= 0x9F for c in shown)
    assert printable("plain é ü 漢字") == "plain é ü 漢字"


def test_structures_are_bounded_before_they_are_walked() -> None:
    keys = [{"kid": f"k{i}"} for i in range(10_000)]
    bounded = shape({"keys": keys})
    assert len(bounded["keys"]) == ITEM_LIMIT + 1 and bounded["keys"][-1] == f"[cut {10_000 - ITEM_LIMIT} of 10000 items]"
    deep: Any = "bottom"
    for _ in range(500):
        deep = [deep]
    text = json.dumps(shape(deep))
    assert text.count("[") <= DEPTH_LIMIT + 1 and "nested deeper than" in text
    wide = shape([[i] * 50 for i in range(100)])
    assert sum(len(item) if isinstance(item, list) else 1 for item in wide) <= NODE_BUDGET + ITEM_LIMIT
    assert finish({"k" * 5000: ["v" * 5000, 1, None, float("nan")]}) == {clip("k" * 5000): [clip("v" * 5000), 1, None,
                                                                                          "NaN"]}


def test_a_secret_is_redacted_whole_before_its_value_is_cut() -> None:
    secret = "S3cretValue-" + "z" * 40
    # The secret straddles the place where the head of the cut value ends.
    value = "x" * 180 + secret + "y" * 5000
    record = CheckRecord(Redactor([secret]))
    record.fact("answer", {"note": value})
    shown = record.facts["answer"]["note"]
    assert "S3cret" not in shown and shown.startswith("x" * 180 + MASK)


def test_a_failure_message_is_redacted_bounded_and_escaped() -> None:
    record = CheckRecord(Redactor(["hunter2-secret"]))
    with pytest.raises(CheckFailed) as failure:
        record.fail(f"issuer {HOSTILE} said hunter2-secret " + "q" * 10_000, expected="x" * 5000, observed=HOSTILE)
    message = str(failure.value)
    assert len(message) < 4200 and "hunter2" not in message and "\\u202e" in message and "\u202e" not in message
    assert record.expected == clip("x" * 5000) and record.observed == printable(HOSTILE)


# ---- JWTs are decoded once -----------------------------------------------------------------------------
def test_a_jwt_with_a_1_mib_claim_is_decoded_once_and_recorded_cut() -> None:
    token = jwt.encode({"sub": "svc", "blob": "C" * 1_048_576, "note": HOSTILE}, signing_key(), algorithm="RS256",
                       headers={"kid": "k1"})
    redactor = Redactor([token])
    started = time.perf_counter()
    first = jwt_evidence(token, redactor)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        again = jwt_evidence(token, redactor)
    warm = (time.perf_counter() - started) / 20
    assert again == first and warm < cold
    assert len(json.dumps(first)) < 3 * TEXT_LIMIT and "cut 1048176 chars" in first["claims"]["blob"]
    assert first["claims"]["note"] == printable(HOSTILE) and first["header"]["kid"] == "k1"
    redactor.add("a-secret-learned-later")  # a new secret: evidence is redacted afresh
    assert jwt_evidence(token, redactor) == first
    assert jwt_evidence("not.a.jwt", redactor)["error"]


# ---- x5c -----------------------------------------------------------------------------------------------
def test_x5c_must_hold_certificates_of_the_jwks_own_key() -> None:
    jwk = public_jwk(signing_key())
    der = certificate_der(signing_key())
    assert x5c_problems(jwk) == []
    assert x5c_problems(with_x5c(jwk, der)) == []
    assert x5c_problems({**with_x5c(jwk, der), "x5t": b64u(hashlib.sha1(der).digest())}) == []
    assert x5c_problems({**jwk, "x5c": ["!!garbage!!", "AAAA"]}) == ["x5c[0] is not a base64 DER certificate",
                                                                      "x5c[1] is not a base64 DER certificate"]
    assert x5c_problems({**jwk, "x5c": "MIIB"}) == ["member 'x5c' is not a non-empty array of certificates"]
    assert x5c_problems(with_x5c(jwk, certificate_der(other_key()))) == [
        "the key in x5c[0] is not the JWK's key (a different RSA modulus or exponent)"]
    assert x5c_problems(with_x5c(jwk, der, x5t256=b64u(b"\0" * 32))) == ["x5t#S256 is not the SHA256 thumbprint of x5c[0]"]
    assert x5c_problems({**with_x5c(jwk, der), "x5t": "AAAA"}) == ["x5t is not the SHA1 thumbprint of x5c[0]"]
    ec_jwk = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}
    assert x5c_problems(with_x5c(ec_jwk, der)) == ["the key in x5c[0] is not the JWK's key (the certificate holds a "
                                                   "RSA key)"]
    assert len(x5c_problems({**jwk, "x5c": [base64.b64encode(der).decode()] * 50})) == 1


# ---- throttles and stale tokens ------------------------------------------------------------------------
def _response(status: int, **headers: str) -> Response:
    exchange = Exchange(id="x1", method="GET", url="https://idp.test/x", started="now")
    return Response(status=status, headers=httpx.Headers(headers), content=b"{}", url="https://idp.test/x",
                    exchange=exchange)


def test_a_throttle_is_named_with_the_wait_it_asks_for() -> None:
    assert _response(429, **{"Retry-After": "3600"}).throttled == \
        "the provider asks to wait 3600 s (Retry-After); not evaluated"
    assert _response(503, **{"Retry-After": "2"}).throttled == \
        "the provider throttled the request (HTTP 503, Retry-After 2); not evaluated"
    assert _response(429).throttled == "the provider throttled the request (HTTP 429); not evaluated"
    assert _response(503).throttled is None  # unavailable without a wait: an answer like any 5xx
    assert _response(200, **{"Retry-After": "9"}).throttled is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds("nan") is None and retry_after_seconds("-5") == 0


def test_a_cached_token_is_stale_when_little_of_its_life_is_left() -> None:
    def token(expires_in: Any, claims: dict[str, Any] | None = None, age: float = 0.0) -> Token:
        from pytest_authcheck._redact import Secret

        return Token(client="c", access_token=Secret("t"), token_type="Bearer", expires_in=expires_in, scope=None,
                     obtained_at=time.time() - age, response=_response(200), claims=claims)

    assert not token(3600).stale() and token(3600, age=3590).stale()
    assert not token(3).stale() and token(3, age=2).stale()  # half the life of a short-lived token
    assert token(None, {"iat": 0, "exp": 600}, age=590).stale() and not token(None, {"iat": 0, "exp": 600}).stale()
    assert not token(None, age=10**6).stale()  # no stated lifetime: never refetched
