"""Answers about a token's state: introspection (RFC 7662) and revocation (RFC 7009), read as untrusted input.

An introspection answer is *accepted* when it is an RFC 7662 §2.2 object with a boolean ``active``
(``details["active"]``, and ``details["exp"]`` when it is a number); a 4xx is the endpoint refusing the caller,
not a verdict on the token. A revocation is *accepted* only at HTTP 200 (RFC 7009 §2.2); a 4xx is a refusal
whose error (``unsupported_token_type`` is allowed by §2.2.1) the check weighs.
"""

from __future__ import annotations

from .._http import Response
from .answers import Kind, Observation
from .throttle import throttle_of
from .token import body_object


def _throttled(response: Response, error: str | None) -> Observation | None:
    throttle = throttle_of(response, error)
    if throttle is None:
        return None
    return Observation(Kind.THROTTLED, throttle.summary, response.exchange, response.status, error,
                       (response.status, error), retry_after=throttle.retry_after)


def _error_of(response: Response) -> str | None:
    body = body_object(response)
    error = body.get("error") if body is not None else None
    return error[:100] if isinstance(error, str) else None


def observe_introspection(response: Response) -> Observation:
    """Judge one introspection answer: accepted with ``details["active"]``, refused, throttled or unreadable."""
    error = _error_of(response)
    throttled = _throttled(response, error)
    if throttled is not None:
        return throttled
    body = body_object(response)
    if response.status == 200 and body is not None and isinstance(body.get("active"), bool):
        details: dict[str, object] = {"active": body["active"], "body": body}
        exp = body.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            details["exp"] = exp
        state = "active" if body["active"] else "inactive"
        return Observation(Kind.ACCEPTED, f"HTTP 200 {state}", response.exchange, 200, None, (200, state),
                           details=details)
    if 400 <= response.status < 500:
        return Observation(Kind.REFUSED, f"HTTP {response.status}" + (f" {error}" if error else ""), response.exchange,
                           response.status, error, (response.status, error))
    return Observation(Kind.UNREADABLE, f"HTTP {response.status}, not an RFC 7662 answer (no boolean active)",
                       response.exchange, response.status, error, (response.status, error))


def introspected_state(observation: Observation) -> str | None:
    """``active`` / ``inactive`` for an answer that says, else None."""
    if not observation.accepted:
        return None
    return "active" if observation.details.get("active") else "inactive"


def observe_revocation(response: Response) -> Observation:
    """Judge one revocation answer: accepted (HTTP 200), refused (4xx, with its error), throttled or unreadable."""
    error = _error_of(response)
    throttled = _throttled(response, error)
    if throttled is not None:
        return throttled
    if response.status == 200:
        return Observation(Kind.ACCEPTED, "HTTP 200 (revoked)", response.exchange, 200, None, (200,))
    if 400 <= response.status < 500:
        return Observation(Kind.REFUSED, f"HTTP {response.status}" + (f" {error}" if error else ""), response.exchange,
                           response.status, error, (response.status, error))
    return Observation(Kind.UNREADABLE, f"HTTP {response.status} (neither a revocation nor a refusal)",
                       response.exchange, response.status, error, (response.status, error))
