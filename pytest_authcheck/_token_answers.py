"""Reading token endpoint answers (RFC 6749 §5.1, §5.2) as untrusted input, and the harmless requests that provoke them."""

from __future__ import annotations

from typing import Any

from ._authz import random_token
from ._http import Response

BOGUS_CODE_PREFIX = "authcheck-not-a-code-"
TOKEN_ERROR_STATUSES = (400, 401)


def body_of(response: Response) -> dict[str, Any]:
    """The JSON object of a token endpoint answer, or {} (hostile bodies are not trusted)."""
    try:
        body = response.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def error_of(response: Response) -> str | None:
    """The ``error`` member of an RFC 6749 §5.2 answer."""
    error = body_of(response).get("error")
    return error[:100] if isinstance(error, str) else None


def issued_token(response: Response) -> bool:
    """Whether the answer hands out an access token."""
    return response.status == 200 and isinstance(body_of(response).get("access_token"), str)


def harmless_form(client: Any) -> dict[str, Any]:
    """A request the token endpoint must authenticate and then refuse: client credentials when declared
    (it yields a token, minted for this run only), else a code that was never issued."""
    if client.declares("client_credentials"):
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        scope = " ".join(s for s in client.scopes if s != "openid")
        if scope:
            form["scope"] = scope
        return form
    return {"grant_type": "authorization_code", "code": BOGUS_CODE_PREFIX + random_token(8),
            "redirect_uri": client.redirect_uris[0] if client.redirect_uris else "https://authcheck.invalid/cb"}


def authenticated(response: Response) -> bool:
    """The client got past authentication: a token, or an error about the grant rather than the client."""
    return issued_token(response) or (response.status == 400 and error_of(response) in ("invalid_grant", "invalid_scope"))


def invalid_client_problems(response: Response, *, basic: bool) -> list[str]:
    """What is wrong with an answer that should be RFC 6749 §5.2 ``invalid_client``."""
    problems = []
    if issued_token(response):
        return ["a token was issued"]
    if error_of(response) != "invalid_client":
        problems.append(f"error is {error_of(response)!r}, not 'invalid_client'")
    if response.status not in TOKEN_ERROR_STATUSES:
        problems.append(f"HTTP {response.status}, not 400 or 401")
    if response.content_type != "application/json":
        problems.append(f"the error body is {response.content_type or 'untyped'}, not application/json")
    if basic and response.status == 401 and not response.headers.get("www-authenticate"):
        problems.append("401 without WWW-Authenticate although Basic authentication was used")
    return problems
