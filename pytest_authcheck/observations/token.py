"""Token endpoint answers (RFC 6749 §5.1, §5.2) read as untrusted input, in any server's dialect.

A refusal is a refusal whatever its format: a 4xx with an RFC 6749 error, with an ``error`` object, or with an
empty body. How it departs from §5.2 is kept apart (``format_problems``) for the check that judges formats,
so a non-standard error never turns a refusal into an acceptance.
"""

from __future__ import annotations

import json
from typing import Any

from .._http import Response
from .answers import Kind, Observation
from .throttle import throttle_of


def body_object(response: Response) -> dict[str, Any] | None:
    """The JSON object of an answer, or None (hostile bodies are not trusted)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def observe_token(response: Response, *, basic: bool = False, issued: str = "access_token") -> Observation:
    """Judge one token endpoint answer; ``basic``: the client authenticated with HTTP Basic. ``issued`` is the
    member an acceptance carries (``device_code`` for a device authorization endpoint, RFC 8628 §3.2)."""
    status = response.status
    body = body_object(response)
    error = body.get("error") if body is not None else None
    error_code = error[:100] if isinstance(error, str) else None
    shape = _error_shape(response, body)
    signature = (status, error_code or shape)
    throttle = throttle_of(response, error_code)
    if throttle is not None:
        return Observation(Kind.THROTTLED, throttle.summary, response.exchange, status, error_code, signature,
                           retry_after=throttle.retry_after)
    if status == 200 and body is not None and isinstance(body.get(issued), str):
        what = "a token was issued" if issued == "access_token" else f"a {issued} was issued"
        return Observation(Kind.ACCEPTED, what, response.exchange, status, None, (status, "token"),
                           details={"body": body})
    if 400 <= status < 500:
        problems = tuple(rfc6749_error_problems(response, body, basic=basic and error_code == "invalid_client"))
        return Observation(Kind.REFUSED, f"HTTP {status} {error_code or shape}", response.exchange, status, error_code,
                           signature, problems)
    if status >= 500:
        return Observation(Kind.UNREADABLE, f"HTTP {status} (a server error, not a refusal)", response.exchange, status,
                           error_code, signature)
    return Observation(Kind.UNREADABLE, f"HTTP {status} {shape} (neither a token nor an error)", response.exchange,
                       status, error_code, signature)


def rfc6749_error_problems(response: Response, body: dict[str, Any] | None, *, basic: bool) -> list[str]:
    """How an error answer departs from RFC 6749 §5.2 (``basic``: a failed HTTP Basic authentication)."""
    problems = []
    if response.status not in (400, 401):
        problems.append(f"HTTP {response.status}, not 400 or 401")
    if response.content_type != "application/json":
        problems.append(f"the body is {response.content_type or 'untyped'}, not application/json")
    if body is None:
        problems.append("the body is not a JSON object")
    elif not isinstance(body.get("error"), str):
        problems.append("the error member is " + ("missing" if "error" not in body else
                                                   f"a {type(body['error']).__name__}, not a string"))
    if basic and response.status != 401:
        problems.append(f"HTTP {response.status} where a failed HTTP Basic authentication must get 401")
    challenge = response.headers.get("www-authenticate", "")
    if basic and response.status == 401 and not challenge:
        problems.append("401 without WWW-Authenticate although the client used HTTP Basic")
    elif basic and response.status == 401 and not challenge.strip().lower().startswith("basic"):
        problems.append(f"401 with a WWW-Authenticate {challenge.split(' ', 1)[0][:30]!r} challenge where the client "
                        "used HTTP Basic (RFC 6749 §5.2: the scheme the client used)")
    return problems


def _error_shape(response: Response, body: dict[str, Any] | None) -> str:
    if not response.content:
        return "with an empty body"
    if body is None:
        return f"with a {response.content_type or 'untyped'} body"
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or error.get("message")
        return f"error object ({str(code)[:60]})" if code else "error object"
    return "without an error member"
