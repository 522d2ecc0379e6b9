"""When an answer says "not now": one rule for every endpoint, so no suite reads a throttle as a verdict.

HTTP 429, a 503 that says when to come back (Retry-After), and RFC 6749's ``temporarily_unavailable`` (§4.1.2.1; some
servers send it from the token endpoint too) say the server would not judge the request at this moment; a refusal
or an acceptance must never be read into them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._http import Response, retry_after_seconds

THROTTLE_STATUSES = (429, 503)
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


@dataclass(frozen=True)
class Throttle:
    """What the answer showed (``HTTP 429``) and how long it asked to wait, if it said."""

    summary: str
    retry_after: float | None


def throttle_of(response: Response, error: str | None = None) -> Throttle | None:
    """The throttle an answer shows, or None; ``error`` is the RFC 6749 error code the answer carries, if any."""
    status = response.status
    if status in THROTTLE_STATUSES:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status == 429 or retry_after is not None:
            return Throttle(f"HTTP {status}", retry_after)
    if error == TEMPORARILY_UNAVAILABLE:
        return Throttle(f"HTTP {status} {TEMPORARILY_UNAVAILABLE}", retry_after_seconds(response.headers.get("retry-after")))
    return None
