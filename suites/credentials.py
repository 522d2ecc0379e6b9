"""Credentials files on this machine: who can read them, what they hold, whose tokens they are, and when
those expire (seed: "Token Stored But Commands Fail", "Invalid or Expired Token", ``chmod 600``).

Every check here is offline except ``credentials.token-signature``, which fetches the provider's JWK Set
(once per run). No check prints a token: decoded claims and a fingerprint are the evidence.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._credentials import (
    CredentialsUnreadable,
    audiences,
    current_uid,
    describe_bits,
    describe_user,
    excess_bits,
    format_mode,
    format_time,
    human_duration,
    read_json_object,
    seconds_until,
    shape_problems,
    signature_problem,
)
from pytest_authcheck._credentials_fixtures import register_secrets
from pytest_authcheck._duration import format_duration
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import AtMost, OneOf, Quantity, Satisfies

_POSIX_ONLY = "file owners and modes are POSIX notions; this machine has none"
_OTHERS_WRITE = 0o022


def _provider(policy, credential_file):
    name = credential_file.config.get("provider")
    return (name, policy.section("providers")[name]) if name else (None, None)


def _oidc_issuer(policy, credential_file):
    name, provider = _provider(policy, credential_file)
    if provider is None:
        pytest.skip(f"{credential_file.target} declares no provider")
    if provider.get("kind") != "oidc":
        pytest.skip(f"providers.{name} is a {provider.get('kind')} provider; its tokens carry no declared issuer")
    return name, provider["issuer"]


def _jwt(stored_access_token, authcheck_record, credential_file):
    if not stored_access_token.is_jwt:
        pytest.skip(f"the access token in {credential_file.path} is opaque (not a JWT); its claims cannot be read "
                    "on this machine")
    authcheck_record.jwt(f"access token in {credential_file.target}", stored_access_token.access_token.reveal())
    return stored_access_token.claims


def _short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ---- the file ---------------------------------------------------------------------------------------------
@check("credentials.file-present", title="The declared credentials file exists and is a regular file",
       sends="Nothing: looks at the file on this machine.",
       severity="high", area="credentials", refs=["RFC 6749 §10.3", "RFC 6819 §5.3.3"],
       remediation="Log in with the client tool so it writes its credentials file at the declared path, or correct "
                   "the path in the policy (and the tool's setting, e.g. ENCLII_CREDENTIALS_PATH). Replace a "
                   "directory, FIFO or device at that path with the tool's file.")
def test_file_present(credential_file, authcheck_record):
    facts = credential_file.inspect()
    authcheck_record.fact("file", facts.to_dict())
    authcheck_record.expect("regular file", facts.kind or "nothing")
    if not facts.exists:
        authcheck_record.fail(f"there is no file at {credential_file.written} ({credential_file.path})"
                              + (f": {facts.kind}" if facts.kind else ""))
    if facts.kind != "regular file":
        authcheck_record.fail(f"{credential_file.path} is a {facts.kind}, not a regular file")


@check("credentials.file-owner", title="The credentials file is owned by the user who runs the client",
       sends="Nothing: reads the file's owner.",
       severity="high", area="credentials", refs=["RFC 6749 §10.3", "RFC 6819 §5.3.3", "CWE-732"],
       remediation="Give the file to the user who runs the client tool (chown USER FILE), or log in again as that "
                   "user so the tool writes its own file; another owner can read, change or replace the tokens.")
def test_file_owner(credential_file, credential_file_facts, authcheck_record):
    uid = current_uid()
    if uid is None:
        pytest.skip(_POSIX_ONLY)
    authcheck_record.expect(describe_user(uid), describe_user(credential_file_facts.uid))
    if credential_file_facts.uid != uid:
        authcheck_record.fail(f"{credential_file.path} is owned by {describe_user(credential_file_facts.uid)}, "
                              f"not by {describe_user(uid)} who runs the check")


@check("credentials.file-mode", title="The credentials file is readable by its owner only (mode 600 or stricter)",
       sends="Nothing: reads the file's mode.",
       severity="high", area="credentials", refs=["RFC 6749 §10.3", "RFC 6749 §10.4", "RFC 6819 §5.3.3", "CWE-732"],
       remediation="chmod 600 the file (or the stricter mode the policy declares). If others could read it, treat "
                   "the tokens in it as exposed: revoke them and log in again.")
def test_file_mode(credential_file, credential_file_facts, authcheck_record):
    if current_uid() is None:
        pytest.skip(_POSIX_ONLY)
    allowed = credential_file.allowed_mode
    excess = excess_bits(credential_file_facts.mode, allowed)
    authcheck_record.expect(Satisfies(lambda mode: not excess_bits(int(mode, 8), allowed),
                                      f"{format_mode(allowed)} or stricter"), format_mode(credential_file_facts.mode))
    if excess:
        authcheck_record.fail(f"{credential_file.path} has mode {format_mode(credential_file_facts.mode)}, which "
                              f"allows {describe_bits(excess)}; the policy allows at most {format_mode(allowed)}")


@check("credentials.dir-not-writable", title="No one else can replace the credentials file (its directory is not "
       "writable by group or others)", severity="high", area="credentials", refs=["RFC 6819 §5.3.3", "CWE-732"],
       sends="Nothing: reads the mode of the file's directory.",
       remediation="chmod 700 the directory that holds the file (e.g. ~/.enclii) and make sure it belongs to you; "
                   "whoever can write the directory can swap the file for tokens of their own.")
def test_dir_not_writable(credential_file, credential_file_facts, authcheck_record):
    uid = current_uid()
    if uid is None:
        pytest.skip(_POSIX_ONLY)
    facts = credential_file_facts
    if facts.dir_mode is None:
        raise EvaluationError(f"cannot stat the directory {facts.directory}")
    owners = (describe_user(uid),) if uid == 0 else (describe_user(uid), describe_user(0))
    authcheck_record.expect({"mode": Satisfies(lambda mode: not int(mode, 8) & _OTHERS_WRITE,
                                               "not writable by group or others"),
                             "owner": OneOf(owners, " or ".join(str(o) for o in owners))},
                            {"mode": format_mode(facts.dir_mode), "owner": describe_user(facts.dir_uid)})
    problems = []
    if facts.dir_mode & _OTHERS_WRITE:
        problems.append(f"mode {format_mode(facts.dir_mode)} allows {describe_bits(facts.dir_mode & _OTHERS_WRITE)}")
    if facts.dir_uid not in (uid, 0):
        problems.append(f"it is owned by {describe_user(facts.dir_uid)}")
    if problems:
        authcheck_record.fail(f"the directory {facts.directory}: " + "; ".join(problems))


@check("credentials.dir-private", title="The credentials file's directory is private (mode 700)",
       sends="Nothing: reads the mode of the file's directory.",
       severity="low", area="credentials", level="SHOULD", refs=["RFC 6819 §5.3.3", "CWE-732"],
       remediation="chmod 700 the directory that holds the file, so others cannot even list which credentials "
                   "exist or watch them change.")
def test_dir_private(credential_file, credential_file_facts, authcheck_record):
    if current_uid() is None:
        pytest.skip(_POSIX_ONLY)
    mode = credential_file_facts.dir_mode
    if mode is None:
        raise EvaluationError(f"cannot stat the directory {credential_file_facts.directory}")
    authcheck_record.expect(Satisfies(lambda shown: not int(shown, 8) & 0o077, "0700 or stricter"), format_mode(mode))
    if mode & 0o077:
        authcheck_record.fail(f"the directory {credential_file_facts.directory} has mode {format_mode(mode)}, which "
                              f"allows {describe_bits(mode & 0o077)}; 0700 is recommended")


@check("credentials.file-format", title="The credentials file is JSON of the declared shape",
       sends="Nothing: reads the file.",
       severity="medium", area="credentials", refs=["RFC 6749 §5.1", "RFC 8259 §2"],
       remediation="Remove the corrupted file and log in again so the tool rewrites it (seed: rm "
                   "~/.enclii/credentials.json && enclii login); declare the members your tool writes with "
                   "`fields` if they differ.")
def test_file_format(credential_file, credential_file_facts, authcheck_run, authcheck_record):
    fields = list(credential_file.fields)
    try:
        document = read_json_object(credential_file.path)
    except CredentialsUnreadable as exc:
        authcheck_record.fail(str(exc), expected=f"a JSON object with {', '.join(fields)}", observed="unreadable")
    register_secrets(authcheck_run, document)
    problems = shape_problems(document, fields)
    # Member names and types only: the values are tokens.
    authcheck_record.expect({"members": Satisfies(lambda members: set(fields) <= set(members),
                                                  f"including {', '.join(fields)}"), "problems": []},
                            {"members": sorted(document), "problems": problems})
    if problems:
        authcheck_record.fail(f"{credential_file.path}: " + "; ".join(problems))


# ---- the stored token -------------------------------------------------------------------------------------
@check("credentials.token-issuer", title="The stored access token was issued by the declared provider",
       sends="Nothing: reads the stored token's claims.",
       severity="high", area="credentials", refs=["RFC 9068 §4", "RFC 7519 §4.1.1", "OIDC Discovery 1.0 §4.3"],
       remediation="Log in again against the declared provider, and check the tool's issuer setting (e.g. "
                   "ENCLII_OIDC_ISSUER): a token from another issuer is refused by the API.")
def test_token_issuer(credential_file, stored_access_token, authcheck_policy, authcheck_record):
    name, issuer = _oidc_issuer(authcheck_policy, credential_file)
    claims = _jwt(stored_access_token, authcheck_record, credential_file)
    observed = claims.get("iss")
    authcheck_record.expect(issuer, observed)
    if observed != issuer:
        authcheck_record.fail(f"the stored access token was issued by {_short(observed)}, not by providers.{name} "
                              f"({issuer})")


@check("credentials.token-signature", title="The stored access token verifies with the provider's published keys",
       sends="A GET of the provider's JWK Set (once per run); the stored token never leaves this machine.",
       severity="high", area="credentials", refs=["RFC 9068 §4", "RFC 7515 §5.2", "OIDC Core 1.0 §10.1"],
       remediation="Delete the stored token and log in again: a token that does not verify was issued by another "
                   "provider (or an old key), or was altered.")
def test_token_signature(credential_file, stored_access_token, credential_provider_jwks, authcheck_record):
    name = credential_file.config["provider"]
    jwks = credential_provider_jwks
    header = stored_access_token.header or {}
    keys = jwks.get("keys") if isinstance(jwks.get("keys"), list) else []
    authcheck_record.fact("signature", {"alg": header.get("alg"), "kid": header.get("kid"),
                                        "published kids": [k.get("kid") for k in keys if isinstance(k, dict)]})
    problem = signature_problem(stored_access_token.access_token.reveal(), header, jwks)
    verifies = f"verifies with a key of providers.{name}"
    authcheck_record.expect({"signature": verifies}, {"signature": verifies if problem is None else "does not verify"})
    if problem:
        authcheck_record.fail(f"the stored access token does not verify with providers.{name}'s JWK Set: {problem}")


@check("credentials.token-audience", title="The stored access token is for the declared audience",
       sends="Nothing: reads the stored token's claims.",
       severity="medium", area="credentials", refs=["RFC 9068 §4", "RFC 7519 §4.1.3", "RFC 8707 §2"],
       remediation="Log in again requesting the declared resource (audience); an API refuses tokens meant for "
                   "another audience.")
def test_token_audience(credential_file, stored_access_token, authcheck_policy, authcheck_record):
    client = credential_file.config.get("client")
    expected = credential_file.config.get("audience") or (
        authcheck_policy.section("clients")[client].get("resource") if client else None)
    if not expected:
        pytest.skip(f"{credential_file.target} declares no audience (and its client no resource)")
    claims = _jwt(stored_access_token, authcheck_record, credential_file)
    observed = audiences(claims)
    authcheck_record.expect(Satisfies(lambda aud: expected in audiences({"aud": aud}), f"contains {expected!r}"),
                            claims.get("aud"))
    if expected not in observed:
        authcheck_record.fail(f"the stored access token's aud is {_short(claims.get('aud'))}, which does not "
                              f"contain {expected!r}")


@check("credentials.token-client", title="The stored access token was issued to the declared client",
       sends="Nothing: reads the stored token's claims.",
       severity="medium", area="credentials", refs=["RFC 9068 §2.2", "OIDC Core 1.0 §2 (azp)"],
       remediation="Log in again with the declared client (check the tool's client id setting, e.g. "
                   "ENCLII_CLIENT_ID); tokens of another client carry its grants and may be revoked with it.")
def test_token_client(credential_file, stored_access_token, authcheck_policy, authcheck_record):
    client = credential_file.config.get("client")
    if not client:
        pytest.skip(f"{credential_file.target} declares no client")
    expected = authcheck_policy.section("clients")[client]["client_id"]
    claims = _jwt(stored_access_token, authcheck_record, credential_file)
    observed = claims.get("client_id", claims.get("azp"))
    authcheck_record.expect(expected, observed)
    if observed is None:
        authcheck_record.fail("the stored access token names no client (neither client_id nor azp)")
    if observed != expected:
        authcheck_record.fail(f"the stored access token was issued to client {_short(observed)}, not to "
                              f"clients.{client} ({expected!r})")


@check("credentials.expiry-consistent", title="The stored expires_at agrees with the token's exp",
       sends="Nothing: reads the file and the stored token's claims.",
       severity="low", area="credentials", level="SHOULD", refs=["RFC 7519 §4.1.4", "RFC 6749 §5.1"],
       remediation="Log in again so the tool stores the expiry of the token it holds; a wrong expires_at makes the "
                   "tool use an expired token, or refresh too late.")
def test_expiry_consistent(credential_file, stored_access_token, authcheck_policy, authcheck_record):
    stored = stored_access_token.expires_at
    if stored is None:
        pytest.skip(f"{credential_file.path} stores no usable expires_at")
    claims = _jwt(stored_access_token, authcheck_record, credential_file)
    exp = stored_access_token.exp
    if exp is None:
        authcheck_record.fail("the stored access token has no numeric exp claim", expected=format_time(stored),
                              observed=_short(claims.get("exp")))
    tolerance = authcheck_policy.settings.max_clock_skew
    difference = (stored - exp).total_seconds()
    direction = "after" if difference > 0 else "before"
    authcheck_record.fact("times", {"expires_at": format_time(stored), "exp": format_time(exp)})
    authcheck_record.expect(
        {"expires_at": AtMost(tolerance, f"within {format_duration(tolerance)} of exp ({format_time(exp)})")},
        {"expires_at": Quantity(abs(difference), format_time(stored) if not difference else
                                f"{format_time(stored)} ({human_duration(difference)} {direction} exp)")})
    if abs(difference) > tolerance:
        authcheck_record.fail(f"expires_at {format_time(stored)} is {human_duration(difference)} {direction} the "
                              f"token's exp {format_time(exp)} (max_clock_skew {format_duration(tolerance)})")


def _expiry(stored_access_token, credential_file):
    expires = stored_access_token.exp or stored_access_token.expires_at
    if expires is None:
        pytest.skip(f"neither the token nor {credential_file.path} says when it expires")
    return expires


@check("credentials.token-not-expired", title="The stored access token has not expired",
       sends="Nothing: reads the stored token's exp.",
       severity="medium", area="credentials", refs=["RFC 7519 §4.1.4", "RFC 6749 §6"],
       remediation="Log in again (seed: enclii logout && enclii login), or let the tool refresh the token; remove "
                   "stale credentials files that no tool renews.")
def test_token_not_expired(credential_file, stored_access_token, authcheck_record):
    expires = _expiry(stored_access_token, credential_file)
    left = seconds_until(expires)
    authcheck_record.expect(Satisfies(lambda seconds: seconds > 0, "a time in the future"),
                            Quantity(left, format_time(expires)))
    if left <= 0:
        refresh = " (a refresh token is stored beside it)" if stored_access_token.refresh_token else ""
        authcheck_record.fail(f"the stored access token expired at {format_time(expires)}, "
                              f"{human_duration(seconds_until(expires))} ago{refresh}")


@check("credentials.token-expiring-soon", title="The stored access token does not expire within the declared window",
       sends="Nothing: reads the stored token's exp.",
       severity="low", area="credentials", level="SHOULD", refs=["RFC 6749 §6", "RFC 7519 §4.1.4"],
       remediation="Renew the token (log in again or refresh) before it expires, so unattended jobs that use it "
                   "do not start failing.")
def test_token_expiring_soon(credential_file, stored_access_token, authcheck_record):
    window = credential_file.expiry_warning
    if window is None:
        pytest.skip(f"{credential_file.target} declares no expiry_warning")
    expires = _expiry(stored_access_token, credential_file)
    left = seconds_until(expires)
    if left <= 0:
        pytest.skip("the token has already expired (credentials.token-not-expired reports it)")
    authcheck_record.expect(Satisfies(lambda seconds: seconds > window, f"more than {format_duration(window)} left"),
                            Quantity(left, f"{format_time(expires)} (in {human_duration(left)})"))
    if left <= window:
        authcheck_record.fail(f"the stored access token expires at {format_time(expires)}, in "
                              f"{human_duration(seconds_until(expires))} (expiry_warning {format_duration(window)})")

