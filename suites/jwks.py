"""JWKS and signing keys: what a provider publishes to verify its tokens (RFC 7517, RFC 7518, OIDC Core §10).

Checks judge the first ``MAX_KEYS`` keys of a set; one that found nothing wrong in them but could not
judge them all is not evaluated (``unjudged``), and jwks.structure fails a set that holds more.
"""

from __future__ import annotations

import json

import jwt
import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import token_clients
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import AtLeast, AtMost, OneOf, Quantity, Satisfies
from pytest_authcheck._jwk import (
    MAX_KEYS,
    alg_fits,
    all_keys,
    can_sign,
    describe,
    private_members,
    rsa_bits,
    strength_problem,
    structure_problems,
    unjudged,
)
from pytest_authcheck._jwt import jwk_thumbprint
from pytest_authcheck._redact import PRIVATE_JWK_MEMBERS
from pytest_authcheck._x5c import x5c_problems

FORBIDDEN_HEADER_KEYS = ("jku", "x5u", "jwk", "x5c")


def _keys(jwks):
    """The keys a check judges: the first MAX_KEYS of the set."""
    return all_keys(jwks)[:MAX_KEYS]


def _keys_to_judge(jwks):
    """The judged keys, or not applicable (skipped) when there are none: jwks.reachable reports that."""
    keys = _keys(jwks)
    if not keys:
        pytest.skip("the JWK Set holds no keys to judge (jwks.reachable reports it)")
    return keys


def _judged_all(jwks):
    """A check that found nothing wrong passes only when it judged every key."""
    reason = unjudged(jwks)
    if reason is not None:
        raise EvaluationError(reason)


def _summary(keys):
    out = []
    for index, key in enumerate(keys):
        if not isinstance(key, dict):
            out.append({"key": index, "problem": "not an object"})
            continue
        item = {k: key.get(k) for k in ("kid", "kty", "crv", "alg", "use") if k in key}
        if key.get("kty") == "RSA":
            item["bits"] = rsa_bits(key)
        item["thumbprint"] = jwk_thumbprint(key)
        out.append(item)
    return out


@check("jwks.reachable", title="JWK Set is served and holds at least one key",
       sends="A GET of jwks_uri, once per provider per run (every jwks check reads that answer).",
       severity="high", area="jwks", refs=["RFC 7517 §5", "OIDC Discovery 1.0 §3 (jwks_uri)"],
       remediation="Serve the signing keys as a JSON object with a non-empty 'keys' array at the jwks_uri, with HTTP 200.")
def test_jwks_reachable(oidc_provider, oidc_metadata, authcheck_record):
    document = oidc_provider.jwks()
    authcheck_record.attach(document.exchange)
    if document.response is None:
        raise document.error
    response = document.response
    expected = {"HTTP status": 200, "keys": AtLeast(1, "a non-empty 'keys' array")}
    authcheck_record.expect(expected, {"HTTP status": response.status, "keys": "not read"})
    if response.status != 200:
        authcheck_record.fail(f"jwks_uri {document.url} answered HTTP {response.status}")
    try:
        body = response.json()
    except Exception:
        authcheck_record.expect(expected, {"HTTP status": response.status, "keys": "not JSON"})
        authcheck_record.fail(f"jwks_uri {document.url} did not answer JSON ({response.content_type})")
    keys = body.get("keys") if isinstance(body, dict) else None
    found = Quantity(len(keys), f"{len(keys)} key(s)") if isinstance(keys, list) else \
        "no 'keys' member" if keys is None else f"'keys' is {type(keys).__name__}"
    authcheck_record.expect(expected, {"HTTP status": response.status, "keys": found})
    if not isinstance(keys, list) or not keys:
        authcheck_record.fail("the JWK Set has no non-empty 'keys' array")
    authcheck_record.fact("keys", _summary(keys[:MAX_KEYS]))
    if len(keys) > MAX_KEYS:
        authcheck_record.fact("key count", f"{len(keys)} keys; the summary shows the first {MAX_KEYS}")


