"""A Jamf Pro server as the checks see it: tokens, the auditor's view of roles and clients, probes.

Every request goes through the run's HTTP layer. Tokens are ``Secret`` from the moment they arrive and
are registered with the redactor. Each principal gets one token per run (per xdist worker), the
auditor's listings are read once, and every server value is checked for type before it is used: a
hostile or broken answer becomes an *error* with its cause, never a crash.

Facts used (see the project's Jamf reference): user tokens from ``POST /api/v1/auth/token`` with Basic
auth answer ``{token, expires}``; a forced or expired password is refused with ``USER_EXPIRED_PASSWORD``;
client credentials go to ``/api/v1/oauth/token`` (``/api/oauth/token`` on older servers) as a form and
answer ``{access_token, scope, token_type, expires_in}``, refusals are RFC 6749 bodies; roles are
listed at ``/api/v1/api-roles`` and clients at ``/api/v1/api-integrations`` (paged ``{totalCount, results}``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._errors import EvaluationError, ResponseError
from .._http import Exchange, HttpClient, Response
from .._redact import Secret
from ..observations import Kind, Observation, observe_token
from .url import JamfUrl, lint_url

USER_TOKEN_PATH = "/api/v1/auth/token"
OAUTH_TOKEN_PATHS = ("/api/v1/oauth/token", "/api/oauth/token")
EXPIRED_PASSWORD = "USER_EXPIRED_PASSWORD"
PAGE_SIZE = 200
MAX_PAGES = 50  # 10 000 roles or clients; a server that pages forever is cut off, not followed
JSON = {"Accept": "application/json"}


@dataclass
class TokenResult:
    """One token request: the token (a ``Secret``) or why it was refused, with the exchange behind it."""

    principal: str
    path: str
    response: Response | None = None
    token: Secret | None = None
    expires_at: float | None = None  # epoch seconds
    expires_in: int | None = None  # client tokens: as the server said
    role_ids: tuple[str, ...] = ()  # client tokens: "api-role:<id>" of the scope
    scope: str | None = None
    code: str | None = None  # USER_EXPIRED_PASSWORD, invalid_client, empty_token, ... when refused
    refusal: str | None = None  # a sentence naming what the server said
    exchanges: list[Exchange] = field(default_factory=list)
    observation: Observation | None = None  # the answer judged: accepted, refused, throttled or unreadable

    @property
    def ok(self) -> bool:
        """Whether a usable token arrived."""
        return self.token is not None

    @property
    def answer(self) -> Observation:
        """What the token endpoint's answer means (a request that got no answer at all is unreadable)."""
        if self.observation is not None:
            return self.observation
        return Observation(Kind.UNREADABLE, self.refusal or "no answer")

    def require(self) -> Secret:
        """The token, or ``EvaluationError`` naming the refusal (for checks that need a token to probe)."""
        if self.token is None:
            raise EvaluationError(f"{self.principal} has no token: {self.refusal}")
        return self.token


def bearer(token: Secret) -> dict[str, Secret | str]:
    """An Authorization header whose value stays a ``Secret`` until it goes onto the wire."""
    return {"Authorization": Secret("Bearer " + token.reveal(), label="bearer"), **JSON}


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ResponseError:
        return None


def _error_codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code"))[:100] for e in errors if isinstance(e, dict) and e.get("code") is not None]


def _parse_expires(value: Any) -> float | None:
    if isinstance(value, str) and len(value) <= 64:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool):  # the deprecated endpoints' epoch milliseconds
        return value / 1000.0
    return None


def _judge(response: Response, result: TokenResult) -> Observation:
    """The token endpoint's answer as an observation. Tokens arrive under Jamf Pro's own member names, so a token
    that arrived is the acceptance; everything else is judged like any token endpoint answer (a refusal in any
    format, 429 throttled, 5xx unreadable), except two answers: an empty access_token is a refusal (Jamf Pro's CLI
    reads it as a disabled integration), and 404/405 (no token endpoint there) refuses nothing."""
    if result.token is not None:
        return Observation(Kind.ACCEPTED, "a token was issued", response.exchange, response.status,
                           signature=(response.status, "token"))
    if result.code == "empty_token":
        return Observation(Kind.REFUSED, f"HTTP {response.status} with an empty access_token (the API integration is "
                           "disabled)", response.exchange, response.status, signature=(response.status, "empty"))
    if response.status in (404, 405):
        paths = " and ".join(OAUTH_TOKEN_PATHS) if result.path in OAUTH_TOKEN_PATHS else result.path
        return Observation(Kind.UNREADABLE, f"HTTP {response.status} at {paths}: the server has no such token endpoint "
                           "(is the URL the Jamf Pro server's?)", response.exchange, response.status)
    return observe_token(response)


