"""Whether an advertised endpoint answers at all, judged from one harmless request (a GET, or a POST without
credentials for endpoints that only take POST).

Any answer that shows something is there counts, refusals included: 200, a redirect, 400 (the request lacks
what the endpoint needs), 401/403 (it needs credentials), 405 (not with this method). 404 and 410 say nothing is
there, a 5xx that the server failed, and no answer at all that nothing listens; 429 (or 503 with Retry-After)
tells nothing now.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .._http import Response
from .throttle import throttle_of


class Presence(StrEnum):
    """What one request shows about an endpoint."""

    ANSWERS = "answers"
    MISSING = "not found"
    SERVER_ERROR = "server error"
    NO_CONNECTION = "no connection"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class EndpointAnswer:
    """The judgement (``kind``) and what was seen (``summary``); compares as its kind in ``expect``."""

    kind: Presence
    summary: str

    @property
    def decisive(self) -> bool:
        """Whether the answer shows the endpoint's state (a throttle shows nothing)."""
        return self.kind is not Presence.THROTTLED

    def describe(self) -> str:
        """``not found: POST → HTTP 404`` for reports and messages."""
        return f"{self.kind.value}: {self.summary}"


def observe_endpoint(response: Response, method: str) -> EndpointAnswer:
    """Judge one harmless request's answer."""
    status = response.status
    seen = f"{method} → HTTP {status}"
    if throttle_of(response) is not None:
        return EndpointAnswer(Presence.THROTTLED, seen)
    if status in (404, 410):
        return EndpointAnswer(Presence.MISSING, seen)
    if status >= 500:
        return EndpointAnswer(Presence.SERVER_ERROR, seen)
    if 100 <= status < 500:
        return EndpointAnswer(Presence.ANSWERS, seen)
    return EndpointAnswer(Presence.SERVER_ERROR, f"{seen} (not an HTTP status)")


def no_answer(method: str, reason: str) -> EndpointAnswer:
    """No answer arrived (refused connection, reset, TLS failure, timeout)."""
    return EndpointAnswer(Presence.NO_CONNECTION, f"{method}: {reason[:300]}")
