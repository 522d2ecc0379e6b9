"""Redirect URIs: registered ones work, everything else is refused without being redirected to.

Seed symptom: "Redirect URI Mismatch: OAuth callback fails with redirect error" (registered URI differs,
port changed during callback, http vs https). Every probe here is one authorization request whose answer
is read, never followed: a registered or probed redirect URI is never requested.
"""

from __future__ import annotations

import urllib.parse

import pytest

from pytest_authcheck import check
from pytest_authcheck._authz import points_at
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._net import is_loopback

UNREGISTERED_URI = "https://authcheck-unregistered.invalid/callback"
LOOPBACK_PROBE_PORT = 53682


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


def native_loopback(client, uri: str) -> bool:
    """A native client's http loopback URI (RFC 8252 §7.3: any port must be accepted)."""
    parts = urllib.parse.urlsplit(uri)
    return client.native and parts.scheme == "http" and is_loopback(parts.hostname or "")


@check("redirect-uri.registered-accepted", title="Every redirect URI in the policy is accepted",
       severity="high", area="clients", refs=["RFC 6749 §3.1.2", "RFC 6749 §3.1.2.3", "OIDC Core 1.0 §3.1.2.1"],
       remediation="Register each redirect URI exactly as the policy lists it (scheme, host, port, path), e.g. "
                   "http://127.0.0.1/callback for a CLI and https://app.example.com/auth/callback for a web app; a "
                   "mismatch fails every login with a redirect URI error.")
def test_registered_accepted(active_client, authz_probe, authcheck_record):
    if not active_client.redirect_uris:
        pytest.skip(f"{active_client.target} declares no redirect_uris")
    observed = {}
    refused = []
    for uri in active_client.redirect_uris:
        outcome = authz_probe(redirect_uri=uri)
        if outcome.error == "invalid_client":
            raise EvaluationError(f"the provider does not know {active_client.label} (invalid_client); see "
                                  "client-auth.public-client-known")
        observed[uri] = outcome.describe()
        if outcome.kind == "error page":
            refused.append(f"{uri} ({outcome.describe()})")
    authcheck_record.expect({uri: "proceeds to login" for uri in active_client.redirect_uris}, observed)
    if refused:
        authcheck_record.fail(f"redirect URI mismatch: the provider refuses registered URI(s) of {active_client.label}: "
                              + ", ".join(refused))


@check("redirect-uri.unregistered-refused", title="An unregistered redirect URI is refused, never redirected to",
       severity="critical", area="clients", refs=["RFC 6749 §3.1.2.4", "RFC 6749 §4.1.2.1", "RFC 9700 §4.11.2",
                                                   "OIDC Core 1.0 §3.1.2.2"],
       remediation="Validate redirect_uri against the registered URIs before anything else and show an error page "
                   "on the provider's own origin; never redirect (not even an error) to an unregistered URI.")
def test_unregistered_refused(active_client, authz_baseline, authz_probe, authcheck_record):
    outcome = authz_probe(redirect_uri=UNREGISTERED_URI)
    authcheck_record.expect("error page on the provider", outcome.describe())
    if points_at(outcome.location, UNREGISTERED_URI):
        authcheck_record.fail(f"the provider redirects to the unregistered {UNREGISTERED_URI} for {active_client.label} "
                              f"({outcome.describe()}): an open redirector that leaks codes and errors")
    if outcome.kind == "proceeds to login":
        authcheck_record.fail(f"the provider accepts the unregistered {UNREGISTERED_URI} for {active_client.label} "
                              "and proceeds to login: it may validate only after the login, or not at all")


@check("redirect-uri.exact-match", title="Near misses of a registered redirect URI are refused",
       severity="high", area="clients", refs=["RFC 6749 §3.1.2.3", "RFC 9700 §2.1", "RFC 9700 §4.1.3", "RFC 8252 §8.4"],
       remediation="Compare redirect URIs by exact string match (RFC 9700 §2.1); no prefix, wildcard, path or "
                   "subdomain matching. The only exception is the port of a native app's loopback URI (RFC 8252 §7.3).")
def test_exact_match(active_client, authz_baseline, authz_probe, authcheck_record):
    observed: dict[str, str] = {}
    accepted = []
    for uri in active_client.redirect_uris:
        for name, variant in variants(uri, native_loopback=native_loopback(active_client, uri)).items():
            if variant in active_client.redirect_uris:
                continue
            outcome = authz_probe(redirect_uri=variant)
            observed[f"{name}: {variant}"] = outcome.describe()
            if not outcome.refused:
                accepted.append(f"{name} ({variant})")
    authcheck_record.expect("every variant refused", observed)
    if accepted:
        authcheck_record.fail(f"{len(accepted)} variant(s) of the registered redirect URI(s) of {active_client.label} "
                              "are accepted: " + ", ".join(accepted))


@check("redirect-uri.loopback-any-port", title="A native app's loopback redirect URI is accepted on any port",
       severity="medium", area="clients", refs=["RFC 8252 §7.3", "RFC 8252 §8.3"],
       remediation="Accept any port for loopback redirect URIs of native clients (RFC 8252 §7.3): the CLI listens on "
                   "a port the OS picks, so an exact port match fails its login ('port changed during callback'). "
                   "Register http://127.0.0.1/callback without a port.")
def test_loopback_any_port(active_client, authz_baseline, authz_probe, authcheck_record):
    loopbacks = [u for u in active_client.redirect_uris if native_loopback(active_client, u)]
    if not loopbacks:
        pytest.skip(f"{active_client.target} is not a native app with an http loopback redirect URI")
    observed = {}
    refused = []
    for uri in loopbacks:
        parts = urllib.parse.urlsplit(uri)
        port = LOOPBACK_PROBE_PORT if parts.port != LOOPBACK_PROBE_PORT else LOOPBACK_PROBE_PORT + 1
        moved = urllib.parse.urlunsplit((parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query, ""))
        outcome = authz_probe(redirect_uri=moved)
        observed[moved] = outcome.describe()
        if outcome.refused:
            refused.append(f"{moved} ({outcome.describe()})")
    authcheck_record.expect({u: "proceeds to login" for u in observed}, observed)
    if refused:
        authcheck_record.fail(f"port changed during callback: the provider refuses {active_client.label}'s loopback "
                              "redirect URI on another port: " + ", ".join(refused))
