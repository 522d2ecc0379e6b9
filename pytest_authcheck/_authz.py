"""Pre-login probes of the authorization endpoint: send one request, never follow, classify the answer.

A provider that accepts an authorization request sends the browser on to its own login pages; one that
refuses it shows an error page on its own origin, or (once client and redirect URI are validated) sends
an error back to the redirect URI (RFC 6749 §4.1.2.1). The redirect URI itself is never requested:
only the ``Location`` header is read.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._http import Exchange, HttpClient, Response
from ._net import url_host

OAUTH_ERRORS = ("invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                "invalid_scope", "server_error", "temporarily_unavailable", "invalid_client",
                "invalid_redirect_uri", "invalid_request_uri", "invalid_request_object", "login_required",
                "consent_required", "interaction_required")
_ERROR_WORD = re.compile(r"\b(" + "|".join(OAUTH_ERRORS) + r")\b")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

# kinds of outcome
PROCEEDS = "proceeds to login"
ERROR_PAGE = "error page"
ERROR_REDIRECT = "error redirect"
REDIRECT = "redirect"


@dataclass
class AuthzOutcome:
    """What the authorization endpoint did with one request."""

    kind: str
    status: int
    exchange: Exchange
    location: str | None = None
    error: str | None = None
    error_description: str | None = None

    @property
    def refused(self) -> bool:
        """An error page or an error sent back to the client."""
        return self.kind in (ERROR_PAGE, ERROR_REDIRECT)

    def describe(self) -> str:
        """``error redirect (unsupported_response_type)``, ``proceeds to login (HTTP 303)``, ..."""
        if self.kind == ERROR_REDIRECT:
            return f"error redirect ({self.error})"
        if self.kind == ERROR_PAGE:
            return f"error page HTTP {self.status}" + (f" ({self.error})" if self.error else "")
        if self.kind == REDIRECT:
            return f"redirect (HTTP {self.status}) to {_without_query(self.location or '')}"
        return f"{self.kind} (HTTP {self.status})"


def random_token(size: int = 24) -> str:
    """A URL-safe random string (state, nonce, verifier)."""
    return base64.urlsafe_b64encode(os.urandom(size)).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) (RFC 7636 §4.1-4.2)."""
    verifier = random_token(32)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_params(client_id: str, redirect_uri: str, *, scope: str = "", pkce: bool = True,
                         **extra: str | None) -> dict[str, str]:
    """An ordinary code-flow request (PKCE S256, state, nonce); ``extra`` adds members, ``None`` removes one."""
    _, challenge = pkce_pair()
    params: dict[str, str] = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                              "state": random_token(12), "nonce": random_token(12)}
    if not redirect_uri:
        del params["redirect_uri"]  # the provider may use the client's only registered URI
    if scope:
        params["scope"] = scope
    if pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    for key, value in extra.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def probe(http: HttpClient, endpoint: str, params: Mapping[str, str], *, provider_hosts: Iterable[str]) -> AuthzOutcome:
    """Send one authorization request (GET, no redirects followed) and classify the answer."""
    response = http.get(endpoint, params=dict(params))
    return classify(response, redirect_uri=params.get("redirect_uri", ""), provider_hosts=set(provider_hosts))


def classify(response: Response, *, redirect_uri: str, provider_hosts: set[str]) -> AuthzOutcome:
    """Proceeds (to the provider's own pages), error page, error redirect, or redirect elsewhere."""
    status = response.status
    if status in REDIRECT_STATUSES and response.headers.get("location"):
        location = urllib.parse.urljoin(response.url, response.headers["location"])
        answer = callback_parameters(location)
        error = answer.get("error")
        if same_target(location, redirect_uri):
            return AuthzOutcome(ERROR_REDIRECT if error else REDIRECT, status, response.exchange, location,
                                error, answer.get("error_description"))
        if url_host(location) in provider_hosts:
            kind = ERROR_PAGE if error else PROCEEDS
            return AuthzOutcome(kind, status, response.exchange, location, error, answer.get("error_description"))
        return AuthzOutcome(REDIRECT, status, response.exchange, location, error)
    body = response.text[:65536] if response.content_type in ("text/html", "application/json", "text/plain", "") else ""
    error = _error_in(response, body)
    if status >= 400 or error:
        return AuthzOutcome(ERROR_PAGE, status, response.exchange, error=error)
    return AuthzOutcome(PROCEEDS, status, response.exchange)


def callback_parameters(url: str) -> dict[str, str]:
    """Query and fragment parameters of a redirect (the fragment wins: implicit responses use it)."""
    parts = urllib.parse.urlsplit(url)
    out = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    out.update(urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True))
    return out


def same_target(location: str, redirect_uri: str) -> bool:
    """Whether ``location`` goes to ``redirect_uri`` (scheme, host, port and path; query and fragment aside)."""
    if not redirect_uri:
        return False
    a, b = urllib.parse.urlsplit(location), urllib.parse.urlsplit(redirect_uri)
    try:
        return (a.scheme, (a.hostname or "").lower(), a.port, a.path) == (b.scheme, (b.hostname or "").lower(), b.port, b.path)
    except ValueError:
        return False


def points_at(location: str | None, uri: str) -> bool:
    """Whether a Location sends the browser to ``uri``'s origin (the evidence of an open redirect)."""
    if not location:
        return False
    a, b = urllib.parse.urlsplit(location), urllib.parse.urlsplit(uri)
    try:
        return (a.scheme, (a.hostname or "").lower(), a.port) == (b.scheme, (b.hostname or "").lower(), b.port)
    except ValueError:
        return False


def _error_in(response: Response, body: str) -> str | None:
    if response.content_type == "application/json":
        try:
            data: Any = response.json()
        except Exception:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return str(data["error"])[:100]
    match = _ERROR_WORD.search(body)
    return match.group(1) if match else None


def _without_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
