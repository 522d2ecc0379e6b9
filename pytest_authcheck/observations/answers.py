"""The observation model: what one answer means, with its reason, evidence and the signature comparisons use."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .._errors import EvaluationError
from .._http import Exchange


class Kind(StrEnum):
    """What the server did with a request."""

    ACCEPTED = "accepted"            # went on as if the request were valid: code or tokens issued, the control's next step
    REFUSED = "refused"              # said no, in any format
    SENT_TO_LOGIN = "sent to login"  # has not judged the request yet: its own login (or consent) pages
    THROTTLED = "throttled"          # would not answer now: 429, 503
    UNREADABLE = "unreadable"        # fits none of the above


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer, judged: ``kind`` and a one-line ``summary`` that says what was seen."""

    kind: Kind
    summary: str
    exchange: Exchange | None = None
    status: int | None = None
    error: str | None = None  # an RFC 6749 error code, when the answer carries one as a string
    # What "looks the same" compares (status, error, where a redirect goes, the shape of a page):
    # learned per request, so two answers are compared without knowing the product that gave them.
    signature: tuple[Any, ...] = ()
    format_problems: tuple[str, ...] = ()  # how an error answer departs from RFC 6749 §5.2 / §4.1.2.1
    location: str | None = None
    retry_after: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    trail: tuple[Exchange, ...] = ()  # the exchanges that led to this answer (a signed-in walk), in order

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange behind this observation, the deciding one last."""
        return [*self.trail, *([self.exchange] if self.exchange is not None and self.exchange not in self.trail else [])]

    @property
    def accepted(self) -> bool:
        """Tokens or a code were issued, or the request went on like the control."""
        return self.kind is Kind.ACCEPTED

    @property
    def refused(self) -> bool:
        """The server said no."""
        return self.kind is Kind.REFUSED

    @property
    def decisive(self) -> bool:
        """Accepted or refused: an answer a verdict can rest on."""
        return self.kind in (Kind.ACCEPTED, Kind.REFUSED)

    def same_as(self, other: Observation) -> bool:
        """Whether the two answers cannot be told apart."""
        return self.signature == other.signature

    def describe(self) -> str:
        """``refused: HTTP 401 invalid_client`` for expected/observed and messages."""
        return f"{self.kind.value}: {self.summary}"

    def why_not_evaluable(self) -> str:
        """The reason this answer cannot carry a verdict, for a *not evaluated* result."""
        if self.kind is Kind.THROTTLED:
            wait = f" (Retry-After {self.retry_after:g}s)" if self.retry_after is not None else ""
            return f"the provider throttled the probe: {self.summary}{wait}; run again later or from another address"
        if self.kind is Kind.SENT_TO_LOGIN:
            return f"the provider has not judged the request yet ({self.summary})"
        return f"the answer cannot be read as accepted or refused: {self.summary}"


class NotEvaluated(EvaluationError):
    """The answers could not tell the cases apart: the result is *not evaluated*, with the reason and what would
    lift it."""

    def __init__(self, reason: str, *, exchange: Exchange | None = None) -> None:
        super().__init__(reason)
        self.exchange = exchange
