"""Count the requests the test IdP served, by probe kind, from its request log (tests/idp/server.js on stderr).

The server-side count is the honest one: it sees every request whoever sent it, retries and shared fetches
included. Lines look like

    [idp 2026-01-01T00:00:00.000Z] GET /auth?response_type=code&client_id=... 303 1.2ms
    [idp ...] POST /token 401 2.3ms form={"client":"svc-0001","auth":"basic","grant_type":"client_credentials",...}

(``form=`` is there with the config key ``log_form_details``). A refused TLS handshake is logged as
``tls-error``; it is counted apart, as it never became a request.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _scale_setup import Client, Fleet
from scale_floor import MADE_UP_SCOPE, UNREGISTERED  # the floor's probe values, which the plugin's share

_LINE = re.compile(r"^\[idp \S+\] (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) (\d{3})(?: \S+ms)?(?: form=(.*))?$")
_TLS_ERROR = re.compile(r"^\[idp \S+\] tls-error ")


@dataclass
class RequestCount:
    total: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    tls_refused: int = 0


def _near_miss_names(uri: str, native: bool) -> dict[str, str]:
    """The plugin's own near-miss variants of a redirect URI (variant -> name), when its suites are installed."""
    try:
        from pytest_authcheck.suites.redirect_uris import variants
    except ImportError:  # the floor-only use of this module needs no plugin
        return {}
    parts = urllib.parse.urlsplit(uri)
    loopback = native and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    return {v: k for k, v in variants(uri, native_loopback=loopback).items()}


class Classifier:
    """Names the probe kind of one logged request, knowing the fleet the IdP serves."""

    def __init__(self, fleet: Fleet) -> None:
        self.clients = fleet.by_id()
        self._near: dict[str, dict[str, str]] = {}

    def near_misses(self, uri: str) -> dict[str, str]:
        if uri not in self._near:
            self._near[uri] = _near_miss_names(uri, native=True)
        return self._near[uri]

    def kind(self, method: str, url: str, form: dict | None) -> str:
        path, _, query = url.partition("?")
        if method == "GET" and path == "/.well-known/openid-configuration":
            return "discovery"
        if method == "GET" and path.startswith("/.well-known/oauth-authorization-server"):
            return "RFC 8414 metadata"
        if method == "GET" and path == "/jwks":
            return "JWKS"
        if method == "GET" and path == "/auth":
            return self._authz(dict(urllib.parse.parse_qsl(query, keep_blank_values=True)))
        if method == "POST" and path == "/token":
            return self._token(form or {})
        if path.startswith("/interaction/") or path.startswith("/auth/"):
            return "login pages (interaction)"
        return f"{method} {path}"

    def _authz(self, params: dict[str, str]) -> str:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return "authz: unknown client"
        scope = set(params.get("scope", "").split())
        if params.get("response_type", "code") != "code":
            if params["response_type"] != "token":
                return "authz: other implicit/hybrid response types"
            # the floor's request carries the client's scopes; a plain OAuth one (no openid) is another probe
            return "authz: response_type=token" if "openid" in scope or "openid" not in client.scopes else \
                "authz: response_type=token without openid"
        if "code_challenge" not in params:
            return "authz: no PKCE"
        if params.get("code_challenge_method", "plain") != "S256":
            return "authz: plain PKCE"
        uri = params.get("redirect_uri", "")
        if uri in client.redirect_uris:
            if "prompt" in params:
                return "authz: prompt=none"
            if "&" in params.get("state", ""):
                return "authz: state carrying parameters"
            if not scope and client.scopes:
                return "authz: no scope"
            extra = scope - set(client.scopes) - {"offline_access"}
            return "authz: out-of-policy scope" if extra else "authz: registered redirect URI"
        return "authz: " + self._redirect_kind(client, uri)

    def _redirect_kind(self, client: Client, uri: str) -> str:
        parts = urllib.parse.urlsplit(uri)
        for registered in client.redirect_uris:
            reg = urllib.parse.urlsplit(registered)
            if parts.port and reg.port is None and (parts.scheme, parts.hostname, parts.path) == \
                    (reg.scheme, reg.hostname, reg.path):
                return "loopback on another port"
            name = self.near_misses(registered).get(uri)
            if name == "suffix appended":
                return "redirect URI + suffix"
            if name == "'..' traversal":
                return "redirect URI + '..' traversal"
            if name:
                return "other redirect URI near misses"
        if uri == UNREGISTERED:
            return "unregistered redirect URI"
        # on the registered URI's host: a near miss the near-miss table does not name
        if any(parts.hostname == urllib.parse.urlsplit(r).hostname for r in client.redirect_uris):
            return "other redirect URI near misses"
        return "other unregistered redirect URIs"

    def _token(self, form: dict) -> str:
        client = self.clients.get(str(form.get("client")))
        grant = form.get("grant_type")
        if client is None:
            return "token: unknown client"
        if grant not in client.grant_types:
            # the floor tries one undeclared grant (password); the plugin each one the client does not declare
            if grant != "password":
                return "token: other undeclared grants"
            return "token: undeclared grant" if client.confidential else "token: undeclared grant (public apps)"
        if grant != "client_credentials":
            return f"token: {grant} (declared grant)"
        if form.get("auth") == "none":
            return "token: no secret"
        if form.get("auth") == "post":
            return "token: secret in the form (client_secret_post)"
        if form.get("error") == "invalid_client":
            # every generated service's declared secret is the registered one: a refused one was a wrong one
            return "token: wrong secret"
        requested = set(str(form.get("scope") or "").split())
        if not requested and set(client.scopes) - {"openid"}:
            return "token: no scope"
        extra = requested - set(client.scopes)
        if not extra:
            return "token: right secret"
        # the floor asks for one made-up scope; the plugin also for the scopes the provider advertises
        return "token: out-of-policy scope" if extra == {MADE_UP_SCOPE} else "token: out-of-policy advertised scope"


def count_requests(log: Path, classifier: Classifier | None, start: int = 0) -> RequestCount:
    """The requests logged in ``log`` from byte offset ``start`` on."""
    out = RequestCount()
    try:
        with open(log, "rb") as f:
            f.seek(start)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return out
    for line in data.splitlines():
        match = _LINE.match(line)
        if match is None:
            if _TLS_ERROR.match(line):
                out.tls_refused += 1
            continue
        method, url, _status, form = match.groups()
        out.total += 1
        if classifier is not None:
            try:
                details = json.loads(form) if form else None
            except ValueError:
                details = None
            out.by_kind[classifier.kind(method, url, details if isinstance(details, dict) else None)] += 1
    return out
