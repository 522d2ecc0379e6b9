"""What both floors (``scale_floor.py``'s issue kinds and plugin kinds) are made of: a probe, its values, and the
simplest judgements of an answer. Raw httpx only: the floor never imports the plugin."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import httpx

UNREGISTERED = "https://authcheck-unregistered.invalid/callback"
MADE_UP_SCOPE = "authcheck-undeclared-scope"
LOOPBACK_PROBE_PORT = 53682
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve(value: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SystemExit(f"the policy references ${{{name}}} but it is not set in the environment")
        return os.environ[name]
    return _VAR.sub(one, value)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Probe:
    kind: str
    send: Callable[[httpx.Client], httpx.Response]
    #: judges the answer: True when it is what a well-configured provider says
    judge: Callable[[httpx.Response], bool]
    #: what the answer calls for next (a token to introspect, a second opinion on an ambiguous refusal)
    then: Callable[[httpx.Response], list[Probe]] | None = None


def token_issued(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return response.status_code == 200 and isinstance(body, dict) and "access_token" in body


def error_of(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def callback_answer(response: httpx.Response) -> dict[str, list[str]]:
    """The parameters a redirect carries back, query and fragment (where front-channel response types put them)."""
    parts = urllib.parse.urlsplit(response.headers.get("location", ""))
    return urllib.parse.parse_qs(parts.query) | urllib.parse.parse_qs(parts.fragment)


def authz_refused(redirect_uri: str) -> Callable[[httpx.Response], bool]:
    """An error page on the provider, or an error sent back to the registered redirect URI."""
    def judge(response: httpx.Response) -> bool:
        if 400 <= response.status_code < 500:
            return True
        answer = callback_answer(response)
        return response.headers.get("location", "").startswith(redirect_uri) and "error" in answer \
            and "code" not in answer and "access_token" not in answer
    return judge


def authz_proceeds(redirect_uri: str) -> Callable[[httpx.Response], bool]:
    """On to the provider's own login pages: a 200 page, or a redirect that is not back to the client."""
    def judge(response: httpx.Response) -> bool:
        if response.status_code == 200:
            return True
        location = response.headers.get("location", "")
        return response.is_redirect and not location.startswith(redirect_uri.split("?")[0])
    return judge


def not_sent_to(uri: str) -> Callable[[httpx.Response], bool]:
    def judge(response: httpx.Response) -> bool:
        location = response.headers.get("location", "")
        return not location.startswith(uri) and not (200 <= response.status_code < 300)
    return judge