class JamfServer:
    """One ``[providers.NAME] kind = "jamf"``: its URL, auditor, tokens and listings, cached for the run."""

    def __init__(self, name: str, config: Mapping[str, Any], *, http: HttpClient) -> None:
        self.name = name
        self.config = config
        self.target = f"providers.{name}"
        self.lint: JamfUrl = lint_url(config["url"])
        self.url = self.lint.url
        self._http = http
        self._tokens: dict[str, TokenResult] = {}
        self._lists: dict[str, tuple[list[dict[str, Any]], list[Exchange]]] = {}

    @property
    def version(self) -> str | None:
        """The declared Jamf Pro version (picks the privilege catalogue)."""
        value = self.config.get("version")
        return str(value) if value else None

    @property
    def has_auditor(self) -> bool:
        """Whether the policy names an auditor account (username and password)."""
        return bool(self.config.get("username")) and bool(self.config.get("password"))

    # ---- requests ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, token: Secret | None = None, *,
                params: Mapping[str, Any] | None = None) -> Response:
        """One call to the server, with the token as bearer when given."""
        headers: dict[str, Any] = bearer(token) if token is not None else dict(JSON)
        return self._http.request(method, self.url + path, headers=headers, params=params)

    # ---- tokens -----------------------------------------------------------------------------------
    def user_token(self, key: str, username: str, password: Secret, *, fresh: bool = False) -> TokenResult:
        """A user token (Basic auth exchanged at /api/v1/auth/token); once per ``key`` unless ``fresh``."""
        if not fresh and key in self._tokens:
            return self._tokens[key]
        response = self._http.post(self.url + USER_TOKEN_PATH, headers=JSON, auth=(username, password))
        result = TokenResult(principal=key, path=USER_TOKEN_PATH, response=response, exchanges=[response.exchange])
        body = _json(response)
        if response.status == 200:
            token = body.get("token") if isinstance(body, dict) else None
            expires = _parse_expires(body.get("expires")) if isinstance(body, dict) else None
            if isinstance(token, str) and token:
                self._http.redactor.add(token)
                result.token = Secret(token, label=f"{key} token")
                result.expires_at = expires
            else:
                result.code, result.refusal = "malformed", "answered 200 without a token string"
        elif response.status == 401:
            codes = _error_codes(body)
            if EXPIRED_PASSWORD in codes:
                result.code = EXPIRED_PASSWORD
                result.refusal = ("the password has expired or must be changed (401 USER_EXPIRED_PASSWORD): "
                                  "Jamf Pro gives no API token until it is changed")
            else:
                result.code = "bad_credentials"
                result.refusal = f"bad credentials (401, error codes {codes or 'none'})"
        else:
            result.code, result.refusal = f"http_{response.status}", f"answered HTTP {response.status}"
        result.observation = _judge(response, result)
        if not fresh:
            self._tokens[key] = result
        return result

    def client_token(self, key: str, client_id: str, client_secret: Secret | str) -> TokenResult:
        """A client-credentials token (once per ``key``); ``/api/oauth/token`` when the v1 path is absent."""
        if key in self._tokens:
            return self._tokens[key]
        result = self._client_credentials(key, client_id, client_secret)
        self._tokens[key] = result
        return result

    def wrong_secret_attempt(self, key: str, client_id: str) -> TokenResult:
        """A token request with a random secret: it must be refused (one request, changes nothing)."""
        return self._client_credentials(f"{key} (wrong secret)", client_id,
                                        Secret("authcheck-wrong-" + secrets.token_urlsafe(24), label="wrong secret"))

    def _client_credentials(self, key: str, client_id: str, client_secret: Secret | str) -> TokenResult:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        exchanges: list[Exchange] = []
        for path in OAUTH_TOKEN_PATHS:
            response = self._http.post(self.url + path, data=form, headers=JSON)
            exchanges.append(response.exchange)
            if response.status not in (404, 405):
                break
        result = TokenResult(principal=key, path=path, response=response, exchanges=exchanges)
        body = _json(response)
        if response.status == 200 and isinstance(body, dict):
            token, expires_in, scope = body.get("access_token"), body.get("expires_in"), body.get("scope")
            if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in >= 0:
                result.expires_in = expires_in
                result.expires_at = response.received_at + expires_in
            if isinstance(scope, str):
                result.scope = scope[:4000]
                result.role_ids = tuple(s.split(":", 1)[1] for s in scope.split() if s.startswith("api-role:"))
            if isinstance(token, str) and token:
                self._http.redactor.add(token)
                result.token = Secret(token, label=f"{key} token")
            elif token == "":
                result.code = "empty_token"
                result.refusal = ("answered 200 with an empty access_token (Jamf's own CLI reads this as: "
                                  "the API integration is disabled)")
            else:
                result.code, result.refusal = "malformed", "answered 200 without an access_token string"
        elif response.status == 200:
            result.code, result.refusal = "malformed", "answered 200 without a JSON object"
        else:
            error = body.get("error") if isinstance(body, dict) else None
            result.code = str(error)[:100] if error else f"http_{response.status}"
            result.refusal = f"refused with HTTP {response.status} {result.code}"
        result.observation = _judge(response, result)
        return result

    def auditor(self) -> TokenResult:
        """The auditor account's token (``EvaluationError`` when the policy names none)."""
        if not self.has_auditor:
            raise EvaluationError(f"{self.target} declares no auditor account (username and password)")
        return self.user_token(f"auditor of {self.target}", str(self.config["username"]), self.config["password"])

    # ---- listings ---------------------------------------------------------------------------------
    def list_all(self, path: str) -> tuple[list[dict[str, Any]], list[Exchange]]:
        """Every item of a paged Jamf Pro listing, read with the auditor's token once per run."""
        if path in self._lists:
            return self._lists[path]
        token = self.auditor().require()
        items: list[dict[str, Any]] = []
        exchanges: list[Exchange] = []
        for page in range(MAX_PAGES):
            response = self.request("GET", path, token, params={"page": page, "page-size": PAGE_SIZE})
            exchanges.append(response.exchange)
            if response.status in (401, 403):
                error = ResponseError(f"the auditor account may not read {path} (HTTP {response.status}); "
                                      f"it needs Read API Roles and Read API Integrations")
                error.exchange = response.exchange  # type: ignore[attr-defined]
                raise error
            body = response.json() if response.status == 200 else None
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                error = ResponseError(f"GET {path} answered HTTP {response.status} without "
                                      "{totalCount, results}")
                error.exchange = response.exchange  # type: ignore[attr-defined]
                raise error
            results = [r for r in body["results"] if isinstance(r, dict)]
            items.extend(results)
            total = body.get("totalCount")
            if not results or not isinstance(total, int) or len(items) >= total:
                break
        self._lists[path] = (items, exchanges)
        return items, exchanges

    def integration(self, client_id: str) -> tuple[dict[str, Any] | None, list[Exchange]]:
        """The API integration with this clientId, as the auditor sees it."""
        items, exchanges = self.list_all("/api/v1/api-integrations")
        found = next((i for i in items if i.get("clientId") == client_id), None)
        return found, exchanges

    def roles(self) -> tuple[list[dict[str, Any]], list[Exchange]]:
        """Every API role, as the auditor sees it."""
        return self.list_all("/api/v1/api-roles")

    def auth_view(self, result: TokenResult) -> tuple[dict[str, Any], Exchange]:
        """``GET /api/v1/auth`` for a principal's token (what Jamf Pro says it may do)."""
        response = self.request("GET", "/api/v1/auth", result.require())
        body = response.json() if response.status == 200 else None
        if not isinstance(body, dict):
            error = ResponseError(f"GET /api/v1/auth answered HTTP {response.status} for {result.principal}")
            error.exchange = response.exchange  # type: ignore[attr-defined]
            raise error
        return body, response.exchange
