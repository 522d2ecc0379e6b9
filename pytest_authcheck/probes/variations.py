"""The probes the client checks send, defined once: the checks read them, and the prefetch sends them ahead.

Each is a value: the same variation (or token request) is one request per client per run, whoever asks first.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from .._authz import random_token
from .._clients import PolicyClient
from .._net import is_loopback
from .authorization import Variation

# Made once per run: the same unknown client_id and never-issued code in every probe, so equal requests stay equal.
UNKNOWN_SUFFIX = "-authcheck-unknown-" + random_token(6)
BOGUS_CODE = "authcheck-not-a-code-" + random_token(8)

# ---- authorization requests -----------------------------------------------------------------------------------
# An error redirect any provider must give before a login (errors.rfc6749-format, authz-response.iss read it).
UNKNOWN_RESPONSE_TYPE = Variation.of("an unknown response_type", response_type="authcheck_unknown")
# Silent authentication without a session (prompt-none.login-required, authz-response.iss read it).
PROMPT_NONE = Variation.of("prompt=none", prompt="none")
FRONT_CHANNEL_RESPONSE_TYPES = ("token", "id_token token", "code id_token", "code token", "code id_token token", "id_token")
UNREGISTERED_URI = "https://authcheck-unregistered.invalid/callback"
UNREGISTERED = Variation.of("an unregistered redirect URI", redirect_uri=UNREGISTERED_URI)
LOOPBACK_PROBE_PORT = 53682
# One made-up verifier per run: as the challenge of a plain request, equal probes stay equal.
PLAIN_PKCE = Variation.of("code_challenge_method=plain", code_challenge=random_token(32), code_challenge_method="plain")
WITHOUT_PKCE = Variation.of("no code_challenge", code_challenge=None, code_challenge_method=None)
WITHOUT_SCOPE = Variation.of("no scope", scope=None)
# A state that carries parameters of its own: echoed unencoded, they become parameters of the redirect.
INJECTED_STATE = "authcheck&code=authcheck-injected-code&iss=https://authcheck-injected.invalid"
INJECTED = {"code": "authcheck-injected-code", "iss": "https://authcheck-injected.invalid"}
# an error redirect needs no login; where the provider judges after the login, a success redirect signed in
INJECTION_VARIATIONS = (Variation.of("state with parameters, unknown response_type", state=INJECTED_STATE,
                                     response_type="authcheck_unknown"),
                        Variation.of("state with parameters", state=INJECTED_STATE))


def response_type_variations(client: PolicyClient) -> list[Variation]:
    """The implicit and hybrid response types the client does not declare, and a plain OAuth implicit request."""
    variations = [Variation.of(f"response_type={t}", response_type=t) for t in FRONT_CHANNEL_RESPONSE_TYPES
                  if t not in client.response_types]
    if "token" not in client.response_types and "openid" in client.scopes:
        # no openid, so no id_token rules apply to it: what a plain OAuth client would send
        plain_scope = " ".join(s for s in client.scopes if s != "openid") or None
        variations.append(Variation.of("response_type=token without openid", response_type="token", scope=plain_scope))
    return variations


def unknown_client_variation(client: PolicyClient) -> Variation:
    """The client's ordinary request under a client_id nobody registered."""
    return Variation.of("an unknown client_id", client_id=client.client_id + UNKNOWN_SUFFIX)


def native_loopback(client: PolicyClient, uri: str) -> bool:
    """A native client's http loopback URI (RFC 8252 §7.3: any port must be accepted)."""
    parts = urllib.parse.urlsplit(uri)
    return client.native and parts.scheme == "http" and is_loopback(parts.hostname or "")


def moved_port(uri: str) -> Variation:
    """The loopback redirect URI on another port."""
    parts = urllib.parse.urlsplit(uri)
    port = LOOPBACK_PROBE_PORT if parts.port != LOOPBACK_PROBE_PORT else LOOPBACK_PROBE_PORT + 1
    return Variation.of(f"port {port}", redirect_uri=urllib.parse.urlunsplit(
        (parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query, "")))