@check("jwks.structure", title="Every key is a well-formed JWK",
       sends="Nothing of its own: reads the JWK Set.",
       severity="medium", area="jwks", refs=["RFC 7517 §4", "RFC 7517 §4.7", "RFC 7518 §6"],
       remediation="Publish each key with the members its kty requires (RSA: n, e; EC: crv, x, y; OKP: crv, x) in "
                   "unpadded base64url, and string values for kid, use and alg; an x5c must hold base64 DER "
                   "certificates whose first carries the key itself (and x5t/x5t#S256 its thumbprints); publish "
                   "the few keys in rotation, not hundreds.")
def test_jwks_structure(oidc_jwks, authcheck_record):
    keys = _keys_to_judge(oidc_jwks)
    count = len(all_keys(oidc_jwks))
    problems = [f"the JWK Set holds {count} keys, more than the {MAX_KEYS} a provider plausibly rotates through; "
                f"only the first {MAX_KEYS} were judged"] if count > MAX_KEYS else []
    problems += [f"{describe(k, i)} {p}" for i, k in enumerate(keys)
                 for p in structure_problems(k) + (x5c_problems(k) if isinstance(k, dict) else [])]
    authcheck_record.fact("keys", _summary(keys))
    authcheck_record.expect(AtMost(0, "well-formed JWKs (no problem)"), Quantity.count(problems, f"{len(keys)} well-formed key(s)"))
    if problems:
        authcheck_record.fact("problems", problems[:50])
        authcheck_record.fail("; ".join(problems[:20]))


def _distinct(kids):
    named = [json.dumps(k, sort_keys=True) for k in kids if k is not None]
    return len(named) == len(set(named))


@check("jwks.unique-kid", title="Key ids are present and unique",
       sends="Nothing of its own: reads the JWK Set.",
       severity="high", area="jwks", refs=["RFC 7517 §4.5", "OIDC Core 1.0 §10.1"],
       remediation="Give every key its own kid; when rotating, publish the new key under a new kid next to the old one.")
def test_unique_kids(oidc_jwks, authcheck_record):
    keys = [k for k in _keys_to_judge(oidc_jwks) if isinstance(k, dict)]
    kids = [k.get("kid") for k in keys]
    signing = [k for k in keys if k.get("use") in (None, "sig")]
    unnamed = sum(k.get("kid") is None for k in signing)
    # One signing key may go without a kid (verifiers have no choice to make); several may not.
    authcheck_record.expect(
        {"kids": Satisfies(_distinct, "a distinct kid per key"),
         "signing keys without kid": AtMost(0 if len(signing) > 1 else 1,
                                             "none (several signing keys)" if len(signing) > 1 else "any (one signing key)")},
        {"kids": kids, "signing keys without kid": Quantity(unnamed, f"{unnamed} of {len(signing)}")})
    duplicates = sorted({repr(k) for k in kids if k is not None and kids.count(k) > 1})
    if duplicates:
        authcheck_record.fail(f"kid(s) used by more than one key: {', '.join(duplicates)}")
    if len(signing) > 1 and unnamed:
        authcheck_record.fail(f"{unnamed} of {len(signing)} signing keys have no kid")
    _judged_all(oidc_jwks)


@check("jwks.key-strength", title="Keys are strong enough: RSA of 2048 bits or more, allowed curves",
       sends="Nothing of its own: reads the JWK Set.",
       severity="high", area="jwks", refs=["RFC 7518 §3.3", "RFC 7518 §3.4", "NIST SP 800-131A"],
       remediation="Replace weak keys: RSA with at least 2048 bits, EC on P-256, P-384 or P-521, OKP on Ed25519 or Ed448.")
def test_key_strength(oidc_jwks, authcheck_record):
    keys = _keys_to_judge(oidc_jwks)
    authcheck_record.fact("keys", _summary(keys))
    weak = [f"{describe(k, i)}: {problem}" for i, k in enumerate(keys)
            if isinstance(k, dict) and (problem := strength_problem(k))]
    authcheck_record.expect(AtMost(0, "no weak key (RSA >= 2048 bits; EC P-256/P-384/P-521; OKP Ed25519/Ed448)"),
                            Quantity.count(weak, f"{len(keys)} key(s), none weak"))
    if weak:
        authcheck_record.fail("weak key(s): " + "; ".join(weak))
    _judged_all(oidc_jwks)


