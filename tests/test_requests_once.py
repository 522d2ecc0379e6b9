"""A request several checks need is sent once per run, whichever checks read its answer."""

from __future__ import annotations

import collections
from typing import Any

import httpx

from pytest_authcheck._clients import PolicyClient
from pytest_authcheck._http import Exchange, Response
from pytest_authcheck._redact import Secret
from pytest_authcheck.probes.client_auth import declared, other_method
from pytest_authcheck.probes.token import TokenProbes
from tests.conftest import oidc_policy


class RecordingHttp:
    """Answers every POST with invalid_grant and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], Any]] = []

    def post(self, url: str, *, data: dict[str, Any], auth: Any = None) -> Response:
        self.sent.append((url, dict(data), auth))
        exchange = Exchange(id=f"x{len(self.sent)}", method="POST", url=url, started="")
        return Response(status=400, headers=httpx.Headers({"content-type": "application/json"}),
                        content=b'{"error": "invalid_grant"}', url=url, exchange=exchange)


def _client(name: str, **config: Any) -> PolicyClient:
    return PolicyClient.from_policy(name, {"provider": "sso", "client_id": f"{name}-id", **config})


def test_the_secret_by_the_declared_method_is_the_declared_request() -> None:
    """client-auth.auth-method asks for the request "by method none" of a public app, which is exactly its declared
    request (grants.undeclared-refused, client-auth.unknown-client-refused): one request, not two."""
    http = RecordingHttp()
    probes = TokenProbes(http, lambda provider: "https://sso.test/token")  # type: ignore[arg-type]
    public = _client("app", grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/callback"])
    assert other_method(probes, public, "none") is declared(probes, public)
    assert len(http.sent) == 1

    service = _client("service", client_secret=Secret("s3cret-value-123"), grant_types=["client_credentials"])
    assert other_method(probes, service, "client_secret_basic") is declared(probes, service)
    assert len(http.sent) == 2
    # another method is another request: the secret in the form
    post = other_method(probes, service, "client_secret_post")
    assert post is not declared(probes, service) and len(http.sent) == 3
    assert http.sent[2][1].get("client_secret") == Secret("s3cret-value-123") and http.sent[2][2] is None


def test_userinfo_without_a_token_is_asked_once(idp, run_authcheck) -> None:
    """discovery.endpoints-answer and userinfo.bearer-challenge both GET userinfo without a token: one request."""
    run = run_authcheck(oidc_policy(idp("good")), "-k", "endpoints_answer or bearer_challenge", clients=True)
    assert run.status("discovery.endpoints-answer") == "passed", run.output()
    assert run.status("userinfo.bearer-challenge") == "passed", run.output()
    bare = collections.Counter(
        e["url"] for e in run.report["exchanges"].values()
        if e["method"] == "GET" and e["url"].endswith("/me")
        and not any(name.lower() == "authorization" for name, _ in e["request_headers"]))
    assert list(bare.values()) == [1], bare
