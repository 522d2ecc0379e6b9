"""Authorization endpoint answers (RFC 6749 §4.1.2, §4.1.2.1) judged against the ordinary request's answer.

Providers differ in when they validate: some refuse a bad request at once (an error page, or an error sent
back to a registered redirect URI), others send every request to their login page first and judge it after
the sign-in. A login page and an error page can both be served with HTTP 200. So an answer is read with the
*control* beside it (the ordinary request with the client's first registered redirect URI): what looks like
the control's answer has not been judged (*sent to login*); a page unlike it is a refusal. "Looks like" is
learned from the control (status, where a redirect goes, the shape of the page), never from a product name.
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser
from typing import Any

from .._http import Response
from .._net import url_host
from .answers import Kind, Observation
from .throttle import TEMPORARILY_UNAVAILABLE, throttle_of

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
OAUTH_ERRORS = ("invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                "invalid_scope", "server_error", "temporarily_unavailable", "invalid_client",
                "invalid_redirect_uri", "invalid_request_uri", "invalid_request_object", "login_required",
                "consent_required", "interaction_required", "account_selection_required")
ERROR_WORD = re.compile(r"\b(" + "|".join(OAUTH_ERRORS) + r")\b")
ISSUED = ("code", "access_token", "id_token")
PAGE_SCAN_LIMIT = 256 * 1024
PAGE_TEXT_LIMIT = 2000  # the visible text kept to compare two error pages
# path segments that differ per request (interaction ids, UUIDs, session handles) are not part of a page's identity:
# a random id has a digit, or at 20 characters and more both cases (about 1 in 1500 random 43-character base64url
# ids has no digit, and two visits of one login page then read as two pages)
_VOLATILE_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-]{12,}$|^[0-9a-fA-F\-]{16,}$"
                               r"|^(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_\-]{20,}$")


def observe_authorization(response: Response, *, redirect_uri: str, provider_hosts: set[str],
                          control: Observation | None = None) -> Observation:
    """Judge one authorization endpoint answer (never followed); ``control`` is the ordinary request's answer."""
    status = response.status
    throttle = throttle_of(response)
    if throttle is not None:
        return Observation(Kind.THROTTLED, throttle.summary, response.exchange, status, retry_after=throttle.retry_after)
    location = response.headers.get("location")
    if status in REDIRECT_STATUSES and location:
        return _redirect(response, urllib.parse.urljoin(response.url, location), redirect_uri, provider_hosts, control)
    return _page(response, control)


def _redirect(response: Response, location: str, redirect_uri: str, provider_hosts: set[str],
              control: Observation | None) -> Observation:
    params = callback_parameters(location)
    error = params.get("error", "")[:100] or None
    status = response.status
    target = _without_query(location)
    if same_target(location, redirect_uri) or points_at(location, redirect_uri):
        where = "the redirect URI" if same_target(location, redirect_uri) else f"the redirect URI's origin ({target})"
        if error:
            return Observation(error_kind(error), f"error redirect to {where} ({error})", response.exchange, status,
                               error, ("redirect", "client", error), location=location)
        issued = [name for name in ISSUED if params.get(name)]
        if issued:
            return Observation(Kind.ACCEPTED, f"redirect to {where} with {' and '.join(issued)}", response.exchange,
                               status, None, ("redirect", "client", "issued"), location=location,
                               details={"issued": issued})
        return Observation(Kind.UNREADABLE, f"redirect to {where} with neither a code nor an error", response.exchange,
                           status, None, ("redirect", "client", ""), location=location)
    host = url_host(location)
    if host in provider_hosts:
        signature = ("redirect", "provider", host, _stable_path(location), bool(error))
        if error:
            return Observation(error_kind(error), f"error page of the provider ({error}) at {target}", response.exchange,
                               status, error, signature, location=location)
        if control is None or control.signature == signature:
            return Observation(Kind.SENT_TO_LOGIN, f"redirect to the provider's page {target}", response.exchange, status,
                               None, signature, location=location)
        return Observation(Kind.UNREADABLE, f"redirect to the provider's page {target}, where the ordinary request "
                           f"goes elsewhere ({control.summary})", response.exchange, status, None, signature,
                           location=location)
    return Observation(Kind.UNREADABLE, f"redirect to {target}, outside the provider's hosts and the redirect URI",
                       response.exchange, status, error, ("redirect", "elsewhere", host), location=location)