@check("jwks.no-private-material", title="Only public keys are published",
       sends="Nothing of its own: reads the JWK Set.",
       severity="critical", area="jwks", refs=["RFC 7517 §9.3", "RFC 7518 §6.2.2", "RFC 7518 §6.3.2", "RFC 7518 §6.4"],
       remediation="Remove private members (d, p, q, dp, dq, qi, oth) and symmetric keys (kty oct) from the JWK Set "
                   "now, and rotate those keys: anyone who fetched them can sign tokens.")
def test_no_private_material(oidc_jwks, authcheck_record):
    keys = _keys_to_judge(oidc_jwks)
    leaks = {describe(k, i): members for i, k in enumerate(keys)
             if isinstance(k, dict) and (members := private_members(k))}
    authcheck_record.expect(AtMost(0, "public members only"),
                            Quantity.count([f"{k}: {', '.join(v)}" for k, v in leaks.items()],
                                   f"{len(keys)} key(s), public members only"))
    if leaks:
        authcheck_record.fail("private or symmetric key material is published: "
                              + "; ".join(f"{k}: {', '.join(v)}" for k, v in leaks.items()))
    _judged_all(oidc_jwks)


@check("jwks.use-alg-coherent", title="Each key's use and alg fit its type",
       sends="Nothing of its own: reads the JWK Set.",
       severity="medium", area="jwks", level="SHOULD",
       refs=["RFC 7517 §4.2", "RFC 7517 §4.4", "RFC 7518 §3.1", "OIDC Discovery 1.0 §3 (jwks_uri)"],
       remediation="Set alg to an algorithm of the key's type (RS*/PS* for RSA, ES256 for P-256 ...), use to 'sig' "
                   "or 'enc', and give every key a use when signing and encryption keys are published together.")
def test_use_alg_coherent(oidc_jwks, authcheck_record):
    keys = [k for k in _keys_to_judge(oidc_jwks) if isinstance(k, dict)]
    problems = []
    for index, key in enumerate(keys):
        if "use" in key and key["use"] not in ("sig", "enc"):
            problems.append(f"{describe(key, index)} has use {key['use']!r}")
        alg = key.get("alg")
        if isinstance(alg, str) and not alg.startswith(("RSA", "ECDH", "A1", "A2", "dir")) and not alg_fits(alg, key):
            kind = " ".join(str(p) for p in (key.get("kty"), key.get("crv")) if p)
            problems.append(f"{describe(key, index)} has alg {alg} that a {kind} key cannot carry")
    uses = {k.get("use") if isinstance(k.get("use"), (str, type(None))) else "?" for k in keys}
    if "enc" in uses and None in uses:
        problems.append("signing and encryption keys are mixed, but not every key says its use")
    authcheck_record.fact("keys", _summary(keys))
    authcheck_record.expect(AtMost(0, "use and alg fitting each key"), Quantity.count(problems, f"{len(keys)} key(s), all coherent"))
    if problems:
        authcheck_record.fail("; ".join(problems))
    _judged_all(oidc_jwks)


@check("jwks.algs-backed", title="Every advertised signing algorithm has a published key",
       sends="Nothing of its own: reads the metadata and the JWK Set.",
       severity="high", area="jwks", refs=["OIDC Discovery 1.0 §3", "OIDC Core 1.0 §10.1"],
       remediation="Publish a signing key for each algorithm in id_token_signing_alg_values_supported, or stop "
                   "advertising algorithms the provider has no key for.")
def test_algs_backed(oidc_metadata, oidc_jwks, authcheck_record):
    listed = oidc_metadata.get("id_token_signing_alg_values_supported")
    advertised = [a for a in (listed if isinstance(listed, list) else [])
                  if isinstance(a, str) and a != "none" and not a.startswith("HS")]
    if not advertised:
        pytest.skip("id_token_signing_alg_values_supported lists no asymmetric algorithm to find a key for")
    keys = [k for k in _keys(oidc_jwks) if isinstance(k, dict)]
    unbacked = [alg for alg in advertised if not any(can_sign(k, alg) for k in keys)]
    authcheck_record.expect({alg: Satisfies(bool, "a published key") for alg in advertised},
                            {alg: [describe(k, i) for i, k in enumerate(keys) if can_sign(k, alg)] for alg in advertised})
    if unbacked:
        _judged_all(oidc_jwks)  # a key beyond the judged ones might back it
        advertised_word = "it" if len(unbacked) == 1 else "them"
        authcheck_record.fail(f"no published key can verify {', '.join(unbacked)}, yet the metadata advertises {advertised_word}")


