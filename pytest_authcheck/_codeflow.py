"""The authorization-code flow for checks that need a user's tokens (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1).

``CodeFlows.authorize`` builds the request (PKCE S256, state, nonce), lets the login step bring back the
redirect, and checks state and ``iss`` on the way; ``redeem`` exchanges the code (optionally with a
missing or wrong verifier, for the PKCE probes); ``tokens`` does both and checks the ID token's nonce.
Every token obtained here was minted for the check that asked for it; a token set for read-only checks
(scopes, lifetimes) is cached once per client per run, and a named user's token for an API
(``user_tokens``) once per (client, user, resource) per run (per xdist worker: tokens are never shared);
a cached set is made again when its access token is stale (``Token.stale``).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._authz import callback_parameters, pkce_pair, random_token
from ._clients import PolicyClient
from ._errors import EvaluationError
from ._http import Exchange, HttpClient, Response
from ._jwt import decode_unverified
from ._login import Browser, LoginFlow, LoginStep, LoginUser, Sessions, test_user_of
from ._oidc import OidcProvider
from ._redact import Secret
from ._tokens import Token, _parse

_DEFAULT: Any = object()


class AuthorizationRefused(EvaluationError):
    """The authorization request came back to the client with an error (RFC 6749 §4.1.2.1)."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class Authorization:
    """A finished authorization request: the code and what is needed to redeem it."""

    client: PolicyClient
    redirect_uri: str
    verifier: str
    state: str
    nonce: str
    code: Secret
    callback: dict[str, str]
    exchanges: list[Exchange]
    problems: list[str] = field(default_factory=list)
    resource: str | None = None  # RFC 8707: sent again with the code, so the token is for that resource
    scope: str = ""  # what was asked for


