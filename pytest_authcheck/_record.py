"""The evidence a running check gathers, and the way it fails.

A check gets its ``CheckRecord`` through the ``authcheck_record`` fixture, attaches what proves its
verdict (HTTP exchanges, facts, decoded JWTs, expected vs observed) and calls ``fail(...)`` when the
system is not as the policy says. ``fail`` raises a pytest failure whose text is already redacted and
carries no traceback, so ``--showlocals`` and assertion rewriting have nothing to leak.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from ._bounds import MESSAGE_LIMIT, bounded_text, finish, shape
from ._expect import matches, mismatches, shown
from ._http import Exchange
from ._jwt import jwt_evidence
from ._redact import Redactor

_UNSET: Any = object()
FACT_TEXT_LIMIT = 4000


class CheckFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The system was evaluated and found not to match the policy (a *failed* check)."""


# Like pytest's own outcome exceptions: the short summary then reads "CheckFailed: <message>".
CheckFailed.__module__ = "builtins"


class CheckRecord:
    """Evidence and verdict details of one (check, target) test."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self.exchanges: list[Exchange] = []
        self.facts: dict[str, Any] = {}
        self.jwts: list[dict[str, Any]] = []
        self.expected: Any = None
        self.observed: Any = None
        self.message: str | None = None
        self.violations: list[str] = []
        self._raw: tuple[Any, Any] | None = None

    def attach(self, *exchanges: Exchange | None) -> None:
        """Add HTTP exchanges (already redacted by the HTTP layer) to the evidence."""
        for exchange in exchanges:
            if exchange is not None and all(e.id != exchange.id for e in self.exchanges):
                self.exchanges.append(exchange)

    def expect(self, expected: Any, observed: Any) -> None:
        """State what the policy expects and what was observed (shown side by side).

        The result model holds the check to them: it cannot pass unless ``observed`` matches ``expected``
        (see ``_expect``: plain values compare equal, matchers state bounds, observations match by kind).
        """
        self._raw = (expected, observed)
        self.expected = self._evidence(shown(expected))
        self.observed = self._evidence(shown(observed))

    @property
    def stated(self) -> bool:
        """Whether the check stated what it expected and observed."""
        return self._raw is not None

    def expectation_mismatches(self) -> list[str]:
        """Where the observed departs from the expected (empty when they match or nothing was stated)."""
        if self._raw is None or matches(*self._raw):
            return []
        return [self._redactor.text(m) for m in mismatches(*self._raw)] or ["expected and observed differ"]

    def violation(self, message: str) -> None:
        """Record a violation as soon as it is seen: it is reported even if a later step of the check errors."""
        self.violations.append(self._redactor.text(message))

    def conclude(self, prefix: str = "") -> None:
        """Fail with every recorded violation, if any (``prefix`` opens the message)."""
        if self.violations:
            self.fail(prefix + "; ".join(self.violations))

    def fact(self, name: str, value: Any) -> None:
        """Record one named piece of evidence (a certificate summary, a key list, ...)."""
        self.facts[bounded_text(name)] = self._evidence(value)

    def jwt(self, label: str, token: str) -> None:
        """Record a JWT's decoded header and claims (never the token or its signature), bounded."""
        self.jwts.append({"label": bounded_text(label), **jwt_evidence(token, self._redactor)})

    def fail(self, message: str, *, expected: Any = _UNSET, observed: Any = _UNSET) -> NoReturn:
        """Fail the check with ``message`` (naming expected and observed values)."""
        if expected is not _UNSET or observed is not _UNSET:
            self.expect(None if expected is _UNSET else expected, None if observed is _UNSET else observed)
        self.message = bounded_text(self._redactor.text(message), MESSAGE_LIMIT, MESSAGE_LIMIT // 3)
        if self.message not in self.violations:
            self.violations.append(self.message)
        raise CheckFailed(self.message, pytrace=False)

    def _evidence(self, value: Any) -> Any:
        # Bounded before it is walked, cut and escaped after it is redacted (see _bounds).
        return finish(self._redactor.data(shape(value)))

    def evidence(self) -> dict[str, Any]:
        """The JSON-able evidence (exchanges by id; see ``exchange_table``)."""
        out: dict[str, Any] = {}
        if self.exchanges:
            out["exchanges"] = [e.id for e in self.exchanges]
        if self.facts:
            out["facts"] = self.facts
        if self.jwts:
            out["jwts"] = self.jwts
        return out
