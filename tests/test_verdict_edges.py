"""Verdicts on answers that cannot show what a check asks, from a scripted authorization server (tests/hostile_idp.py).

No real IdP here breaks its own ordinary request or throttles on cue, so these answers are scripted: the ordinary
authorization request gets a server error while every variation gets a 400 page (a refusal that proves nothing about
the variation), and a provider that answers every variation with ``temporarily_unavailable`` (a throttle, not a
refusal). Each check must then be *not evaluated* with the reason, never passed on a refusal it cannot attribute.
"""

from __future__ import annotations

import textwrap
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (one httpcore for pytester's in-process runs; see test_hostile)
import pytest
import trustme

from tests.hostile_idp import Answer, HostileIdp, Request, json_answer

DISCOVERY = "/.well-known/openid-configuration"
REDIRECT_URI = "http://127.0.0.1/callback"
CHECKS = "unregistered_refused or pkce_required or prompt_none"


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    ca = trustme.CA(organization_name="verdict edges test CA")
    path = tmp_path_factory.mktemp("edges-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield ca, path


def start(ca: trustme.CA, authorize: Callable[[Request, str], Answer]) -> HostileIdp:
    idp = HostileIdp({}, ca=ca).start()
    url = idp.url
    idp.routes.update({
        DISCOVERY: json_answer({
            "issuer": url, "authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"]}),
        "/jwks": json_answer({"keys": []}),
        "/authorize": Answer(body=lambda request: authorize(request, url)),
        "/token": json_answer({"error": "invalid_grant"}, status=400),
    })
    return idp


def policy(issuer: str, ca_path: Path) -> str:
    return textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{ca_path}"
        timeout = "2s"
        reports = "reports"

        [providers.x]
        kind = "oidc"
        issuer = "{issuer}"

        [clients.app]
        provider = "x"
        client_id = "native-app"
        type = "public"
        application = "native"
        grant_types = ["authorization_code"]
        redirect_uris = ["{REDIRECT_URI}"]
        scopes = ["openid"]
        """)


def _query(request: Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request.query))


def _is_ordinary(query: dict[str, str]) -> bool:
    return (query.get("redirect_uri") == REDIRECT_URI and query.get("response_type") == "code"
            and query.get("code_challenge_method") == "S256" and "prompt" not in query)


def broken_ordinary(request: Request, url: str) -> Answer:
    """The ordinary request fails with a server error; every variation gets a 400 error page."""
    if _is_ordinary(_query(request)):
        return Answer(500, b"<html><title>Internal error</title></html>", content_type="text/html")
    return Answer(400, b"<html><title>Bad request</title><p>invalid_request</p></html>", content_type="text/html")


def throttling(request: Request, url: str) -> Answer:
    """The ordinary request goes to the login page; every variation is answered temporarily_unavailable."""
    query = _query(request)
    if _is_ordinary(query):
        return Answer(302, b"", headers={"Location": f"{url}/login?session=abc"}, content_type=None)
    error = urllib.parse.urlencode({"error": "temporarily_unavailable", "state": query.get("state", "")})
    if query.get("redirect_uri") == REDIRECT_URI:
        return Answer(302, b"", headers={"Location": f"{REDIRECT_URI}?{error}"}, content_type=None)
    return Answer(302, b"", headers={"Location": f"{url}/error?{error}"}, content_type=None)


def audit(ca_pem: tuple[trustme.CA, Path], run_authcheck: Callable[..., Any], authorize: Callable[[Request, str], Answer],
          select: str, extra: str = "") -> Any:
    """``pytest --authcheck`` of the client suites (``-k select``) against a scripted server answering ``authorize``."""
    ca, path = ca_pem
    idp = start(ca, authorize)
    try:
        return run_authcheck(policy(idp.url, path) + textwrap.dedent(extra), "-m", "clients", "-k", select, clients=True)
    finally:
        idp.stop()


def results(run: Any) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in run.report["results"] if r["nodeid"].endswith("[app]")}


def test_a_broken_ordinary_request_leaves_variations_not_evaluated(ca_pem, run_authcheck):
    run = audit(ca_pem, run_authcheck, broken_ordinary, CHECKS)
    found = results(run)
    for check_id in ("redirect-uri.unregistered-refused", "pkce.required"):
        assert found[check_id]["status"] == "error", (check_id, found[check_id])
        assert "is itself unreadable" in found[check_id]["message"], found[check_id]["message"]
    assert not [c for c, r in found.items() if r["status"] == "passed"], found


def test_temporarily_unavailable_is_a_throttle_not_a_refusal(ca_pem, run_authcheck):
    run = audit(ca_pem, run_authcheck, throttling, CHECKS)
    found = results(run)
    for check_id in ("redirect-uri.unregistered-refused", "pkce.required"):
        assert found[check_id]["status"] == "error", (check_id, found[check_id])
        assert "throttled" in found[check_id]["message"], found[check_id]["message"]
    assert not [c for c, r in found.items() if r["status"] == "passed"], found


def test_prompt_none_server_error_is_not_a_finding_when_every_request_errs(ca_pem, run_authcheck):
    """prompt=none answered with a 500 is a finding only where the ordinary request goes on."""
    def every_request_errs(request: Request, url: str) -> Answer:
        return Answer(500, b"<html><title>Internal error</title></html>", content_type="text/html")

    run = audit(ca_pem, run_authcheck, every_request_errs, "prompt_none")
    result = results(run)["prompt-none.login-required"]
    assert result["status"] == "error", result
    assert "is itself unreadable" in result["message"], result["message"]


# ---- a token's state: read against what the same way showed before the event ------------------------------------

def _watch(ca: trustme.CA, ca_path: Path, routes: dict[str, Any]) -> tuple[HostileIdp, Any]:
    from types import SimpleNamespace

    from pytest_authcheck._clients import PolicyClient
    from pytest_authcheck._http import HttpClient
    from pytest_authcheck._redact import Redactor
    from pytest_authcheck.probes.token_state import TokenWatch
    from pytest_authcheck.probes.userinfo import UserinfoProbes

    idp = HostileIdp(routes, ca=ca).start()
    metadata = {"introspection_endpoint": f"{idp.url}/introspect", "userinfo_endpoint": f"{idp.url}/userinfo"}
    provider = SimpleNamespace(issuer=idp.url, config={}, target="providers.x", metadata=lambda: metadata,
                               trusts=lambda url: url.startswith(idp.url + "/"), http_tolerated=lambda url: False)
    http = HttpClient(redactor=Redactor(), ca_bundle=ca_path, timeout=5)
    client = PolicyClient.from_policy("app", {"provider": "x", "client_id": "native-app", "type": "public",
                                              "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT_URI]})
    userinfo = UserinfoProbes(http, {"x": provider}, lambda p: {"127.0.0.1"})
    return idp, TokenWatch(http, client, metadata, userinfo)


def test_a_way_that_never_showed_the_token_working_cannot_show_it_dead(ca_pem):
    from pytest_authcheck._redact import Secret

    ca, path = ca_pem
    # introspection that never knows the token, userinfo that never takes it: "dead" before and after alike
    idp, watch = _watch(ca, path, {"/introspect": json_answer({"active": False}),
                                   "/userinfo": json_answer({"error": "invalid_token"}, status=401)})
    try:
        token = Secret("access-token-of-the-first-redemption", label="access_token")
        before = watch.look(token, refresh=False)
        after = watch.after(token, before, refresh=False)
    finally:
        idp.stop()
    assert before.seen == {"introspection": "dead", "userinfo": "dead"}
    assert after.state is None, after.seen
    assert set(after.unseen) == {"introspection", "userinfo"}
    assert "did not show the token working before" in after.unseen["userinfo"]


def test_a_way_that_showed_the_token_working_shows_it_dead_after(ca_pem):
    from pytest_authcheck._redact import Secret

    ca, path = ca_pem
    idp, watch = _watch(ca, path, {"/introspect": [json_answer({"active": True}), json_answer({"active": False})],
                                   "/userinfo": [json_answer({"sub": "alice"}),
                                                 json_answer({"error": "invalid_token"}, status=401)]})
    try:
        token = Secret("access-token-of-the-first-redemption", label="access_token")
        before = watch.look(token, refresh=False)
        after = watch.after(token, before, refresh=False)
    finally:
        idp.stop()
    assert before.seen == {"introspection": "works", "userinfo": "works"}
    assert after.seen == {"introspection": "dead", "userinfo": "dead"} and after.state == "dead"


def test_a_made_up_code_refused_for_an_unknown_client_without_a_control_is_not_evaluated(ca_pem, run_authcheck):
    """No secret in the policy, so no control request: invalid_grant for the never-issued code says nothing about the
    client_id."""
    run = audit(ca_pem, run_authcheck, broken_ordinary, "unknown_client_refused", """
        [clients.legacy]
        provider = "x"
        client_id = "legacy-web"
        type = "confidential"
        grant_types = ["authorization_code"]
        """)
    result = next(r for r in run.report["results"] if r["nodeid"].endswith("[legacy]"))
    assert result["status"] == "error", result
    assert "never-issued code" in result["message"], result["message"]


# a JWT-shaped (self-contained) token: where introspection does not show it, the revocation check does not apply
SELF_CONTAINED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJlLW9mLWEtdG9rZW4"


def test_a_throttled_introspection_is_not_read_as_not_showing_the_token(ca_pem, run_authcheck):
    """introspection.isolation's control and revocation.revoked-inactive's "does introspection show such a token at
    all" read a 429 as "could not tell" (not evaluated), never as "introspection does not show it", which would leave
    the checks skipped as not applicable."""
    ca, path = ca_pem
    idp = start(ca, lambda request, url: Answer(400, b"", content_type="text/html"))
    url = idp.url
    idp.routes.update({
        DISCOVERY: json_answer({
            "issuer": url, "authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/jwks", "introspection_endpoint": f"{url}/introspect",
            "revocation_endpoint": f"{url}/revoke", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": ["client_credentials"]}),
        "/token": json_answer({"access_token": SELF_CONTAINED, "token_type": "Bearer", "expires_in": 3600}),
        "/introspect": json_answer({"error": "slow_down"}, status=429, headers={"Retry-After": "1"}),
    })
    services = "".join(textwrap.dedent(f"""
        [clients.svc{i}]
        provider = "x"
        client_id = "svc-{i}"
        client_secret = "${{SVC_SECRET}}"
        grant_types = ["client_credentials"]
        """) for i in (1, 2))
    try:
        head = policy(idp.url, path)
        run = run_authcheck(head[:head.index("[clients.app]")] + services, "-m", "clients", "-k",
                            "introspection_isolation or revoked_inactive", clients=True,
                            env={"SVC_SECRET": "svc-secret-value-1234"})
    finally:
        idp.stop()
    results = [r for r in run.report["results"]
               if r["check"] in ("introspection.isolation", "revocation.revoked-inactive")]
    assert len(results) == 4, run.output()
    for result in results:
        assert result["status"] == "error", result
        assert "throttled" in result["message"], result["message"]
