"""The floor's plugin kinds (``scale_floor.py --kinds plugin``): every distinct request ``pytest --authcheck`` sends to
an OIDC provider and its active clients without a signed-in user, each sent once and judged in the simplest way.

Read request for request from the plugin's suites and probes (``suites/``, ``pytest_authcheck/probes/``), with the
same endpoint, method, parameters and client authentication, so the IdP's request log (``_scale_log.py``) puts each
in the same probe kind:

- provider: RFC 8414 metadata, the JWKS, one harmless request per advertised endpoint on the issuer's host
  (``discovery.endpoints-answer``: a GET, a POST without credentials to POST-only endpoints, a POST after a GET
  that found nothing; its GET of userinfo is also ``userinfo.bearer-challenge``'s request without a token), userinfo
  with a made-up bearer token, and TLS handshakes (the ordinary one, then capped at TLS 1.0 and at TLS 1.1: no
  requests, the IdP logs the refused ones apart);
- every client at the token endpoint: its harmless request with its declared authentication (client credentials
  with its scopes, else a made-up code), the same with a wrong secret, without a secret, with the other secret
  method, as a client_id nobody registered (HTTP Basic with a made-up secret; for a public client also without
  one), a grant nobody knows, each grant it does not declare with made-up artefacts; with client credentials and
  a secret also each advertised scope the policy does not give it (at most three) and a made-up one, the request
  without scope, and introspection of the token its declared request got (``revocation.revoked-inactive`` asks
  whether the provider shows it working);
- every client with redirect URIs at the authorization endpoint, before any login (state, nonce and S256
  challenge fixed per client, as the plugin's): the ordinary request, an unknown client_id, an unregistered URI,
  every near miss of every registered URI, a loopback URI on another port (native apps), each implicit/hybrid
  response type it does not declare and a plain OAuth ``token`` request, an unknown response type, a state
  carrying parameters (with an unknown and with the ordinary response type), no PKCE and plain PKCE (where
  PKCE is required), and for login clients no scope, ``prompt=none`` and each out-of-policy scope;
- the one second opinion the plugin asks here: an undeclared ``authorization_code`` refused with an error that does
  not name the grant is followed by the client's ordinary authorization request, and where that is refused
  without naming the client, by the same grant as the first client that declares it (once per provider).

Not here: whatever needs a signed-in user (a test user's login, its code redeemed, its tokens at userinfo, refresh,
revocation, consent), as the benchmark's fleet has none; clients the policy marks removed; the second opinions
and follow-ups the plugin sends only after answers this IdP does not give (the test user's password, the device
authorization endpoint, token exchange with the client's own token, an introspection that says active: isolation
across clients and a revocation of a minted token).
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from _floor_base import (
    LOOPBACK_PROBE_PORT,
    MADE_UP_SCOPE,
    UNREGISTERED,
    Probe,
    authz_proceeds,
    authz_refused,
    callback_answer,
    error_of,
    not_sent_to,
    pkce_challenge,
    resolve,
    token_issued,
)

# Made once per run, as the plugin's: equal requests stay equal.
WRONG_SECRET = "authcheck-wrong-" + secrets.token_urlsafe(12)
UNKNOWN_SUFFIX = "-authcheck-unknown-" + secrets.token_urlsafe(6)
BOGUS_CODE = "authcheck-not-a-code-" + secrets.token_urlsafe(8)
PLAIN_CHALLENGE = secrets.token_urlsafe(32)
MADE_UP_TOKEN = "authcheck-made-up-token-" + secrets.token_urlsafe(12)
NOWHERE = "https://authcheck.invalid/cb"
UNKNOWN_GRANT = "urn:authcheck:not-a-grant"
UNDECLARED_GRANTS: dict[str, dict[str, str]] = {
    "client_credentials": {},
    "password": {"username": "authcheck-nonexistent-user", "password": "authcheck-not-a-password"},
    "refresh_token": {"refresh_token": "authcheck-not-a-refresh-token"},
    "authorization_code": {"code": BOGUS_CODE, "redirect_uri": NOWHERE},
    "urn:ietf:params:oauth:grant-type:device_code": {"device_code": "authcheck-not-a-device-code"},
    "urn:ietf:params:oauth:grant-type:token-exchange": {
        "subject_token": "authcheck-not-a-token", "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
    "urn:ietf:params:oauth:grant-type:jwt-bearer": {"assertion": "authcheck.not.a-jwt"},
}
FRONT_CHANNEL = ("token", "id_token token", "code id_token", "code token", "code id_token token", "id_token")
INJECTED_STATE = "authcheck&code=authcheck-injected-code&iss=https://authcheck-injected.invalid"
STANDARD_OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
MAX_SCOPE_CANDIDATES = 3
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
# refusals that name the grant (RFC 6749 §5.2), and authorization errors that say no code is issued to the client
GRANT_REFUSALS = ("unsupported_grant_type", "unauthorized_client", "invalid_client")
CODE_REFUSALS = ("unauthorized_client", "unsupported_response_type", "invalid_client")
_OAUTH_ERROR = re.compile(r"\b(invalid_request|unauthorized_client|access_denied|unsupported_response_type|invalid_scope|"
                          r"server_error|temporarily_unavailable|invalid_client|invalid_redirect_uri|login_required|"
                          r"consent_required|interaction_required)\b")
POST_ONLY = frozenset({"token_endpoint", "revocation_endpoint", "introspection_endpoint",
                       "pushed_authorization_request_endpoint", "device_authorization_endpoint",
                       "backchannel_authentication_endpoint", "registration_endpoint"})
MAX_ENDPOINTS = 40


@dataclass(frozen=True)
class Client:
    """A ``[clients.NAME]`` table with the plugin's defaults filled in."""

    client_id: str
    secret: str | None
    public: bool
    native: bool
    auth_method: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    pkce: str | None

    @classmethod
    def from_policy(cls, config: dict[str, Any]) -> Client:
        secret = resolve(config["client_secret"]) if config.get("client_secret") else None
        kind = config.get("type") or ("confidential" if secret else "public")
        grants = tuple(config.get("grant_types") or ("authorization_code",))
        return cls(client_id=resolve(config["client_id"]), secret=secret, public=kind == "public",
                   native=config.get("application") == "native",
                   auth_method=config.get("token_endpoint_auth_method")
                   or ("client_secret_basic" if kind == "confidential" else "none"),
                   grant_types=grants,
                   response_types=tuple(config.get("response_types") or (("code",) if "authorization_code" in grants else ())),
                   redirect_uris=tuple(config.get("redirect_uris") or ()), scopes=tuple(config.get("scopes") or ()),
                   pkce=config.get("pkce"))

    def declares(self, grant: str) -> bool:
        return grant in self.grant_types

    @property
    def uses_secret(self) -> bool:
        return self.auth_method in SECRET_METHODS and self.secret is not None

    @property
    def mints(self) -> bool:
        """Gets tokens by client credentials (its harmless request is that grant)."""
        return self.declares("client_credentials") and self.secret is not None

    @property
    def code_flow(self) -> bool:
        return self.declares("authorization_code") and bool(self.redirect_uris)

    @property
    def requires_pkce(self) -> bool:
        return self.pkce == "S256" or (self.public and self.pkce != "none")

    def impostor(self) -> Client:
        return Client(self.client_id + UNKNOWN_SUFFIX, self.secret, self.public, self.native, self.auth_method,
                      self.grant_types, self.response_types, self.redirect_uris, self.scopes, self.pkce)


