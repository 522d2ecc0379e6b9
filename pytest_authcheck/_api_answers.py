"""The words the API checks state their verdicts in, and which API answers can carry a verdict.

Answers are judged by ``observations.observe_resource`` (accepted, refused, throttled, unreadable); here they are
named in the vocabulary of expected values (``accepted``/``allowed``, ``refused (401)``, ``refused (403)``,
``not found (404)``), and ``matrix_undecided`` says which answers cannot decide a cell of the authorization matrix.
"""

from __future__ import annotations

from ._api import ALLOW, Expectation
from .observations import Kind, Observation
from .observations.resource import NOT_THERE

ACCEPTED_WORD = "accepted"
ALLOWED_WORD = "allowed"
_NOT_THERE_WORDS = {404: "not found (404)", 405: "method not allowed (405)", 410: "gone (410)"}
# Refusals of the request's size (RFC 9110 §15.5.14, RFC 6585 §5), which a server or a proxy in front of it may
# answer before it reads any credential.
TOO_LARGE = {413: "content too large", 431: "request header fields too large"}


def word(answer: Observation, *, accepted: str = ACCEPTED_WORD) -> str:
    """``accepted`` (or ``accepted``'s replacement), ``refused (401)``, ``not found (404)``, ... for expected/observed."""
    if answer.kind is Kind.ACCEPTED:
        return accepted
    if answer.kind is Kind.REFUSED:
        return f"refused ({answer.status})"
    if answer.status in _NOT_THERE_WORDS:
        return _NOT_THERE_WORDS[answer.status]
    return answer.kind.value


def disguised_refusal(answer: Observation) -> bool:
    """A "nothing served here" answer (404, 405, 410) where the same request with a good credential was served:
    a refusal in disguise, which the token checks judge like any refusal."""
    return answer.kind is Kind.UNREADABLE and answer.status in NOT_THERE


def size_refusal(answer: Observation) -> str | None:
    """Why ``answer`` says nothing about the credential the request carried (a 413 or 431: its size was refused,
    perhaps before the credential was read), or None."""
    if answer.status not in TOO_LARGE:
        return None
    return (f"HTTP {answer.status} ({TOO_LARGE[answer.status]}): the request's size was refused, which says nothing "
            "about how its credential is judged")


def expected_word(expectation: Expectation) -> str:
    """What a matrix cell must observe: ``allowed``, ``refused (401)`` or ``refused (403)``."""
    return ALLOWED_WORD if expectation.outcome == ALLOW else f"refused ({expectation.outcome})"


def matrix_undecided(expectation: Expectation, answer: Observation) -> str | None:
    """Why an answer cannot carry a matrix cell's verdict, or None when it can.

    Decisive: a 2xx, 401 or 403 everywhere, and a 404 where a refusal is due (a refusal disguised as a missing
    resource is a finding). A 404 to a principal the policy allows may be a missing resource or that same
    disguise; another 4xx (400, 405, 422, ...) may judge the request on other grounds before authorization.
    """
    status = answer.status
    if answer.kind is Kind.ACCEPTED or (answer.kind is Kind.REFUSED and status in (401, 403)):
        return None
    if status == 404 and expectation.outcome != ALLOW:
        return None
    if status == 404:
        return ("HTTP 404 where the policy allows the principal: a missing resource and a refusal disguised as one "
                "cannot be told apart; point the rule at a request that exists")
    if answer.kind is Kind.REFUSED or status in NOT_THERE:
        return (f"HTTP {status} says neither allowed nor refused: the API may judge the request on other grounds "
                "(its form, its method) before authorization")
    return answer.why_not_evaluable()
