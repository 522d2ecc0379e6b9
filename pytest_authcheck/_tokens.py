"""Tokens for named clients: one per (client, scope, resource) per run, obtained by client credentials.

A cached token is fetched again when little of its life is left (``Token.stale``): checks that use a
token must get a live one however long the run has been going, and checks that judge its lifetime
judge it as of its arrival.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import EvaluationError
from ._http import HttpClient, Response
from ._jwt import decode_unverified
from ._redact import Secret

FRESH_MARGIN = 30.0


@dataclass
class Token:
    """A token response, with the secrets wrapped and a JWT access token decoded (unverified)."""

    client: str
    access_token: Secret
    token_type: str
    expires_in: Any
    scope: str | None
    obtained_at: float
    response: Response
    refresh_token: Secret | None = None
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lifetime(self) -> float | None:
        """Seconds the token was issued for: ``expires_in``, else a JWT's ``exp - iat``; None when unstated."""
        for value in (self.expires_in, _difference(self.claims)):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
        return None

    def stale(self, now: float | None = None) -> bool:
        """Whether less than half its life, or less than ``FRESH_MARGIN`` seconds, is left."""
        lifetime = self.lifetime
        if lifetime is None:
            return False
        left = self.obtained_at + lifetime - (time.time() if now is None else now)
        return left < min(FRESH_MARGIN, lifetime / 2)

    @property
    def is_jwt(self) -> bool:
        """Whether the access token is a JWT whose header and claims could be read."""
        return self.claims is not None


class TokenSource:
    """Obtains and caches tokens; failures are cached too, so a broken client costs one request."""

    def __init__(self, http: HttpClient, clients: Mapping[str, Mapping[str, Any]], providers: Mapping[str, Any],
                 probes: Any = None) -> None:
        self._http = http
        self._clients = clients
        self._providers = providers
        self._probes = probes  # the run's TokenProbes: the client's plain token is its "declared" probe, sent once
        self._cache: dict[tuple[str, str | None, str | None], Token | EvaluationError] = {}

    def client_credentials(self, client: str, *, scope: str | None = None, resource: str | None = None) -> Token:
        """A client-credentials token for the policy client ``client`` (cached for the run, fetched again when stale)."""
        key = (client, scope, resource)
        cached = self._cache.get(key)
        if cached is None or (isinstance(cached, Token) and cached.stale()):
            try:
                self._cache[key] = self._request(client, scope, resource)
            except EvaluationError as exc:
                self._cache[key] = exc
        cached = self._cache[key]
        if isinstance(cached, EvaluationError):
            raise cached.with_traceback(None)
        return cached

    def _request(self, name: str, scope: str | None, resource: str | None) -> Token:
        config = self._clients.get(name)
        if config is None:
            raise EvaluationError(f"the policy declares no client named '{name}'")
        secret = config.get("client_secret")
        if not isinstance(secret, Secret) or not secret:
            raise EvaluationError(f"clients.{name} has no client_secret, so no client-credentials token can be requested")
        provider = self._providers[config["provider"]]
        token_endpoint = provider.endpoint("token_endpoint")
        if not token_endpoint.startswith("https://") and not provider.http_tolerated(token_endpoint):
            raise EvaluationError(f"the token endpoint {token_endpoint} is not https; client credentials are "
                                  "never sent over plain http")
        if scope is None and resource is None and self._probes is not None:
            from ._clients import PolicyClient
            from .probes.client_auth import declared

            return _parse(name, declared(self._probes, PolicyClient.from_policy(name, config)).response)
        if scope is None and config.get("scopes"):
            scope = " ".join(s for s in config["scopes"] if s != "openid")
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        if resource:
            form["resource"] = resource
        method = config.get("token_endpoint_auth_method", "client_secret_basic")
        auth = None
        if method == "client_secret_post":
            form.update(client_id=config["client_id"], client_secret=secret)
        else:
            auth = (config["client_id"], secret)
        response = self._http.post(token_endpoint, data=form, auth=auth)
        return _parse(name, response)


def _parse(client: str, response: Response) -> Token:
    if response.throttled is not None:
        failure = EvaluationError(f"token request for clients.{client}: {response.throttled}")
        failure.exchange = response.exchange  # type: ignore[attr-defined]
        raise failure
    body = response.json()
    if response.status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        failure = EvaluationError(
            f"token request for clients.{client} answered HTTP {response.status}"
            + (f" with error '{str(error)[:100]}'" if error else "") + "; no token to evaluate"
            + ("; see client-auth.secret-accepted and client-auth.auth-method" if error == "invalid_client" else ""))
        failure.exchange = response.exchange  # type: ignore[attr-defined]
        raise failure
    token = Token(
        client=client,
        access_token=Secret(body["access_token"], label=f"{client}.access_token"),
        token_type=str(body.get("token_type", "")),
        expires_in=body.get("expires_in"),
        scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
        obtained_at=time.time(),
        response=response,
        refresh_token=Secret(body["refresh_token"], label=f"{client}.refresh_token")
        if isinstance(body.get("refresh_token"), str) else None,
        extra={k: v for k, v in body.items() if k not in ("access_token", "refresh_token", "id_token")},
    )
    try:
        token.header, token.claims = decode_unverified(body["access_token"])
    except (ValueError, RecursionError):
        pass
    return token


def _difference(claims: dict[str, Any] | None) -> float | None:
    exp, iat = (claims or {}).get("exp"), (claims or {}).get("iat")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
        return float(exp) - float(iat)  # type: ignore[arg-type]
    return None