class Provider:
    """One OIDC provider: its metadata, its active clients in policy order, and the requests sent once for all."""

    def __init__(self, meta: dict[str, Any], issuer: str, allowed_hosts: Iterable[str], clients: list[Client]) -> None:
        self.meta = meta
        self.issuer = issuer
        self.hosts = {urllib.parse.urlsplit(issuer).netloc, *allowed_hosts}
        self.clients = clients
        self._sent: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def first(self, *key: str) -> bool:
        """True the first time ``key`` is asked for: a request shared by every client is sent once."""
        with self._lock:
            if key in self._sent:
                return False
            self._sent.add(key)
            return True

    def endpoint(self, member: str) -> str | None:
        url = self.meta.get(member)
        return url if isinstance(url, str) and self.trusts(url) else None

    def trusts(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" and (parts.netloc in self.hosts or (parts.hostname or "") in self.hosts)


# ---- judgements -----------------------------------------------------------------------------------------------


def refused(response: httpx.Response) -> bool:
    return not token_issued(response) and 400 <= response.status_code < 500


def readable(response: httpx.Response) -> bool:
    """A token or an OAuth error: what a token endpoint says, whichever it is (the plugin shows it, unjudged)."""
    return token_issued(response) or error_of(response) is not None


def known_client(response: httpx.Response) -> bool:
    """A made-up code refused for what it is, not for the client."""
    return refused(response) and error_of(response) not in (None, "invalid_client")


def bearer_challenge(response: httpx.Response) -> bool:
    return response.status_code == 401 and re.search(r"\bbearer\b", response.headers.get("www-authenticate", ""),
                                                      re.IGNORECASE) is not None


def endpoint_answers(response: httpx.Response) -> bool:
    """Something is there: any status but 404/410 and server errors (refusals and 405 included)."""
    return response.status_code not in (404, 410) and response.status_code < 500


def introspection_answer(response: httpx.Response) -> bool:
    """RFC 7662: a JSON object with a boolean ``active``, or an error that is not about the caller's credentials."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if response.status_code == 200:
        return isinstance(body.get("active"), bool)
    return isinstance(body.get("error"), str) and body["error"] != "invalid_client"


def nothing_issued(redirect_uri: str) -> Callable[[httpx.Response], bool]:
    """Refused, or on to the login: no code or token before a user signed in."""
    def judge(response: httpx.Response) -> bool:
        answer = callback_answer(response)
        back = response.headers.get("location", "").startswith(redirect_uri)
        return response.status_code < 500 and not (back and ("code" in answer or "access_token" in answer))
    return judge


def authz_error(response: httpx.Response) -> str | None:
    """The error an authorization answer names: in the redirect, a JSON body, or the words of an error page."""
    if "error" in (answer := callback_answer(response)):
        return answer["error"][0]
    if (error := error_of(response)) is not None:
        return str(error)
    match = _OAUTH_ERROR.search(response.text[:65536]) if response.status_code >= 400 else None
    return match.group(1) if match else None


# ---- token endpoint -------------------------------------------------------------------------------------------


def harmless_form(client: Client) -> dict[str, str]:
    """A request the token endpoint must authenticate, then may refuse."""
    if client.declares("client_credentials"):
        scope = " ".join(s for s in client.scopes if s != "openid")
        return {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return {"grant_type": "authorization_code", "code": BOGUS_CODE,
            "redirect_uri": client.redirect_uris[0] if client.redirect_uris else NOWHERE}


def token_post(endpoint: str, client: Client, form: dict[str, str], *, method: str | None = None,
               secret: str | None = None) -> Callable[[httpx.Client], httpx.Response]:
    """``form`` with ``client``'s authentication (RFC 6749 §2.3.1): its declared method and secret unless given."""
    method = method or client.auth_method
    secret = secret if secret is not None else client.secret
    if method == "client_secret_basic" and secret is not None:
        basic = (client.client_id, secret)
        return lambda h: h.post(endpoint, data=form, auth=basic)
    form = {**form, "client_id": client.client_id}
    if method == "client_secret_post" and secret is not None:
        form["client_secret"] = secret
    return lambda h: h.post(endpoint, data=form)


def authenticated_kind(client: Client, method: str) -> str:
    """The log's kind of the client's harmless request sent with ``method``."""
    grant = harmless_form(client)["grant_type"]
    if grant != "client_credentials":
        return f"token: {grant} (declared grant)"
    return {"none": "token: no secret", "client_secret_post": "token: secret in the form (client_secret_post)"}.get(
        method, "token: right secret")


def scope_candidates(client: Client, meta: dict[str, Any]) -> list[str]:
    """Scopes the provider advertises that the policy does not give the client (at most three), and a made-up one."""
    supported = meta.get("scopes_supported")
    allowed = set(client.scopes) | ({"offline_access"} if client.declares("refresh_token") else set())
    known = [s for s in supported if isinstance(s, str) and 0 < len(s) <= 200 and " " not in s] \
        if isinstance(supported, list) else []
    extra = [s for s in known if s not in allowed and s not in STANDARD_OIDC_SCOPES]
    return [*extra[:MAX_SCOPE_CANDIDATES], MADE_UP_SCOPE]


def token_probes(client: Client, p: Provider) -> list[Probe]:
    endpoint = p.meta["token_endpoint"]
    harmless = harmless_form(client)
    declared = Probe(authenticated_kind(client, client.auth_method), token_post(endpoint, client, harmless),
                     token_issued if client.mints else known_client, then=introspection_of(client, p))
    probes = [declared]
    if client.uses_secret:
        probes.append(Probe("token: wrong secret", token_post(endpoint, client, harmless, secret=WRONG_SECRET),
                            lambda r: error_of(r) == "invalid_client"))
        other = "client_secret_post" if client.auth_method == "client_secret_basic" else "client_secret_basic"
        probes.append(Probe(authenticated_kind(client, other), token_post(endpoint, client, harmless, method=other),
                            readable))
    if client.auth_method != "none":
        # for a public client this is its declared request, sent above
        probes.append(Probe(authenticated_kind(client, "none"), token_post(endpoint, client, harmless, method="none"),
                            refused))
    stranger = client.impostor()
    probes.append(Probe("token: unknown client", token_post(endpoint, stranger, harmless_form(stranger), secret=WRONG_SECRET,
                                                            method="client_secret_basic"),
                        lambda r: error_of(r) == "invalid_client"))
    if client.auth_method == "none":
        form = {"grant_type": "authorization_code", "code": BOGUS_CODE,
                "redirect_uri": client.redirect_uris[0] if client.redirect_uris else NOWHERE}
        probes.append(Probe("token: unknown client", token_post(endpoint, stranger, form, method="none"), refused))
    probes.append(Probe("token: other undeclared grants", token_post(endpoint, client, {"grant_type": UNKNOWN_GRANT}),
                        refused))
    for grant, artefacts in UNDECLARED_GRANTS.items():
        if client.declares(grant):
            continue
        kind = ("token: undeclared grant" + (" (public apps)" if client.public else "")) if grant == "password" \
            else "token: other undeclared grants"
        probes.append(Probe(kind, token_post(endpoint, client, {"grant_type": grant, **artefacts}), refused,
                            then=second_opinion(client, p, grant, made_up=bool(artefacts))))
    if client.mints:
        for scope in scope_candidates(client, p.meta):
            requested = " ".join([*(s for s in client.scopes if s != "openid"), scope])
            kind = "token: out-of-policy scope" if scope == MADE_UP_SCOPE else "token: out-of-policy advertised scope"
            probes.append(Probe(kind, token_post(endpoint, client, {"grant_type": "client_credentials", "scope": requested}),
                                scope_not_granted(scope)))
        allowed = set(client.scopes) | {"offline_access"}
        probes.append(Probe("token: no scope", token_post(endpoint, client, {"grant_type": "client_credentials"}),
                            lambda r: not token_issued(r) or set(str(r.json().get("scope") or "").split()) <= allowed))
    return probes


def scope_not_granted(scope: str) -> Callable[[httpx.Response], bool]:
    def judge(response: httpx.Response) -> bool:
        if not token_issued(response):
            return refused(response)
        granted = response.json().get("scope")
        return not isinstance(granted, str) or scope not in granted.split()
    return judge


def introspection_of(client: Client, p: Provider) -> Callable[[httpx.Response], list[Probe]] | None:
    """After the declared client-credentials request: its token at the introspection endpoint, where the provider
    also offers revocation (``revocation.revoked-inactive`` first asks whether anything shows the token working)."""
    endpoint = p.endpoint("introspection_endpoint")
    if not (client.mints and endpoint and p.endpoint("revocation_endpoint")) or client.code_flow:
        return None

    def then(response: httpx.Response) -> list[Probe]:
        if not token_issued(response):
            return []
        token = response.json()["access_token"]
        return [Probe("POST /token/introspection", token_post(endpoint, client, {"token": token}), introspection_answer)]
    return then


def second_opinion(client: Client, p: Provider, grant: str, *, made_up: bool) -> Callable[[httpx.Response], list[Probe]] | None:
    """An undeclared authorization_code refused with an error that does not name the grant may be about the made-up
    code: the client's own authorization request tells (refused for the client: no code can exist), else the same
    grant from a client that declares it. The plugin also takes "refused as an unknown grant type is" as naming the
    grant; where the unknown grant's refusal names the grant (the test IdP's does), that is the same condition."""
    if grant != "authorization_code" or not made_up or client.redirect_uris:
        # a client with redirect URIs sends its ordinary authorization request anyway: not followed here
        return None

    def then(response: httpx.Response) -> list[Probe]:
        if token_issued(response) or (refused(response) and error_of(response) in GRANT_REFUSALS):
            return []
        return [Probe("authz: other unregistered redirect URIs",  # the log's name: no redirect_uri, none registered
                      authorization(client, p)(), authz_refused(""), then=declaring_control(client, p, grant))]
    return then


def declaring_control(client: Client, p: Provider, grant: str) -> Callable[[httpx.Response], list[Probe]]:
    def then(response: httpx.Response) -> list[Probe]:
        if authz_error(response) in CODE_REFUSALS:
            return []  # no code is issued to this client at all: the grant is unobtainable, nothing more to ask
        other = next((c for c in p.clients if c is not client and c.declares(grant)
                      and (c.auth_method == "none" or c.secret is not None)), None)
        if other is None or not p.first("declaring client", grant):
            return []
        return [Probe(f"token: {grant} (declared grant)",
                      token_post(p.meta["token_endpoint"], other, {"grant_type": grant, **UNDECLARED_GRANTS[grant]}),
                      refused)]
    return then


# ---- authorization endpoint -----------------------------------------------------------------------------------


def authorization(client: Client, p: Provider) -> Callable[..., Callable[[httpx.Client], httpx.Response]]:
    """``request(**changes)``: the client's ordinary authorization request with ``changes`` (None removes a member)."""
    endpoint = p.meta["authorization_endpoint"]
    base: dict[str, str] = {"response_type": "code", "client_id": client.client_id}
    if client.redirect_uris:
        base["redirect_uri"] = client.redirect_uris[0]
    if client.scopes:
        base["scope"] = " ".join(client.scopes)
    base.update(state=secrets.token_urlsafe(12), nonce=secrets.token_urlsafe(12),
                code_challenge=pkce_challenge(secrets.token_urlsafe(32)), code_challenge_method="S256")

    def request(**changes: str | None) -> Callable[[httpx.Client], httpx.Response]:
        params = {**base, **changes}
        query = {k: v for k, v in params.items() if v is not None}
        return lambda h: h.get(endpoint, params=query)
    return request


def variants(uri: str, *, native_loopback: bool) -> dict[str, str]:
    """Near misses of a registered URI that exact matching must refuse (the plugin's ``variants``)."""
    parts = urllib.parse.urlsplit(uri)
    host, port, netloc = parts.hostname or "", parts.port, parts.netloc
    path = parts.path or "/"

    def make(scheme: str = parts.scheme, netloc: str = netloc, path: str = path, query: str = parts.query,
             fragment: str = "") -> str:
        return urllib.parse.urlunsplit((scheme, netloc, path, query, fragment))

    out = {
        "suffix appended": make(path=path + "x"),
        "extra path segment": make(path=path.rstrip("/") + "/authcheck"),
        "'..' traversal": make(path=path.rstrip("/") + "/../authcheck"),
        "trailing slash": make(path=path + "/") if not path.endswith("/") else make(path=path.rstrip("/")),
        "other scheme": make(scheme="http" if parts.scheme == "https" else "https"),
        "other host": make(netloc=netloc.replace(host, "authcheck.invalid", 1)),
        "subdomain of the host": make(netloc=netloc.replace(host, f"{host}.authcheck.invalid", 1)),
        "userinfo": make(netloc=f"{netloc}@authcheck.invalid"),
        "added query": make(query=(parts.query + "&" if parts.query else "") + "authcheck=1"),
        "fragment": make(fragment="authcheck"),
    }
    if not native_loopback:
        out["other port"] = make(netloc=f"{host}:{(port or (443 if parts.scheme == 'https' else 80)) + 1}")
    if host in ("127.0.0.1", "localhost"):
        swapped = "localhost" if host == "127.0.0.1" else "127.0.0.1"
        out[f"{swapped} instead of {host}"] = make(netloc=netloc.replace(host, swapped, 1))
    return out


def native_loopback(client: Client, uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri)
    return client.native and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def authorization_probes(client: Client, p: Provider) -> list[Probe]:
    if not client.redirect_uris:
        return []
    request = authorization(client, p)
    registered = client.redirect_uris[0]
    probes = [Probe("authz: registered redirect URI", request(), authz_proceeds(registered)),
              Probe("authz: unknown client", request(client_id=client.client_id + UNKNOWN_SUFFIX), not_sent_to(registered))]
    if not client.code_flow:
        return probes
    probes.append(Probe("authz: unregistered redirect URI", request(redirect_uri=UNREGISTERED), not_sent_to(UNREGISTERED)))
    for uri in client.redirect_uris:
        loopback = native_loopback(client, uri)
        for name, variant in variants(uri, native_loopback=loopback).items():
            if variant in client.redirect_uris:
                continue
            kind = {"suffix appended": "authz: redirect URI + suffix",
                    "'..' traversal": "authz: redirect URI + '..' traversal"}.get(name, "authz: other redirect URI near misses")
            probes.append(Probe(kind, request(redirect_uri=variant), not_sent_to(variant)))
        if loopback:
            parts = urllib.parse.urlsplit(uri)
            port = LOOPBACK_PROBE_PORT if parts.port != LOOPBACK_PROBE_PORT else LOOPBACK_PROBE_PORT + 1
            moved = urllib.parse.urlunsplit((parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query, ""))
            probes.append(Probe("authz: loopback on another port", request(redirect_uri=moved), authz_proceeds(moved)))
    for response_type in FRONT_CHANNEL:
        if response_type not in client.response_types:
            kind = "authz: response_type=token" if response_type == "token" else "authz: other implicit/hybrid response types"
            probes.append(Probe(kind, request(response_type=response_type), authz_refused(registered)))
    if "token" not in client.response_types and "openid" in client.scopes:
        plain = " ".join(s for s in client.scopes if s != "openid") or None
        probes.append(Probe("authz: response_type=token without openid", request(response_type="token", scope=plain),
                            authz_refused(registered)))
    probes += [
        Probe("authz: other implicit/hybrid response types", request(response_type="authcheck_unknown"),
              authz_refused(registered)),
        Probe("authz: other implicit/hybrid response types",
              request(state=INJECTED_STATE, response_type="authcheck_unknown"), authz_refused(registered)),
        Probe("authz: state carrying parameters", request(state=INJECTED_STATE), authz_proceeds(registered)),
    ]
    if client.requires_pkce:
        probes += [Probe("authz: no PKCE", request(code_challenge=None, code_challenge_method=None), authz_refused(registered)),
                   Probe("authz: plain PKCE", request(code_challenge=PLAIN_CHALLENGE, code_challenge_method="plain"),
                         authz_refused(registered))]
    if client.declares("authorization_code"):  # a login client
        probes += [Probe("authz: no scope", request(scope=None), nothing_issued(registered)),
                   Probe("authz: prompt=none", request(prompt="none"), authz_refused(registered))]
        probes += [Probe("authz: out-of-policy scope", request(scope=" ".join([*client.scopes, scope])),
                         nothing_issued(registered)) for scope in scope_candidates(client, p.meta)]
    return probes


# ---- the provider ---------------------------------------------------------------------------------------------


def endpoint_kind(p: Provider, method: str, url: str) -> str:
    """The log's kind of a request without parameters or credentials."""
    if url == p.meta.get("authorization_endpoint") and method == "GET":
        return "authz: unknown client"  # no client_id
    if url == p.meta.get("token_endpoint") and method == "POST":
        return "token: unknown client"
    return f"{method} {urllib.parse.urlsplit(url).path}"


def provider_probes(p: Provider, base: str, issuer_path: str) -> list[Probe]:
    rfc8414 = base + "/.well-known/oauth-authorization-server" + issuer_path
    probes = [Probe("RFC 8414 metadata", lambda h: h.get(rfc8414), lambda r: r.status_code == 200),
              Probe("JWKS", lambda h: h.get(p.meta["jwks_uri"]), lambda r: r.status_code == 200 and "keys" in r.json())]
    userinfo = p.endpoint("userinfo_endpoint")
    advertised = sorted((k, v) for k, v in p.meta.items() if (k.endswith("_endpoint") or k == "check_session_iframe")
                        and isinstance(v, str) and v)[:MAX_ENDPOINTS]
    for name, url in advertised:
        method = "POST" if name in POST_ONLY else "GET"
        if not p.trusts(url) or not p.first(method, url):
            continue
        judge = (lambda r: endpoint_answers(r) and bearer_challenge(r)) if url == userinfo and method == "GET" \
            else endpoint_answers
        probes.append(Probe(endpoint_kind(p, method, url), bare(method, url), judge,
                            then=post_after_missing(p, url) if method == "GET" else None))
    if userinfo:
        header = {"Authorization": f"Bearer {MADE_UP_TOKEN}"}
        probes.append(Probe(endpoint_kind(p, "GET", userinfo), lambda h: h.get(userinfo, headers=header), bearer_challenge))
    return probes


def bare(method: str, url: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda h: h.request(method, url, data={} if method == "POST" else None)


def post_after_missing(p: Provider, url: str) -> Callable[[httpx.Response], list[Probe]]:
    """Nothing for a GET: the endpoint may take POST only (one this release does not know)."""
    def then(response: httpx.Response) -> list[Probe]:
        if response.status_code != 404 or not p.first("POST", url):
            return []
        return [Probe(endpoint_kind(p, "POST", url), bare("POST", url), endpoint_answers)]
    return then


@dataclass
class Handshake:
    """A TLS handshake with the issuer's host: no request, so the IdP logs only the refused ones."""

    kind: str
    run: Callable[[], bool]


def handshakes(issuer: str, ca_bundle: str | None, timeout: float = 10) -> list[Handshake]:
    """The ordinary handshake (the chain verified against the policy's trust store, TLS 1.2 or newer), then one capped
    at TLS 1.0 and one at TLS 1.1, which must be refused. The host name is judged apart from the chain, as the
    plugin does."""
    parts = urllib.parse.urlsplit(issuer)
    host, port = parts.hostname or "", parts.port or 443
    server_name = None if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host) else host

    def shake(context: ssl.SSLContext) -> str | None:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.version()

    def ordinary() -> bool:
        context = ssl.create_default_context(cafile=ca_bundle)
        context.check_hostname = False
        return shake(context) in ("TLSv1.2", "TLSv1.3")

    def legacy(version: ssl.TLSVersion, name: str) -> Callable[[], bool]:
        def refused_version() -> bool:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # offering a deprecated version is the point
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                context.minimum_version = context.maximum_version = version
                context.set_ciphers("ALL:@SECLEVEL=0")
            try:
                return shake(context) != name
            except OSError:  # ssl.SSLError included: refused
                return True
        return refused_version

    return [Handshake("TLS: ordinary handshake", ordinary),
            Handshake("TLS: capped at TLS 1.0", legacy(ssl.TLSVersion.TLSv1, "TLSv1")),
            Handshake("TLS: capped at TLS 1.1", legacy(ssl.TLSVersion.TLSv1_1, "TLSv1.1"))]


def plugin_probes(policy: dict[str, Any], name: str, provider: dict[str, Any], meta: dict[str, Any], issuer: str,
                  base: str, issuer_path: str) -> list[Probe]:
    """Every distinct request for provider ``name`` and its active clients (see the module's docstring)."""
    clients = [Client.from_policy(c) for c in policy.get("clients", {}).values()
               if c.get("provider") == name and c.get("state", "active") == "active"]
    p = Provider(meta, issuer, provider.get("allowed_hosts", []), clients)
    probes = provider_probes(p, base, issuer_path)
    for client in clients:
        probes += token_probes(client, p)
        probes += authorization_probes(client, p)
    return probes