@check("jwks.token-signature", title="Issued JWTs name a published key and verify with it",
       sends="A client-credentials token request for the provider's first active client_credentials client with a secret (once per client "
             "per run).",
       severity="high", area="jwks", refs=["OIDC Core 1.0 §10.1", "RFC 9068 §4", "RFC 8725 §3.1"],
       remediation="Sign tokens only with keys published in the JWK Set, with an advertised algorithm, and without "
                   "jku/x5u/jwk/x5c headers that point verifiers elsewhere.")
def test_token_signature(oidc_provider, oidc_metadata, oidc_jwks, authcheck_policy, authcheck_token, authcheck_record):
    clients = token_clients(authcheck_policy, oidc_provider.name)
    if not clients:
        pytest.skip("the policy declares no active client_credentials client with a secret for this provider")
    token = authcheck_token(clients[0])
    if not token.is_jwt:
        pytest.skip(f"clients.{clients[0]} gets an opaque access token; there is no signature to check")
    authcheck_record.jwt(f"access token of clients.{clients[0]}", token.access_token.reveal())
    header = token.header or {}
    problems = [f"header carries {k!r}" for k in FORBIDDEN_HEADER_KEYS if k in header]
    alg = header.get("alg")
    listed = oidc_metadata.get("id_token_signing_alg_values_supported")
    advertised = {a for a in (listed if isinstance(listed, list) else []) if isinstance(a, str)}
    signed = isinstance(alg, str) and alg != "none"
    keys = [k for k in all_keys(oidc_jwks) if isinstance(k, dict)]
    # The kid is looked up among every key (a comparison each); at most MAX_KEYS of them are tried.
    candidates = ([k for k in keys if k.get("kid") == header.get("kid")] if "kid" in header else keys)[:MAX_KEYS]
    verified = False
    for key in candidates if signed else []:
        try:
            public_members = {k: v for k, v in key.items() if k not in PRIVATE_JWK_MEMBERS}
            public = jwt.PyJWK.from_json(json.dumps(public_members), algorithm=alg)
            jwt.decode(token.access_token.reveal(), key=public.key, algorithms=[alg],
                       options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False})
            verified = True
            break
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
    authcheck_record.fact("kids in the JWK Set", [k.get("kid") for k in keys[:MAX_KEYS]])
    untried = unjudged(oidc_jwks) if "kid" not in header else None  # without a kid, an untried key might verify it
    if signed and candidates and not verified and not problems and untried is not None:
        raise EvaluationError(untried)
    authcheck_record.expect(
        {"alg": Satisfies(lambda a: isinstance(a, str) and a != "none", "a signature algorithm, not none"),
         "kid": OneOf(("in the JWK Set", "none named"), "in the JWK Set (or none named)"),
         "signature": "verifies with a published key", "headers pointing elsewhere": []},
        {"alg": alg,
         "kid": "none named" if "kid" not in header else "in the JWK Set" if candidates else "not in the JWK Set",
         "signature": "verifies with a published key" if verified else "not verified" if signed else "unsigned",
         "headers pointing elsewhere": [k for k in FORBIDDEN_HEADER_KEYS if k in header]})
    if not signed:
        authcheck_record.fail(f"the access token is not signed (alg {alg!r})")
    if not candidates:
        authcheck_record.fail(f"the token's kid {header.get('kid')!r} is not in the JWK Set")
    if not verified:
        problems.append(f"the signature does not verify with the published key(s) for kid {header.get('kid')!r}")
    at_algs = oidc_metadata.get("access_token_signing_alg_values_supported")
    if advertised and alg not in advertised and not (isinstance(at_algs, list) and alg in at_algs):
        authcheck_record.fact("note", f"alg {alg} is not among id_token_signing_alg_values_supported")
    if problems:
        authcheck_record.fail("; ".join(problems))