def _page(response: Response, control: Observation | None) -> Observation:
    status = response.status
    page = read_page(response)
    error = page["error"]
    signature = ("page", status, page["password"], error, page["actions"], page["title"])
    if status >= 500:
        return Observation(Kind.UNREADABLE, f"HTTP {status} (a server error, not a refusal)", response.exchange, status,
                           error, signature)
    if status >= 400:
        return Observation(error_kind(error), f"error page HTTP {status}" + (f" ({error})" if error else ""), response.exchange,
                           status, error, signature)
    if status != 200:
        return Observation(Kind.UNREADABLE, f"HTTP {status}", response.exchange, status, error, signature)
    if page["password"]:
        return Observation(Kind.SENT_TO_LOGIN, "the provider's login page (HTTP 200)", response.exchange, status, None,
                           signature)
    if control is None:
        # the ordinary request itself: a page without an OAuth error is the provider going on (consent, a script login)
        if error:
            return Observation(error_kind(error), f"error page HTTP 200 ({error})", response.exchange, status, error,
                               signature)
        return Observation(Kind.SENT_TO_LOGIN, f"a page of the provider (HTTP 200{_titled(page)})", response.exchange,
                           status, None, signature)
    if control.signature == signature:
        return Observation(Kind.SENT_TO_LOGIN, f"the same page as the ordinary request (HTTP 200{_titled(page)})",
                           response.exchange, status, None, signature)
    return Observation(error_kind(error or ""), f"error page HTTP 200{_titled(page)}" + (f" ({error})" if error else "")
                       + f", unlike the ordinary request's answer ({control.summary})", response.exchange, status, error,
                       signature)


def error_kind(error: str) -> Kind:
    """An OAuth error answer is a refusal, except ``temporarily_unavailable``: the server would not judge it now."""
    return Kind.THROTTLED if error == TEMPORARILY_UNAVAILABLE else Kind.REFUSED



def read_page(response: Response) -> dict[str, Any]:
    """The shape of an HTML page: a password field, form actions, its title and an OAuth error word."""
    text = response.text[:PAGE_SCAN_LIMIT] if response.content_type in ("text/html", "application/xhtml+xml", "text/plain",
                                                                         "application/json", "") else ""
    parser = _PageParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # a hostile page must not crash the run; keep what was read
        pass
    error = None
    if response.content_type == "application/json":
        try:
            import json

            body = json.loads(response.content)
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = body["error"][:100]
        except (ValueError, RecursionError):
            pass
    if error is None:
        match = ERROR_WORD.search(text)
        error = match.group(1) if match else None
    return {"password": parser.password, "actions": tuple(sorted({_stable_path(a) for a in parser.actions})),
            "title": " ".join(parser.title.split())[:120], "error": error,
            "text": " ".join(" ".join(parser.text).split())[:PAGE_TEXT_LIMIT]}


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.password = False
        self.actions: list[str] = []
        self.title = ""
        self._in_title = False
        self.text: list[str] = []
        self._text_size = 0
        self._hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "input" and values.get("type", "").lower() == "password":
            self.password = True
        elif tag == "form":
            self.actions.append(values.get("action", ""))
        elif tag == "title":
            self._in_title = True
        elif tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 200:
            self.title += data
        elif not self._hidden and self._text_size < PAGE_TEXT_LIMIT * 2:
            self.text.append(data)
            self._text_size += len(data)


def callback_parameters(url: str) -> dict[str, str]:
    """Query and fragment parameters of a redirect (the fragment wins: implicit responses use it)."""
    parts = urllib.parse.urlsplit(url)
    out = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    out.update(urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True))
    return out


def same_target(location: str, redirect_uri: str) -> bool:
    """Whether ``location`` goes to ``redirect_uri`` (scheme, host, port and path; query and fragment aside)."""
    if not redirect_uri:
        return False
    a, b = urllib.parse.urlsplit(location), urllib.parse.urlsplit(redirect_uri)
    try:
        return (a.scheme, (a.hostname or "").lower(), a.port, a.path) == (b.scheme, (b.hostname or "").lower(), b.port, b.path)
    except ValueError:
        return False


def points_at(location: str | None, uri: str) -> bool:
    """Whether a Location sends the browser to ``uri``'s origin (the evidence of an open redirect)."""
    if not location or not uri:
        return False
    a, b = urllib.parse.urlsplit(location), urllib.parse.urlsplit(uri)
    try:
        return (a.scheme, (a.hostname or "").lower(), a.port) == (b.scheme, (b.hostname or "").lower(), b.port)
    except ValueError:
        return False


def _stable_path(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return "/".join("*" if _VOLATILE_SEGMENT.match(segment) else segment for segment in path.split("/"))


def _without_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _titled(page: dict[str, Any]) -> str:
    return f", titled {page['title']!r}" if page["title"] else ""
