"""Userinfo endpoint probes (OIDC Core §5.3, RFC 6750): each distinct request sent once per run, shared by checks.

Per provider: a request without a token and one with a made-up token (what ``userinfo.bearer-challenge``
reads). Per client: its own access token in the ``Authorization`` header (the control) and in the URL query
(what ``tokens.query-refused`` reads). The endpoint is asked only on the issuer's host or ``allowed_hosts``, over
https (or plain http where the policy tolerates a loopback issuer): a metadata document must not send a token
elsewhere.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from .._authz import random_token
from .._http import HttpClient, Response
from .._redact import Secret
from ..observations import NotEvaluated, Observation, observe_resource
from .once import Once

# One per run: equal requests stay equal, and the value can be recognised in the provider's logs.
MADE_UP_TOKEN = "authcheck-made-up-token-" + random_token(12)


class UserinfoProbes:
    """The run's userinfo requests (per xdist worker), cached with their failures."""

    def __init__(self, http: HttpClient, providers: Mapping[str, Any],
                 provider_hosts: Callable[[Any], set[str]]) -> None:
        self._http = http
        self._providers = providers
        self._provider_hosts = provider_hosts
        self._observations = Once()
        self._answers = Once()

    def endpoint(self, provider_name: str) -> str:
        """The provider's userinfo endpoint; skipped when none is advertised, *not evaluated* where it may not be
        asked (another host, plain http)."""
        provider = self._providers[provider_name]
        url = provider.metadata().get("userinfo_endpoint")
        if not isinstance(url, str) or not url:
            pytest.skip(f"{provider.target} advertises no userinfo_endpoint")
        if not provider.trusts(url):
            raise NotEvaluated(f"the userinfo_endpoint {url[:200]} is on a host the policy does not allow, so no token "
                               "is sent there; see discovery.endpoints-on-issuer-host")
        if urllib.parse.urlsplit(url).scheme != "https" and not provider.http_tolerated(url):
            raise NotEvaluated(f"the userinfo_endpoint {url[:200]} is not https, so no token is sent there; see "
                               "tls.no-plain-http")
        return url

    def without_token(self, provider_name: str) -> Observation:
        """GET userinfo with no credential at all."""
        return self._once((provider_name, "no token"), provider_name, lambda url: self.bare_answer(provider_name))

    def bare_answer(self, provider_name: str) -> Response:
        """The answer to that GET, once per run: discovery.endpoints-answer asks userinfo the same."""
        url = self.endpoint(provider_name)
        answer: Response = self._answers.get((provider_name, "no token", "answer"), lambda: self._http.get(url))
        return answer

    def made_up_token(self, provider_name: str) -> Observation:
        """GET userinfo with ``Authorization: Bearer <a token nobody issued>``."""
        header = {"Authorization": Secret(f"Bearer {MADE_UP_TOKEN}", label="made-up bearer")}
        return self._once((provider_name, "made-up token"), provider_name, lambda url: self._http.get(url, headers=header))

    def in_header(self, provider_name: str, client: str, token: Secret) -> Observation:
        """GET userinfo with ``client``'s access token in the Authorization header (RFC 6750 §2.1)."""
        header = {"Authorization": Secret(f"Bearer {token.reveal()}", label="authorization")}
        return self._once((provider_name, client, "header", _tag(token)), provider_name,
                          lambda url: self._http.get(url, headers=header))

    def in_query(self, provider_name: str, client: str, token: Secret) -> Observation:
        """GET userinfo with ``client``'s access token only in the URL query (RFC 6750 §2.3)."""
        return self._once((provider_name, client, "query", _tag(token)), provider_name,
                          lambda url: self._http.get(url, params={"access_token": token}))

    def ask(self, provider_name: str, token: Secret) -> Observation:
        """GET userinfo with ``token`` in the Authorization header, now: never cached, for checks that compare a
        token's answers before and after an event (a replay, a revocation)."""
        url = self.endpoint(provider_name)
        header = {"Authorization": Secret(f"Bearer {token.reveal()}", label="authorization")}
        return observe_resource(self._http.get(url, headers=header),
                                provider_hosts=self._provider_hosts(self._providers[provider_name]))

    def _once(self, key: tuple[str, ...], provider_name: str, send: Callable[[str], Any]) -> Observation:
        url = self.endpoint(provider_name)

        def observe() -> Observation:
            return observe_resource(send(url), provider_hosts=self._provider_hosts(self._providers[provider_name]))

        answer: Observation = self._observations.get(key, observe)
        return answer


def _tag(token: Secret) -> str:
    """A short, one-way name of a token: requests with another token are other requests."""
    return hashlib.sha256(token.reveal().encode("utf-8", "replace")).hexdigest()[:16]
