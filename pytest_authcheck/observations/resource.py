"""Answers of protected resources (a provider's userinfo endpoint, a policy's API) to bearer requests (RFC 6750).

A resource either serves the request (*accepted*: 2xx), refuses it (*refused*: 400, 401, 403, ..., whatever the
body says), sends the browser to a login page (*sent to login*), throttles it or answers something that tells
nothing (*unreadable*: 404, 405, 5xx, a redirect elsewhere). ``challenges`` reads the ``WWW-Authenticate``
header (RFC 9110 §11.6.1) as untrusted input: a malformed header yields the challenges read before the fault
and says where it is.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from .._http import Response
from .._net import url_host
from .answers import Kind, Observation
from .throttle import throttle_of
from .token import body_object

HEADER_LIMIT = 8192
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SPACE = re.compile(r"[ \t]*")
# Statuses that say nothing about the credential: nothing is served here, or not with this method.
NOT_THERE = (404, 405, 410)


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: its scheme, and its parameters (names lowercased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def bearer(self) -> bool:
        """The scheme is Bearer (RFC 6750 §3; schemes are case-insensitive, RFC 9110 §11.1)."""
        return self.scheme.lower() == "bearer"


@dataclass(frozen=True)
class Challenges:
    """What a response's ``WWW-Authenticate`` header says: the challenges read, the raw text and any fault."""

    raw: str
    items: tuple[Challenge, ...] = ()
    fault: str | None = None

    @property
    def bearer(self) -> Challenge | None:
        """The Bearer challenge, if any."""
        return next((c for c in self.items if c.bearer), None)

    def describe(self) -> str:
        """``Bearer (error=invalid_token)``, ``no WWW-Authenticate header`` or the fault with the raw text."""
        if not self.raw:
            return "no WWW-Authenticate header"
        if not self.items:
            return f"a WWW-Authenticate header with no auth scheme ({self.fault}): {self.raw[:120]!r}"
        shown = []
        for challenge in self.items:
            params = ", ".join(f"{k}={v[:40]}" for k, v in challenge.params.items() if k in ("error", "realm", "scope"))
            shown.append(challenge.scheme + (f" ({params})" if params else ""))
        return "WWW-Authenticate: " + "; ".join(shown)


def challenges(response: Response) -> Challenges:
    """The challenges of ``response``'s ``WWW-Authenticate`` header(s) (RFC 9110 §11.6.1)."""
    raw = ", ".join(v.strip() for v in response.headers.get_list("www-authenticate") if v.strip())[:HEADER_LIMIT]
    return parse_challenges(raw)


def parse_challenges(raw: str) -> Challenges:
    """``#challenge``, where ``challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``."""
    items: list[Challenge] = []
    current: Challenge | None = None
    at, end = 0, len(raw)
    while at < end:
        while at < end and raw[at] in " \t,":
            at += 1
        if at >= end:
            break
        name = _TOKEN.match(raw, at)
        if name is None:
            return Challenges(raw, tuple(items), f"unexpected {raw[at]!r} at {at}")
        after = _SPACE.match(raw, name.end()).end()  # type: ignore[union-attr]
        if after < end and raw[after] == "=":
            if current is None:
                return Challenges(raw, tuple(items), f"a parameter ({name.group(0)[:40]}) before any auth scheme")
            at = _SPACE.match(raw, after + 1).end()  # type: ignore[union-attr]
            quoted = _QUOTED.match(raw, at)
            value = quoted or _TOKEN.match(raw, at)
            if value is None:
                return Challenges(raw, tuple(items), f"no value for {name.group(0)[:40]}")
            text = re.sub(r"\\(.)", r"\1", quoted.group(1)) if quoted else value.group(0)
            current.params.setdefault(name.group(0).lower(), text)
            at = value.end()
            continue
        current = Challenge(name.group(0))
        items.append(current)
        at = after
        token68 = _TOKEN68.match(raw, at) if at < end and raw[at] != "," else None
        if token68 is not None and name.end() < at:
            current = Challenge(current.scheme, current.params, token68.group(0))
            items[-1] = current
            at = token68.end()
    return Challenges(raw, tuple(items))


def observe_resource(response: Response, *, provider_hosts: set[str] | frozenset[str] = frozenset()) -> Observation:
    """Judge a protected resource's answer to one request; ``details["challenges"]`` holds its challenges."""
    status = response.status
    seen = challenges(response)
    body = body_object(response)
    error = body.get("error") if body is not None else None
    error_code = error[:100] if isinstance(error, str) else (seen.bearer.params.get("error") if seen.bearer else None)
    details = {"challenges": seen}
    signature = (status, error_code)
    throttle = throttle_of(response, error_code)
    if throttle is not None:
        return Observation(Kind.THROTTLED, throttle.summary, response.exchange, status, error_code, signature,
                           retry_after=throttle.retry_after, details=details)
    if 200 <= status < 300:
        return Observation(Kind.ACCEPTED, f"HTTP {status} (served)", response.exchange, status, None, signature,
                           details=details)
    if status in NOT_THERE:
        return Observation(Kind.UNREADABLE, f"HTTP {status}: nothing is served there with this method",
                           response.exchange, status, error_code, signature, details=details)
    if 400 <= status < 500:
        return Observation(Kind.REFUSED, f"HTTP {status}" + (f" {error_code}" if error_code else ""), response.exchange,
                           status, error_code, signature, details=details)
    location = response.headers.get("location")
    if 300 <= status < 400 and location:
        target = urllib.parse.urljoin(response.url, location)
        host = url_host(target)
        where = urllib.parse.urlunsplit(urllib.parse.urlsplit(target)._replace(query="", fragment=""))
        kind = Kind.SENT_TO_LOGIN if host in provider_hosts else Kind.UNREADABLE
        return Observation(kind, f"HTTP {status} redirect to {where[:200]}", response.exchange, status, None, signature,
                           location=target, details=details)
    what = "a server error, not a refusal" if status >= 500 else "neither served nor refused"
    return Observation(Kind.UNREADABLE, f"HTTP {status} ({what})", response.exchange, status, error_code, signature,
                       details=details)
