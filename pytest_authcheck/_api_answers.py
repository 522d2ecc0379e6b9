"""What a resource server's answer to a request with (or without) a credential means.

The API suites (and the Jamf Pro checks that use a token at an API) judge answers here, not in the suites:
a 2xx answer let the request through (*accepted*), a 4xx refused it, whatever its body; 429 (or 503 with
``Retry-After``) is *throttled*; a server error, a redirect or an informational status says neither, so a
verdict resting on it is *not evaluated* with the reason. Which refusal (401 or 403) a check wants is the
check's business: ``word`` names the answer in the vocabulary their expected values use.
"""

from __future__ import annotations

import urllib.parse

from ._api import ALLOW, Expectation
from ._http import Response
from .observations import Kind, Observation
from .observations.token import THROTTLE_STATUSES, retry_after_seconds

ACCEPTED_WORD = "accepted"
ALLOWED_WORD = "allowed"


def observe_api(response: Response) -> Observation:
    """Judge one API answer: accepted (2xx), refused (4xx), throttled, or unreadable (5xx, 3xx, 1xx)."""
    status = response.status
    if status in THROTTLE_STATUSES:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status == 429 or retry_after is not None:
            return Observation(Kind.THROTTLED, f"HTTP {status}", response.exchange, status, retry_after=retry_after,
                               signature=(status,))
    if 200 <= status < 300:
        return Observation(Kind.ACCEPTED, f"HTTP {status}", response.exchange, status, signature=(status,))
    if 400 <= status < 500:
        return Observation(Kind.REFUSED, f"HTTP {status}", response.exchange, status, signature=(status,))
    if status >= 500:
        summary = f"HTTP {status} (a server error says nothing about authorization)"
    elif 300 <= status < 400:
        summary = f"HTTP {status} redirect{_to(response)} (neither the resource nor a refusal)"
    else:
        summary = f"HTTP {status} (neither the resource nor a refusal)"
    return Observation(Kind.UNREADABLE, summary, response.exchange, status, signature=(status,))


def word(answer: Observation, *, accepted: str = ACCEPTED_WORD) -> str:
    """``accepted`` (or ``accepted``'s replacement), ``refused (401)``, ``refused (403)``, ... for expected/observed."""
    if answer.kind is Kind.ACCEPTED:
        return accepted
    if answer.kind is Kind.REFUSED:
        return f"refused ({answer.status})"
    return answer.kind.value


def expected_word(expectation: Expectation) -> str:
    """What a matrix cell must observe: ``allowed``, ``refused (401)`` or ``refused (403)``."""
    return ALLOWED_WORD if expectation.outcome == ALLOW else f"refused ({expectation.outcome})"


def matrix_undecided(expectation: Expectation, answer: Observation) -> str | None:
    """Why an answer cannot carry a matrix cell's verdict, or None when it can.

    Decisive: a 2xx, 401 or 403 everywhere, and a 404 where a refusal is due (a refusal disguised as a missing
    resource is a finding). A 404 to a principal the policy allows may be a missing resource or that same
    disguise; another 4xx (400, 405, 422, ...) may judge the request on other grounds before authorization.
    """
    if not answer.decisive:
        return answer.why_not_evaluable()
    status = answer.status
    if answer.kind is Kind.ACCEPTED or status in (401, 403):
        return None
    if status == 404 and expectation.outcome != ALLOW:
        return None
    if status == 404:
        return ("HTTP 404 where the policy allows the principal: a missing resource and a refusal disguised as one "
                "cannot be told apart; point the rule at a request that exists")
    return (f"HTTP {status} says neither allowed nor refused: the API may judge the request on other grounds "
            "(its form, its method) before authorization")


def _to(response: Response) -> str:
    location = response.headers.get("location")
    if not location:
        return ""
    parts = urllib.parse.urlsplit(urllib.parse.urljoin(response.url, location[:2000]))
    return f" to {parts.scheme}://{parts.netloc}{parts.path}"[:200]
