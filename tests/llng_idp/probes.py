"""Independent requests to a running LemonLDAP::NG portal: what the hand-checked findings are verified with.

Written apart from pytest-authcheck (plain httpx, its own tiny form handling) so a finding is confirmed by a
second reader of LemonLDAP::NG's answers, not by the code under test. Every helper returns the raw answer
(status, headers, body); the callers decide what it shows.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

from .world import NATIVE_REDIRECT, TEST_USER, WEB_PORTAL_SECRET, WEB_REDIRECT, RunningLlng

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'\b(name|value|type)="([^"]*)"', re.I)
#: the portal's error pages carry the message in a span with the error's translation key
_ERROR_SPAN = re.compile(r'<span[^>]*\btrmsg="(\d+)"', re.I)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = b64u(os.urandom(32))
    return verifier, b64u(hashlib.sha256(verifier.encode("ascii")).digest())


def hidden_inputs(html: str) -> dict[str, str]:
    """name -> value of the page's hidden inputs (the login form's CSRF token among them)."""
    found: dict[str, str] = {}
    for tag in _INPUT.findall(html):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and "name" in attrs:
            found[attrs["name"]] = attrs.get("value", "")
    return found


def error_code(html: str) -> str | None:
    """The portal error number an HTML page shows (``trmsg``), e.g. "108" for an unauthorised URL."""
    match = _ERROR_SPAN.search(html)
    return match.group(1) if match else None


def is_login_page_html(html: str) -> bool:
    """The portal's login form (user and password fields)."""
    return 'name="password"' in html and 'name="user"' in html


@dataclass
class Answer:
    """One answer of the portal, kept for quoting."""

    status: int
    location: str | None
    body: str
    headers: dict[str, str]

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        return cls(status=response.status_code, location=response.headers.get("location"), body=response.text,
                   headers={k.lower(): v for k, v in response.headers.items()})

    @property
    def is_login_page(self) -> bool:
        return self.status == 200 and is_login_page_html(self.body)

    @property
    def location_query(self) -> dict[str, str]:
        if not self.location:
            return {}
        parts = urllib.parse.urlsplit(self.location)
        return dict(urllib.parse.parse_qsl(parts.query or parts.fragment))

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def quote(self, limit: int = 160) -> str:
        text = re.sub(r"\s+", " ", self.body)[:limit]
        where = f" Location: {self.location}" if self.location else ""
        return f"HTTP {self.status}{where} body: {text!r}"


class Probe:
    """A cookie-less HTTP client for one portal, plus a signed-in browser session when asked for."""

    def __init__(self, llng: RunningLlng) -> None:
        self.llng = llng
        self.http = httpx.Client(verify=llng.ssl_context(), timeout=15, follow_redirects=False)
        self._sso_cookie: str | None = None

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # httpx keeps the cookies a response sets; here a request carries only the cookies it is given, so an
        # "anonymous" probe never rides on the signed-in session by accident.
        self.http.cookies.clear()
        try:
            return self.http.request(method, url, **kwargs)
        finally:
            self.http.cookies.clear()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URLs ------------------------------------------------------------------------------
    @property
    def authorize_url(self) -> str:
        return self.llng.issuer + "/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return self.llng.issuer + "/oauth2/token"

    # -- the signed-in session -------------------------------------------------------------
    def sso_cookie(self) -> str:
        """Log the test user in at the portal's own login page (not through an authorization request) and keep
        the SSO cookie; later authorization requests carry it, so the portal judges them at once."""
        if self._sso_cookie is None:
            page = self._send("GET", self.llng.base_url + "/")
            form = hidden_inputs(page.text)
            form.update(user=TEST_USER[0], password=TEST_USER[1])
            cookie = _cookie_header(page)
            answer = self._send("POST", self.llng.base_url + "/", data=form, headers={"Cookie": cookie} if cookie else {})
            for header in answer.headers.get_list("set-cookie"):
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if name.strip() == "lemonldap" and value and value != "0":
                    self._sso_cookie = f"lemonldap={value}"
            if self._sso_cookie is None:
                raise AssertionError(f"the portal did not sign {TEST_USER[0]} in: HTTP {answer.status_code} "
                                     f"{answer.text[:300]!r}")
        return self._sso_cookie

    def authorize(self, params: dict[str, str], *, signed_in: bool) -> Answer:
        """GET the authorization endpoint with ``params``, with or without the SSO cookie."""
        headers = {"Cookie": self.sso_cookie()} if signed_in else {}
        return Answer.of(self._send("GET", self.authorize_url, params=params, headers=headers))

    def token(self, form: dict[str, str], *, auth: tuple[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Answer:
        return Answer.of(self._send("POST", self.token_url, data=form, auth=auth, headers=headers))

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        return Answer.of(self._send("GET", url, headers=headers))

    # -- requests the findings are about ---------------------------------------------------
    def code_request(self, client_id: str, redirect_uri: str, *, scope: str = "openid profile email",
                     challenge: str | None = None, method: str = "S256", **extra: str) -> dict[str, str]:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                  "state": b64u(os.urandom(9)), "nonce": b64u(os.urandom(9))}
        if challenge is not None:
            params.update(code_challenge=challenge, code_challenge_method=method)
        params.update(extra)
        return params

    def native_code(self, *, challenge: str, method: str = "S256", redirect_uri: str = NATIVE_REDIRECT,
                    scope: str = "openid profile email") -> Answer:
        """A signed-in authorization request of the public native RP."""
        return self.authorize(self.code_request("enclii-cli", redirect_uri, scope=scope, challenge=challenge,
                                                method=method), signed_in=True)

    def native_tokens(self) -> dict[str, Any]:
        """A full code flow of the native RP with PKCE S256: the token endpoint's JSON."""
        verifier, challenge = pkce_pair()
        answer = self.native_code(challenge=challenge)
        code = answer.location_query.get("code")
        if not code:
            raise AssertionError(f"no code for enclii-cli: {answer.quote()}")
        tokens = self.token({"grant_type": "authorization_code", "code": code, "redirect_uri": NATIVE_REDIRECT,
                             "client_id": "enclii-cli", "code_verifier": verifier})
        if tokens.status != 200:
            raise AssertionError(f"code exchange refused: {tokens.quote()}")
        result: dict[str, Any] = tokens.json()
        return result

    def web_code(self, *, challenge: str | None, method: str = "S256", redirect_uri: str = WEB_REDIRECT) -> Answer:
        """A signed-in authorization request of the confidential web RP."""
        return self.authorize(self.code_request("web-portal", redirect_uri, challenge=challenge, method=method),
                              signed_in=True)

    def web_token(self, form: dict[str, str]) -> Answer:
        return self.token(form, auth=("web-portal", WEB_PORTAL_SECRET))


def _cookie_header(response: httpx.Response) -> str:
    pairs = []
    for header in response.headers.get_list("set-cookie"):
        pairs.append(header.split(";", 1)[0].strip())
    return "; ".join(pairs)


__all__ = ["Answer", "Probe", "b64u", "error_code", "hidden_inputs", "is_login_page_html", "pkce_pair"]
