"""A run at scale without a network: one OIDC provider, N clients, ~20 checks per client.

``write_project`` lays out a folder in which ``pytest --authcheck`` runs only generated checks: the policy
declares the provider (never contacted) and N clients, a ``conftest.py`` takes the shipped suites out of the arguments
(they would go to the network), and ``checks/test_synthetic.py`` holds the checks. Each check runs once
per client through the real ``oidc_client`` target fixture, records evidence the way the suites do
(HTTP exchanges shared by the checks of a client and one shared by every client, facts, a decoded JWT,
expected vs observed) and ends passed, failed, error or skipped in fixed proportions, decided by a hash
of (check, client) so every run of the same size is the same. A few failures are waived in the policy.

Used by ``tests/test_report_scale.py`` and by ``benchmarks/bench_report_scale.py``.
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
from pathlib import Path

CHECKS_PER_TARGET = 20
AREAS = ("discovery", "jwks", "tls", "clients", "api")
SEVERITIES = ("critical", "high", "medium", "low", "info")
# Out of 100 results: passed, failed, error, skipped (the rest is decided per check below).
FAILED_PERCENT, ERROR_PERCENT, SKIPPED_PERCENT = 8, 2, 5
WAIVED_EVERY = 97  # every 97th client has its first failure waived

CONFTEST = '''
from pathlib import Path

import pytest

import pytest_authcheck.suites

SUITES = Path(pytest_authcheck.suites.__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # The shipped suites would contact the (unreachable) provider: only the generated checks run here.
    config.args[:] = [a for a in config.args if Path(a).resolve() != SUITES]
'''

MODULE_HEAD = '''
import base64
import hashlib
import json

import pytest

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._http import Exchange

ISSUER = "https://sso.scale.example"
STARTED = "2026-01-01T00:00:00+00:00"
DISCOVERY = json.dumps({
    "issuer": ISSUER, "authorization_endpoint": ISSUER + "/authorize", "token_endpoint": ISSUER + "/token",
    "jwks_uri": ISSUER + "/jwks", "userinfo_endpoint": ISSUER + "/me", "revocation_endpoint": ISSUER + "/revoke",
    "introspection_endpoint": ISSUER + "/introspect", "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
    "scopes_supported": ["openid", "profile", "email", "offline_access", "deploy", "read"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    "code_challenge_methods_supported": ["S256"],
    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "name"],
}, indent=1)
HEADERS = [["content-type", "application/json; charset=utf-8"], ["cache-control", "no-store"],
           ["date", "Thu, 01 Jan 2026 00:00:00 GMT"], ["strict-transport-security", "max-age=63072000"],
           ["x-request-id", "0123456789abcdef"]]
_exchanges = {}


def shared(kind, client):
    """The exchange ``kind`` of ``client`` (``None``: the provider's), created once and attached by many checks."""
    key = (kind, client)
    if key not in _exchanges:
        n = len(_exchanges)
        if kind == "discovery":
            x = Exchange(id=f"x{n}", method="GET", url=ISSUER + "/.well-known/openid-configuration", started=STARTED,
                         status=200, reason="OK", http_version="HTTP/1.1", tls_version="TLSv1.3",
                         request_headers=[["accept", "application/json"]], response_headers=HEADERS,
                         response_body=DISCOVERY, elapsed_ms=12.5)
        elif kind == "token":
            body = json.dumps({"access_token": "[REDACTED]", "token_type": "Bearer", "expires_in": 3600,
                               "scope": "deploy read"})
            x = Exchange(id=f"x{n}", method="POST", url=ISSUER + "/token", started=STARTED, status=200, reason="OK",
                         http_version="HTTP/1.1", tls_version="TLSv1.3",
                         request_headers=[["authorization", "Basic [REDACTED]"],
                                          ["content-type", "application/x-www-form-urlencoded"]],
                         request_body=f"grant_type=client_credentials&scope=deploy+read&client_id={client}",
                         response_headers=HEADERS, response_body=body, elapsed_ms=30.1)
        else:
            body = json.dumps({"error": "invalid_request", "error_description": f"redirect_uri not registered for {client}"})
            x = Exchange(id=f"x{n}", method="GET",
                         url=f"{ISSUER}/authorize?client_id={client}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                         started=STARTED, status=400, reason="Bad Request", http_version="HTTP/1.1", tls_version="TLSv1.3",
                         response_headers=HEADERS, response_body=body, elapsed_ms=8.0)
        _exchanges[key] = x
    return _exchanges[key]


def token_for(client):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    claims = {"iss": ISSUER, "sub": client, "aud": "https://api.scale.example", "exp": 1767229200,
              "iat": 1767225600, "scope": "deploy read", "client_id": client}
    return part({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}) + "." + part(claims) + ".c2ln"


def judge(index, check_id, oidc_client, record):
    client = oidc_client.name
    result = outcome(check_id, client)
    if result == "skipped":
        pytest.skip(f"{oidc_client.target} has no refresh_token grant: nothing to rotate")
    if index % 5 == 0:
        record.attach(shared("discovery", None))
    record.attach(shared("token", client))
    if index % 3 == 0:
        record.attach(shared("authorize", client))
    record.fact("client", {"client_id": client, "grant_types": ["client_credentials"], "check": index})
    if index % 4 == 0:
        record.jwt(f"access token of {oidc_client.target}", token_for(client))
    if result == "error":
        raise EvaluationError(f"the token endpoint answered 503 for {client} (twice): cannot judge")
    expected = {"max_lifetime_s": 3600, "audience": "https://api.scale.example"}
    observed = dict(expected) if result == "passed" else {"max_lifetime_s": 86400, "audience": "*"}
    record.expect(expected, observed)
    if result == "failed":
        record.fail(f"{oidc_client.target}: access tokens live 86400 s (at most 3600 s allowed) and the audience is '*'",
                    expected=expected, observed=observed)
'''

CHECK_FUNCTION = '''

@check("scale.check-{index:02d}", title="Synthetic check {index} of every client", severity="{severity}",
       area="{area}", refs=["RFC 9700 §2.2.{index}", "RFC 6749 §10.{index}"], level="{level}",
       remediation="Configure the client so that its tokens are short-lived and bound to one audience; "
                   "see the identity provider's client settings, section {index}, and re-run the audit.")
def test_check_{index:02d}(oidc_client, authcheck_record):
    judge({index}, "scale.check-{index:02d}", oidc_client, authcheck_record)
'''


def client_names(targets: int) -> list[str]:
    """The generated clients' names."""
    return [f"c{n:05d}" for n in range(targets)]


def check_ids(checks: int = CHECKS_PER_TARGET) -> list[str]:
    """The generated checks' ids."""
    return [f"scale.check-{i:02d}" for i in range(checks)]


def outcome(check_id: str, client: str) -> str:
    """passed, failed, error or skipped, fixed for (check, client) (the generated module holds this function too)."""
    roll = int(hashlib.sha256(f"{check_id}@{client}".encode()).hexdigest()[:8], 16) % 100
    if roll < FAILED_PERCENT:
        return "failed"
    if roll < FAILED_PERCENT + ERROR_PERCENT:
        return "error"
    if roll < FAILED_PERCENT + ERROR_PERCENT + SKIPPED_PERCENT:
        return "skipped"
    return "passed"


def waived_pairs(targets: int, checks: int = CHECKS_PER_TARGET) -> list[tuple[str, str]]:
    """(check, client) of the failures the policy waives: the first failure of every ``WAIVED_EVERY``-th client."""
    pairs = []
    for client in client_names(targets)[::WAIVED_EVERY]:
        failing = [c for c in check_ids(checks) if outcome(c, client) == "failed"]
        if failing:
            pairs.append((failing[0], client))
    return pairs


def policy(targets: int, checks: int = CHECKS_PER_TARGET) -> str:
    """The policy: one provider, ``targets`` clients, and the waivers."""
    parts = [textwrap.dedent("""\
        [settings]
        reports = "reports"
        checks = ["checks"]

        [providers.sso]
        kind = "oidc"
        issuer = "https://sso.scale.example"
        """)]
    for name in client_names(targets):
        parts.append(f'[clients.{name}]\nprovider = "sso"\nclient_id = "{name}"\ntype = "public"\n'
                     'grant_types = ["authorization_code"]\nredirect_uris = ["https://app.scale.example/cb"]\n')
    for check_id, client in waived_pairs(targets, checks):
        parts.append(f'[[waivers]]\ncheck = "{check_id}"\ntarget = "clients.{client}"\nreason = "vendor fix due"\n'
                     'ticket = "SEC-9"\nexpires = "2099-12-31"\n')
    return "\n".join(parts)


def module(checks: int = CHECKS_PER_TARGET) -> str:
    """The generated checks."""
    head = (f"FAILED_PERCENT, ERROR_PERCENT, SKIPPED_PERCENT = {FAILED_PERCENT}, {ERROR_PERCENT}, {SKIPPED_PERCENT}\n"
            + MODULE_HEAD + "\n\n" + inspect.getsource(outcome))
    functions = [CHECK_FUNCTION.format(index=i, severity=SEVERITIES[i % len(SEVERITIES)], area=AREAS[i % len(AREAS)],
                                       level="MUST" if i % 3 else "SHOULD") for i in range(checks)]
    return head + "".join(functions)


def write_project(root: Path, targets: int, checks: int = CHECKS_PER_TARGET) -> Path:
    """Lay the project out in ``root``; returns the policy's path."""
    (root / "checks").mkdir(parents=True, exist_ok=True)
    (root / "checks" / "test_synthetic.py").write_text(module(checks), encoding="utf-8")
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    path = root / "authcheck.toml"
    path.write_text(policy(targets, checks), encoding="utf-8")
    return path
