"""Independent requests against the DOT provider, for re-verifying findings by hand (no pytest_authcheck code).

``signed_in(dot)`` logs the test user in through Django's login form, sending the same-origin ``Origin`` a
browser sends (Django's CSRF check over HTTPS needs it); ``code_flow`` then walks one authorization request
through DOT's consent form and returns the callback's query and the PKCE verifier.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx

from tests.dot_idp.world import TEST_PASSWORD, TEST_USERNAME, WEB_PORTAL_SECRET, RunningDot

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def http(dot: RunningDot) -> httpx.Client:
    return httpx.Client(verify=dot.ssl_context(), timeout=20, follow_redirects=False)


@contextlib.contextmanager
def signed_in(dot: RunningDot) -> Iterator[httpx.Client]:
    with http(dot) as client:
        yield _login(client, dot)


def _login(client: httpx.Client, dot: RunningDot) -> httpx.Client:
    page = client.get(dot.base_url + "/accounts/login/")
    token = _CSRF.search(page.text)
    assert token, f"no CSRF token on the login page: HTTP {page.status_code}"
    answer = client.post(dot.base_url + "/accounts/login/", headers={"Origin": dot.base_url},
                         data={"csrfmiddlewaretoken": token.group(1), "username": TEST_USERNAME,
                               "password": TEST_PASSWORD, "next": "/"})
    assert answer.status_code == 302, f"login failed: HTTP {answer.status_code}"
    return client


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
    return verifier, challenge


def code_flow(client: httpx.Client, dot: RunningDot, client_id: str, redirect_uri: str, *, scope: str,
              method: str = "S256") -> tuple[dict[str, str], str]:
    """(callback query, code_verifier) of one authorization request, consent given."""
    verifier, challenge = pkce_pair()
    answer = client.get(dot.issuer + "/authorize/", params={
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": scope,
        "state": "hand-check", "nonce": "hand-nonce", "code_challenge_method": method,
        "code_challenge": challenge if method == "S256" else verifier})
    if answer.status_code == 200 and 'id="authorizationForm"' in answer.text:
        form = {name: html.unescape(value) for name, value in _HIDDEN.findall(answer.text)}
        token = _CSRF.search(answer.text)
        assert token
        form.update(csrfmiddlewaretoken=token.group(1), allow="Authorize")
        answer = client.post(str(answer.url), data=form, headers={"Origin": dot.base_url})
    location = answer.headers.get("location", "")
    assert answer.status_code == 302 and location.startswith(redirect_uri), \
        f"no redirect to {redirect_uri}: HTTP {answer.status_code} {location}"
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)), verifier


def exchange(dot: RunningDot, client_id: str, redirect_uri: str, query: dict[str, str], verifier: str) -> dict[str, Any]:
    """The token endpoint's JSON for the callback's code (web-portal authenticates with Basic, others are public)."""
    form = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": redirect_uri,
            "code_verifier": verifier}
    with http(dot) as client:
        if client_id == "web-portal":
            answer = client.post(dot.issuer + "/token/", data=form, auth=(client_id, WEB_PORTAL_SECRET))
        else:
            answer = client.post(dot.issuer + "/token/", data={**form, "client_id": client_id})
    assert answer.status_code == 200, f"code exchange for {client_id}: HTTP {answer.status_code} {answer.text[:200]}"
    return answer.json()
