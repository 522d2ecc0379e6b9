"""One plain OpenID Connect login per client and run: ``scope=openid`` alone, with ``max_age``.

Its ID token must carry ``auth_time`` (OIDC Core §3.1.2.1: max_age was asked for), and its access token is
meant for the userinfo endpoint, whatever audience the client's ordinary tokens have (a provider may bind tokens
for API scopes to the API, RFC 8707). ``id-token.auth-time`` and ``tokens.query-refused`` share it (the latter
logs in again when the token no longer works: another check may have revoked its grant). The login reuses
the run's signed-in session: ``MAX_AGE`` is longer than a run, so no second password is due.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .._clients import PolicyClient
from .._codeflow import CodeFlows, UserTokens
from .._errors import EvaluationError

MAX_AGE = 3600


@dataclass(frozen=True)
class OpenidLogin:
    """The tokens of the login, and when this machine asked for and received them."""

    tokens: UserTokens
    started: float
    finished: float
    max_age: int = MAX_AGE


class OpenidLogins:
    """The run's plain OpenID Connect logins, one per client (failures cached; a skip is raised again)."""

    def __init__(self, flows: CodeFlows) -> None:
        self._flows = flows
        self._cache: dict[str, OpenidLogin | EvaluationError] = {}
        self._lock = threading.Lock()

    def login(self, client: PolicyClient, *, renew: bool = False) -> OpenidLogin:
        """The client's plain OpenID Connect login (the first call runs it; ``renew`` runs a new one, for a check
        whose tokens another check has since revoked: revoking a refresh token may end the whole grant)."""
        with self._lock:
            if renew or client.name not in self._cache:
                started = time.time()
                try:
                    tokens = self._flows.fresh_tokens(client, scope="openid", max_age=str(MAX_AGE))
                    self._cache[client.name] = OpenidLogin(tokens, started, time.time())
                except EvaluationError as exc:
                    self._cache[client.name] = exc
            cached = self._cache[client.name]
        if isinstance(cached, EvaluationError):
            raise cached.with_traceback(None)
        return cached