def near_miss(name: str, uri: str) -> Variation:
    """A near miss of a registered redirect URI (see ``variants``)."""
    return Variation.of(name, redirect_uri=uri)


def variants(uri: str, *, native_loopback: bool) -> dict[str, str]:
    """Near misses of a registered URI that exact matching (RFC 9700 §2.1, §4.1.3) must refuse."""
    parts = urllib.parse.urlsplit(uri)
    host, port = parts.hostname or "", parts.port
    path = parts.path or "/"
    netloc = parts.netloc

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


def exact_match_variations(client: PolicyClient) -> list[Variation]:
    """Every near miss of every registered redirect URI that is not itself registered."""
    return [near_miss(name, variant) for uri in client.redirect_uris
            for name, variant in variants(uri, native_loopback=native_loopback(client, uri)).items()
            if variant not in client.redirect_uris]


# ---- token requests -------------------------------------------------------------------------------------------
UNKNOWN_GRANT = "urn:authcheck:not-a-grant"
# Token-endpoint grants probed when the policy does not declare them, with a harmless request each.
UNDECLARED_GRANT_PROBES: dict[str, dict[str, str]] = {
    "client_credentials": {},
    "password": {"username": "authcheck-nonexistent-user", "password": "authcheck-not-a-password"},
    "refresh_token": {"refresh_token": "authcheck-not-a-refresh-token"},
    "authorization_code": {"code": BOGUS_CODE, "redirect_uri": "https://authcheck.invalid/cb"},
    "urn:ietf:params:oauth:grant-type:device_code": {"device_code": "authcheck-not-a-device-code"},
    "urn:ietf:params:oauth:grant-type:token-exchange": {
        "subject_token": "authcheck-not-a-token", "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
    "urn:ietf:params:oauth:grant-type:jwt-bearer": {"assertion": "authcheck.not.a-jwt"},
}
MADE_UP_SCOPE = "authcheck-undeclared-scope"
STANDARD_OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
MAX_SCOPE_CANDIDATES = 3
MAX_SCOPE_LENGTH = 200


def allowed_scopes(client: PolicyClient) -> set[str]:
    """The policy's scopes, plus offline_access for a client that declares refresh_token (OIDC Core §11)."""
    return set(client.scopes) | ({"offline_access"} if client.declares("refresh_token") else set())


def scope_candidates(client: PolicyClient, metadata: dict[str, Any]) -> list[str]:
    """Scopes the provider knows but the policy does not give this client, and one nobody knows."""
    supported = metadata.get("scopes_supported")
    # scope tokens as RFC 6749 §3.3 defines them, of a plausible length (a hostile list is not sent on)
    known = [s for s in supported if isinstance(s, str) and 0 < len(s) <= MAX_SCOPE_LENGTH
             and all(c == "\x21" or "\x23" <= c <= "\x5b" or "\x5d" <= c <= "\x7e" for c in s)] \
        if isinstance(supported, list) else []
    extra = [s for s in known if s not in allowed_scopes(client) and s not in STANDARD_OIDC_SCOPES]
    return [*extra[:MAX_SCOPE_CANDIDATES], MADE_UP_SCOPE]


def scope_variation(client: PolicyClient, scope: str) -> Variation:
    """The authorization request for the client's scopes plus ``scope`` (a login client's out-of-policy scope)."""
    return Variation.of(f"scope +{scope}", scope=" ".join([*client.scopes, scope]))


def scope_request(client: PolicyClient, scope: str) -> tuple[str, dict[str, str]]:
    """The client-credentials request for the client's scopes plus ``scope``: (probe name, form)."""
    requested = " ".join([*(s for s in client.scopes if s != "openid"), scope])
    return f"scope {requested}", {"grant_type": "client_credentials", "scope": requested}
