"""Documents fetched once per run (discovery, JWKS, ...) with their evidence, or the reason they are not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._errors import EvaluationError, ResponseError
from ._http import Exchange, HttpClient, Response

_UNPARSED: Any = object()


@dataclass
class Document:
    """A fetched JSON document: the response, or the evaluation error that stands in for it."""

    name: str
    url: str
    response: Response | None = None
    error: EvaluationError | None = None
    _parsed: Any = field(default=_UNPARSED, repr=False)

    @property
    def exchange(self) -> Exchange | None:
        """The redacted HTTP exchange behind the document, if a request was sent."""
        if self.response is not None:
            return self.response.exchange
        return getattr(self.error, "exchange", None)

    def json(self) -> Any:
        """The parsed body; raises the fetch error, or ``ResponseError`` for a non-200 or non-JSON answer."""
        if self.error is not None:
            # The same exception object is raised by every check that reads the document: drop the
            # frames of earlier raises, or its traceback grows with each check that renders it.
            raise self.error.with_traceback(None)
        assert self.response is not None
        if self._parsed is _UNPARSED:
            throttled = self.response.throttled
            if throttled is not None:
                self.error = ResponseError(f"{self.name} at {self.exchange.url if self.exchange else self.url}: {throttled}")
                self.error.exchange = self.exchange  # type: ignore[attr-defined]
                raise self.error.with_traceback(None)
            if self.response.status != 200:
                self.error = ResponseError(f"{self.name} at {self.exchange.url if self.exchange else self.url} "
                                           f"answered HTTP {self.response.status}, not 200")
                self.error.exchange = self.exchange  # type: ignore[attr-defined]
                raise self.error.with_traceback(None)
            self._parsed = self.response.json()
        return self._parsed

    def json_object(self) -> dict[str, Any]:
        """The parsed body, which must be a JSON object."""
        body = self.json()
        if not isinstance(body, dict):
            raise ResponseError(f"{self.name} at {self.url} is JSON but not an object")
        return body


def fetch(http: HttpClient, name: str, url: str) -> Document:
    """GET ``url``; a transport failure becomes the document's error.

    Redirects are not followed: a well-known document must answer 200 at its own URL (OIDC Discovery §4.2),
    and the check that reads the document reports a redirect as what it is.
    """
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except EvaluationError as exc:
        return Document(name=name, url=url, error=exc)
    return Document(name=name, url=url, response=response)