@dataclass
class UserTokens:
    """Tokens from a code redemption: the access token (``Token``), and the ID token decoded."""

    authorization: Authorization
    token: Token
    id_token: Secret | None
    id_header: dict[str, Any] | None
    id_claims: dict[str, Any] | None
    problems: list[str]

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange of the login and the redemption."""
        return [*self.authorization.exchanges, self.token.response.exchange]


class CodeFlows:
    """Runs code flows for the clients of one run; caches one token set per (client, scope)."""

    def __init__(self, http: HttpClient, providers: dict[str, OidcProvider], login: LoginStep,
                 provider_hosts: Callable[[OidcProvider], set[str]], sessions: Sessions | None = None) -> None:
        self.http = http
        self.providers = providers
        self.login = login
        self.provider_hosts = provider_hosts
        self.sessions = sessions or Sessions()
        self._cache: dict[tuple[str, ...], UserTokens | EvaluationError] = {}

    def scope_for(self, client: PolicyClient, metadata: dict[str, Any]) -> str:
        """The policy's scopes, plus offline_access when the client declares refresh_token (OIDC Core §11)."""
        scopes = list(client.scopes)
        supported = metadata.get("scopes_supported")
        if client.declares("refresh_token") and "offline_access" not in scopes and "openid" in scopes \
                and isinstance(supported, list) and "offline_access" in supported:
            scopes.append("offline_access")
        return " ".join(scopes)

    def authorize(self, client: PolicyClient, *, scope: str | None = None, user: LoginUser | None = None,
                  consent: bool = True, **extra: str) -> Authorization:
        """Log the test user (or ``user``) in for ``client``; the code comes back with state and iss checked."""
        provider = self.providers[client.provider]
        metadata = provider.metadata()
        endpoint = provider.endpoint("authorization_endpoint")
        if not client.redirect_uris:
            raise EvaluationError(f"{client.target} declares no redirect_uris; no authorization code can be obtained")
        redirect_uri = client.redirect_uris[0]
        verifier, challenge = pkce_pair()
        state, nonce = random_token(12), random_token(12)
        scope = self.scope_for(client, metadata) if scope is None else scope
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
                  "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
                  "code_challenge_method": "S256", **extra}
        if not scope:
            # a plain OAuth request that omits scope (RFC 6749 §3.3); without openid a nonce has no place either
            del params["scope"], params["nonce"]
        if "offline_access" in scope.split():
            params.setdefault("prompt", "consent")  # OIDC Core §11: offline_access needs consent
        url = endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)
        user = user or test_user_of(provider)
        flow = LoginFlow(client=client.name, provider=client.provider, authorization_url=url,
                         redirect_uri=redirect_uri, provider_hosts=self.provider_hosts(provider), user=user,
                         consent=consent)
        if user is not None:
            flow.browser = Browser(self.http, self.sessions.get(client.provider, user.username), flow)
        try:
            callback_url = self.login(flow)
        except EvaluationError as exc:
            exc.exchange = flow.exchanges[-1] if flow.exchanges else None  # type: ignore[attr-defined]
            raise
        answer = callback_parameters(callback_url)
        if answer.get("error"):
            raise AuthorizationRefused(
                f"the login for {client.target} came back with error '{answer['error'][:100]}'"
                + (f": {answer.get('error_description', '')[:200]}" if answer.get("error_description") else ""),
                error=answer["error"][:100])
        if not answer.get("code"):
            raise EvaluationError(f"the login for {client.target} came back without a code")
        problems = []
        if answer.get("state") != state:
            problems.append("state did not come back unchanged (RFC 6749 §4.1.2)")
        if "iss" in answer and answer["iss"] != provider.issuer:
            problems.append(f"iss {answer['iss'][:200]!r} in the authorization response is not the issuer (RFC 9207 §2.4)")
        code = Secret(answer["code"], label=f"{client.name}.code")
        self.http.redactor.add(code)
        return Authorization(client=client, redirect_uri=redirect_uri, verifier=verifier, state=state, nonce=nonce,
                             code=code, callback={k: v for k, v in answer.items() if k != "code"},
                             exchanges=list(flow.exchanges), problems=problems, resource=extra.get("resource"),
                             scope=scope)

    def redeem(self, authorization: Authorization, *, verifier: Any = _DEFAULT) -> Response:
        """Exchange the code; ``verifier=None`` leaves code_verifier out, a string replaces it."""
        client = authorization.client
        provider = self.providers[client.provider]
        form: dict[str, Any] = {"grant_type": "authorization_code", "code": authorization.code,
                                "redirect_uri": authorization.redirect_uri}
        verifier = authorization.verifier if verifier is _DEFAULT else verifier
        if verifier is not None:
            form["code_verifier"] = verifier
        if authorization.resource:
            form["resource"] = authorization.resource
        form, auth = client.credentials(form)
        return self.http.post(provider.endpoint("token_endpoint"), data=form, auth=auth)

    def fresh_tokens(self, client: PolicyClient, *, scope: str | None = None, user: LoginUser | None = None,
                     consent: bool = True, **extra: str) -> UserTokens:
        """A new login and redemption, for a check that will use up or revoke what it gets."""
        authorization = self.authorize(client, scope=scope, user=user, consent=consent, **extra)
        response = self.redeem(authorization)
        try:
            token = _parse(client.name, response)
        except EvaluationError as exc:
            exc.exchange = response.exchange  # type: ignore[attr-defined]
            raise
        body = response.json()
        problems = list(authorization.problems)
        id_token = body.get("id_token") if isinstance(body.get("id_token"), str) else None
        header = claims = None
        if id_token is not None:
            try:
                header, claims = decode_unverified(id_token)
            except ValueError:
                problems.append("the id_token is not a readable JWS")
            if claims is not None:
                problems.extend(_id_token_problems(claims, client, self.providers[client.provider].issuer,
                                                   authorization.nonce))
        return UserTokens(authorization=authorization, token=token,
                          id_token=Secret(id_token, label=f"{client.name}.id_token") if id_token else None,
                          id_header=header, id_claims=claims, problems=problems)

    def tokens(self, client: PolicyClient) -> UserTokens:
        """The run's token set for ``client`` (one login per client per run), for read-only checks."""
        key = (client.name, "")
        if self._stale(key):
            try:
                self._cache[key] = self.fresh_tokens(client)
            except EvaluationError as exc:
                self._cache[key] = exc
        cached = self._cache[key]
        if isinstance(cached, EvaluationError):
            raise cached
        return cached

    def user_tokens(self, client: PolicyClient, user: LoginUser, resource: str | None) -> UserTokens:
        """``user``'s tokens through ``client`` for ``resource`` (RFC 8707), one login per run; failures cached.

        Only the policy's scopes are asked for (no offline_access: an API principal needs no refresh token).
        Whatever the login step raises becomes an ``EvaluationError`` naming the user and client, so a failed
        login is an error of every check that needed it, never a pass.
        """
        key = (client.name, user.name, resource or "")
        if self._stale(key):
            extra: dict[str, str] = {"resource": resource} if resource else {}
            try:
                self._cache[key] = self.fresh_tokens(client, scope=client.scope_request(), user=user, consent=True,
                                                     **extra)
            except EvaluationError as exc:
                failure = EvaluationError(f"no token for {user.target} through {client.target}: {exc}")
                failure.exchange = getattr(exc, "exchange", None)  # type: ignore[attr-defined]
                self._cache[key] = failure
            except Exception as exc:  # a team's authcheck_login plug-in: its failure must still end in an error
                self._cache[key] = EvaluationError(
                    f"no token for {user.target} through {client.target}: the login step (authcheck_login) raised "
                    f"{type(exc).__name__}: {str(exc)[:300]}")
        cached = self._cache[key]
        if isinstance(cached, EvaluationError):
            raise cached.with_traceback(None)
        return cached

    def _stale(self, key: tuple[str, ...]) -> bool:
        cached = self._cache.get(key)
        return cached is None or (isinstance(cached, UserTokens) and cached.token.stale())


def _id_token_problems(claims: dict[str, Any], client: PolicyClient, issuer: str, nonce: str) -> list[str]:
    problems = []
    if claims.get("iss") != issuer:
        problems.append(f"id_token iss {str(claims.get('iss'))[:200]!r} is not the issuer")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client.client_id not in audiences:
        problems.append("id_token aud does not contain the client_id")
    if claims.get("nonce") != nonce:
        problems.append("id_token nonce is not the one sent (OIDC Core §3.1.3.7)")
    if not isinstance(claims.get("sub"), str) or not claims.get("sub"):
        problems.append("id_token has no sub")
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp < time.time():
        problems.append("id_token is already expired")
    return problems
