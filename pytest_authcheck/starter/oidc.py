"""The starter policy of an OpenID Provider, from its discovery document (one GET, no credentials).

Strict where the policy can be strict without knowing the clients (no 'none' or HMAC signing algorithms, no
password or implicit grant, response types without tokens in the front channel); the rest as observed, marked
for review. Clients cannot be read from discovery: one commented example of each kind shows what to declare.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from .._errors import EvaluationError
from .._http import HttpClient
from .._net import is_loopback
from .._oidc import DISCOVERY_PATH
from .common import Options, Policy, StarterError, header, safe, tls_hint, unavailable

PROVIDER = "sso"
# Values a provider lists (algorithms, grant types, scopes): printable tokens of a plausible length; others are
# not copied into the policy (a hostile document must not write the user's file for them).
_TOKEN = re.compile(r"^[\x21-\x7e]{1,100}$")
_HOST = re.compile(r"^[a-z0-9.-]{1,253}$|^\[[0-9a-f:.]+\]$")
MAX_VALUES = 50
FEATURES = {
    "revocation_endpoint": "revocation", "introspection_endpoint": "introspection",
    "device_authorization_endpoint": "device_authorization", "pushed_authorization_request_endpoint": "par",
    "end_session_endpoint": "end_session", "registration_endpoint": "registration",
}
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", *FEATURES)
# RFC 9700 §2.4 (password) and §2.1.2 (implicit): never allowed by a starter policy, whatever is advertised.
INSECURE_GRANTS = ("password", "implicit")


def discovery_url(url: str) -> str:
    """Where the discovery document of the issuer ``url`` (or the document's own URL) is."""
    return url if url.rstrip("/").endswith(DISCOVERY_PATH) else url.rstrip("/") + DISCOVERY_PATH


def issuer_of(url: str) -> str:
    """The issuer a URL names (the discovery URL less its well-known suffix)."""
    stripped = url.rstrip("/")
    return stripped[: -len(DISCOVERY_PATH)] if stripped.endswith(DISCOVERY_PATH) else url


def _values(metadata: dict[str, Any], member: str) -> list[str] | None:
    listed = metadata.get(member)
    if not isinstance(listed, list):
        return None
    return [v for v in listed if isinstance(v, str) and _TOKEN.match(v)][:MAX_VALUES]


def fetch(http: HttpClient, url: str) -> dict[str, Any]:
    """The discovery document, or ``StarterError`` saying why there is none."""
    where = discovery_url(url)
    try:
        response = http.get(where, headers={"Accept": "application/json"})
    except EvaluationError as exc:
        raise StarterError(f"cannot fetch {where}: {exc}{tls_hint(exc)}") from None
    busy = unavailable(response, where)
    if busy is not None:
        raise StarterError(busy)
    if response.status != 200:
        raise StarterError(f"{where} answered HTTP {response.status}: not an OpenID issuer (give the issuer URL)")
    try:
        document = response.json()
    except EvaluationError as exc:
        raise StarterError(str(exc)) from None
    if not isinstance(document, dict) or not isinstance(document.get("issuer"), str):
        raise StarterError(f"{where} is not an OpenID discovery document (no issuer member)")
    return document


def build(policy: Policy, http: HttpClient, url: str, options: Options) -> None:
    """Read the discovery document of ``url`` and write the provider and the example clients into ``policy``."""
    metadata = fetch(http, url)
    given = issuer_of(url)
    stated = str(metadata["issuer"])
    # the run fetches discovery from issuer + the well-known path: a trailing slash aside, write what it states
    issuer = stated if stated.rstrip("/") == given.rstrip("/") else given
    header(policy, options, f"the OpenID Provider {issuer}")
    _provider(policy, metadata, issuer, stated)
    _clients(policy, metadata)
    policy.summary = f"provider {PROVIDER} (oidc) {safe(issuer, 200)}, three example clients (commented)"


def _provider(policy: Policy, metadata: dict[str, Any], issuer: str, stated: str) -> None:
    policy.table(f"[providers.{PROVIDER}]")
    policy.key("kind", "oidc")
    if stated == issuer:
        policy.key("issuer", issuer, "discovery states exactly this")
    else:
        policy.key("issuer", issuer, f"discovery states {stated!r} instead: discovery.issuer-match will fail",
                   observed=True)
    host = (urllib.parse.urlsplit(issuer).hostname or "").lower()
    if urllib.parse.urlsplit(issuer).scheme == "http" and is_loopback(host):
        policy.key("allow_http_loopback", True, "the issuer is plain http on a loopback host", observed=True)

    algs = _values(metadata, "id_token_signing_alg_values_supported") or []
    strong = [a for a in algs if a != "none" and not a.upper().startswith("HS")]
    left_out = [a for a in algs if a not in strong]
    if strong:
        policy.key("signing_algs", strong, "ID token algorithms" + (f"; left out: {', '.join(left_out)}" if left_out
                                                                    else ""), observed=True)
    else:
        policy.comment("signing_algs: the provider advertises no asymmetric ID token algorithm "
                       f"({', '.join(algs) or 'none listed'}); declare the ones you expect, e.g.:")
        policy.key("signing_algs", ["RS256"], commented=True)

    grants = _values(metadata, "grant_types_supported")
    if grants is not None:
        allowed = [g for g in grants if g not in INSECURE_GRANTS]
        refused = [g for g in grants if g in INSECURE_GRANTS]
        policy.key("grant_types", allowed, "advertised grant types" + (
            f"; {', '.join(refused)} left out (RFC 9700 §2.4, §2.1.2): discovery.grant-types will say so"
            if refused else ""), observed=True)
    responses = _values(metadata, "response_types_supported") or []
    policy.comment("response_types: by default only response types without 'token' are allowed (observed: "
                   f"{', '.join(responses) or 'none listed'})")

    methods = _values(metadata, "token_endpoint_auth_methods_supported")
    if methods is not None:
        policy.key("token_endpoint_auth_methods", methods,
                   "keep only the methods your clients use ('none' is for public clients)", observed=True)

    features = sorted({name for member, name in FEATURES.items() if isinstance(metadata.get(member), str)}
                      | ({"iss_parameter"} if metadata.get("authorization_response_iss_parameter_supported") is True
                         else set()))
    if features:
        policy.key("features", features, "must stay advertised", observed=True)

    hosts = sorted({h for h in (_host(metadata.get(m)) for m in ENDPOINTS) if h and h != host})
    if hosts:
        policy.key("allowed_hosts", hosts[:MAX_VALUES], "hosts besides the issuer's that serve endpoints", observed=True)

    challenge = _values(metadata, "code_challenge_methods_supported") or []
    if "plain" in challenge:
        policy.comment("the provider advertises PKCE 'plain': discovery.pkce-s256 will say so (allow_plain_pkce = true "
                       "tolerates it)")
    policy.key("access_token_max", "1h", "the longest access-token lifetime for the provider's clients")
    policy.key("rfc8414", True, "also require the RFC 8414 metadata document", commented=True)
    policy.comment("An account for the checks that need a login (authorization code, refresh, revocation):")
    policy.key("test_user", {"username": "${SSO_TEST_USER}", "password": "${SSO_TEST_PASSWORD}"}, commented=True)


def _host(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        host = (urllib.parse.urlsplit(value).hostname or "").lower()
    except ValueError:
        return None
    return host if _HOST.match(host) else None


def _clients(policy: Policy, metadata: dict[str, Any]) -> None:
    grants = set(_values(metadata, "grant_types_supported") or ["authorization_code", "implicit"])
    scopes = [s for s in (_values(metadata, "scopes_supported") or []) if s != "openid"]
    api_scopes = [s for s in scopes if s not in ("offline_access", "profile", "email", "address", "phone")][:3]
    policy.blank()
    policy.comment("---- clients: how each application is registered ------------------------------------------------",
                   "Discovery does not list clients: uncomment and adapt the examples that match yours. Every",
                   "client check runs once per [clients.NAME]; secrets are ${VARIABLE} references.")

    def note(grant: str) -> str:
        return "" if grant in grants else f" (the provider does not advertise {grant})"

    policy.blank()
    policy.comment("A machine client (client credentials): the token, scope and lifetime checks use its tokens"
                   + note("client_credentials") + ".")
    example = [("provider", PROVIDER), ("client_id", "ci-deployer"), ("client_secret", "${DEPLOYER_CLIENT_SECRET}"),
               ("type", "confidential"), ("application", "service"), ("grant_types", ["client_credentials"]),
               ("scopes", api_scopes or ["read"]), ("access_token_max", "15m")]
    _example(policy, "deployer", example, {"scopes": "from scopes_supported: keep what the client needs"}
             if api_scopes else {})

    policy.blank()
    policy.comment("A native app (RFC 8252): a CLI or desktop app that signs users in through the browser, with PKCE"
                   + note("authorization_code") + ".")
    _example(policy, "cli", [("provider", PROVIDER), ("client_id", "my-cli"), ("type", "public"),
                             ("application", "native"), ("grant_types", ["authorization_code", "refresh_token"]),
                             ("redirect_uris", ["http://127.0.0.1/callback"]), ("scopes", ["openid", "profile"]),
                             ("pkce", "S256"), ("refresh_token_rotation", True)],
             {"redirect_uris": "any loopback port is accepted (RFC 8252 §7.3)"})

    policy.blank()
    policy.comment("A web app (confidential, authorization code)" + note("authorization_code") + ".")
    _example(policy, "portal", [("provider", PROVIDER), ("client_id", "web-portal"),
                                ("client_secret", "${PORTAL_CLIENT_SECRET}"), ("type", "confidential"),
                                ("application", "web"), ("grant_types", ["authorization_code", "refresh_token"]),
                                ("redirect_uris", ["https://app.example.com/auth/callback"]),
                                ("scopes", ["openid", "profile", "email"]), ("pkce", "S256")], {})


def _example(policy: Policy, name: str, keys: list[tuple[str, Any]], notes: dict[str, str]) -> None:
    policy.lines.append(f"# [clients.{name}]")
    for key, value in keys:
        policy.key(key, value, notes.get(key, ""), commented=True)
