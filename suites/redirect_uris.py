"""Redirect URIs: registered ones work, everything else is refused without being redirected to.

Seed symptom: "Redirect URI Mismatch: OAuth callback fails with redirect error" (registered URI differs,
port changed during callback, http vs https). Every probe here is one authorization request whose answer
is read, never followed: a registered or probed redirect URI is never requested.
"""

from __future__ import annotations

import urllib.parse

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import CODE_FLOW, REDIRECTS, applies_when
from pytest_authcheck.observations import NotEvaluated
from pytest_authcheck.observations.authorization import callback_parameters, points_at
from pytest_authcheck.probes import ORDINARY, Variation
from pytest_authcheck.probes.authorization import GOES_ON
from pytest_authcheck.probes.variations import (
    INJECTED,
    INJECTED_STATE,
    INJECTION_VARIATIONS,
    UNREGISTERED,
    UNREGISTERED_URI,
    moved_port,
    native_loopback,
    near_miss,
    variants,
)

NATIVE_LOOPBACK = applies_when(lambda c: any(native_loopback(c, u) for u in c.redirect_uris),
                               "{target} is not a native app with an http loopback redirect URI")


def _judge(probes, client, variation):
    """Accepted or refused (first before a login, then calibrated by the unregistered URI, then signed in); a
    refusal counts only while the client's ordinary request goes on (accepted, or to the login)."""
    first = probes.pre_login(client, variation)
    if first.refused and probes.control(client).kind in GOES_ON:
        return first
    return probes.decide(client, variation, calibration=UNREGISTERED)


@check("redirect-uri.registered-accepted", title="Every redirect URI in the policy is accepted",
       sends="One authorization request per redirect URI the policy lists; answers are read, never followed.",
       severity="high", area="clients", applies=REDIRECTS, refs=["RFC 6749 §3.1.2", "RFC 6749 §3.1.2.3", "OIDC Core 1.0 §3.1.2.1"],
       remediation="Register each redirect URI exactly as the policy lists it (scheme, host, port, path), e.g. "
                   "http://127.0.0.1/callback for a CLI and https://app.example.com/auth/callback for a web app; a "
                   "mismatch fails every login with a redirect URI error.")
def test_registered_accepted(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    observed: dict[str, str] = {}
    undecided: list[str] = []
    control = authcheck_authz_probes.control(active_client)
    for uri in active_client.redirect_uris:
        # the first registered URI is what the ordinary request sends: the same request, sent once
        variation = ORDINARY if uri == active_client.redirect_uris[0] else Variation.of(f"redirect_uri={uri}",
                                                                                       redirect_uri=uri)
        # the first registered URI is the ordinary request itself: its refusal is the finding, not a broken control
        answer = control if uri == active_client.redirect_uris[0] and control.refused else \
            _judge(authcheck_authz_probes, active_client, variation)
        authcheck_record.attach(*answer.exchanges)
        if answer.refused and answer.error == "invalid_client":
            raise NotEvaluated(f"the provider does not know {active_client.label} ({answer.summary}); see "
                               "client-auth.public-client-known")
        if answer.decisive:
            observed[uri] = answer.kind.value
            if answer.refused:
                authcheck_record.violation(f"{uri} ({answer.summary})")
        else:
            undecided.append(f"{uri}: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({uri: "accepted" for uri in observed}, observed)
    authcheck_record.conclude(f"redirect URI mismatch: the provider refuses registered URI(s) of {active_client.label}: ")


@check("redirect-uri.unregistered-refused", title="An unregistered redirect URI is refused, never redirected to",
       sends="An authorization request with redirect_uri https://authcheck-unregistered.invalid/callback; the answer is read, never "
             "followed.",
       severity="critical", area="clients", applies=CODE_FLOW, refs=["RFC 6749 §3.1.2.4", "RFC 6749 §4.1.2.1", "RFC 9700 §4.11.2",
                                                   "OIDC Core 1.0 §3.1.2.2"],
       remediation="Validate redirect_uri against the registered URIs before anything else and show an error page "
                   "on the provider's own origin; never redirect (not even an error) to an unregistered URI.")
def test_unregistered_refused(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    answer = authcheck_authz_probes.decide(active_client, UNREGISTERED)
    authcheck_record.attach(*answer.exchanges)
    if points_at(answer.location, UNREGISTERED_URI):
        authcheck_record.expect("refused on the provider's page", "redirected to it")
        authcheck_record.fail(f"the provider redirects to the unregistered {UNREGISTERED_URI} for {active_client.label} "
                              f"({answer.summary}): an open redirector that leaks codes and errors")
    if not answer.decisive:
        raise NotEvaluated(answer.why_not_evaluable())
    observed = "refused on the provider's page" if answer.refused else "accepted"
    authcheck_record.expect("refused on the provider's page", observed)
    if answer.accepted:
        authcheck_record.fail(f"the provider accepts the unregistered {UNREGISTERED_URI} for {active_client.label} "
                              f"({answer.summary})")


@check("redirect-uri.exact-match", title="Near misses of a registered redirect URI are refused",
       sends="Authorization requests with near misses of each registered redirect URI (suffix, extra path, '..', trailing slash, other "
             "scheme, host, subdomain, userinfo, query, fragment, port).",
       severity="high", area="clients", applies=CODE_FLOW, refs=["RFC 6749 §3.1.2.3", "RFC 9700 §2.1", "RFC 9700 §4.1.3", "RFC 8252 §8.4"],
       remediation="Compare redirect URIs by exact string match (RFC 9700 §2.1); no prefix, wildcard, path or "
                   "subdomain matching. The only exception is the port of a native app's loopback URI (RFC 8252 §7.3).")
def test_exact_match(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    observed: dict[str, str] = {}
    accepted: list[str] = []
    undecided: list[str] = []
    for uri in active_client.redirect_uris:
        for name, variant in variants(uri, native_loopback=native_loopback(active_client, uri)).items():
            if variant in active_client.redirect_uris:
                continue
            answer = _judge(authcheck_authz_probes, active_client, near_miss(name, variant))
            authcheck_record.attach(*answer.exchanges)
            key = f"{name}: {variant}"
            if answer.decisive:
                observed[key] = answer.kind.value
                if answer.accepted:
                    accepted.append(f"{name} ({variant})")
            else:
                undecided.append(f"{name}: {answer.why_not_evaluable()}")
    if accepted:
        authcheck_record.violation(f"{len(accepted)} variant(s) of the registered redirect URI(s) of {active_client.label} "
                                   "are accepted: " + ", ".join(accepted))
    elif undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({key: "refused" for key in observed}, observed)
    authcheck_record.conclude()


@check("redirect-uri.loopback-any-port", title="A native app's loopback redirect URI is accepted on any port",
       sends="An authorization request with each loopback redirect URI moved to another port.",
       severity="medium", area="clients", applies=NATIVE_LOOPBACK, refs=["RFC 8252 §7.3", "RFC 8252 §8.3"],
       remediation="Accept any port for loopback redirect URIs of native clients (RFC 8252 §7.3): the CLI listens on "
                   "a port the OS picks, so an exact port match fails its login ('port changed during callback'). "
                   "Register http://127.0.0.1/callback without a port.")
def test_loopback_any_port(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    loopbacks = [u for u in active_client.redirect_uris if native_loopback(active_client, u)]
    observed: dict[str, str] = {}
    undecided: list[str] = []
    for uri in loopbacks:
        variation = moved_port(uri)
        moved = variation.redirect_uri(uri)
        answer = _judge(authcheck_authz_probes, active_client, variation)
        authcheck_record.attach(*answer.exchanges)
        if answer.decisive:
            observed[moved] = answer.kind.value
            if answer.refused:
                authcheck_record.violation(f"{moved} ({answer.summary})")
        else:
            undecided.append(f"{moved}: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({u: "accepted" for u in observed}, observed)
    authcheck_record.conclude(f"port changed during callback: the provider refuses {active_client.label}'s loopback "
                              "redirect URI on another port: ")


@check("redirect.params-not-injectable", title="Values echoed into a redirect cannot inject parameters",
       sends="An authorization request whose state carries &code=...&iss=... (with an unknown response_type, for an error redirect; else "
             "signed in, for a success redirect).",
       severity="high", area="clients", applies=CODE_FLOW, refs=["RFC 6749 §4.1.2", "RFC 6749 §4.1.2.1", "RFC 3986 §3.4", "RFC 9207 §2"],
       remediation="Build redirects to the client with a URL encoder (every echoed value, state first, percent-"
                   "encoded): a state copied in raw lets whoever crafts the link add a code or an iss of their choice.")
def test_params_not_injectable(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    probes = authcheck_authz_probes
    # an error redirect needs no login; where the provider judges after the login, a success redirect signed in
    attempts = list(INJECTION_VARIATIONS)
    landing = None
    reasons = []
    for variation in attempts:
        answer = probes.pre_login(active_client, variation)
        if not (answer.location and answer.decisive):
            try:
                answer = probes.decide(active_client, variation)
            except pytest.skip.Exception as skipped:
                reasons.append(f"{variation.name}: {skipped.msg}")
                continue
        authcheck_record.attach(*answer.exchanges)
        if answer.location and points_at(answer.location, active_client.redirect_uris[0]):
            landing = answer
            break
        reasons.append(f"{variation.name}: {answer.summary}")
    if landing is None:
        raise NotEvaluated("no redirect back to the client was seen to look at: " + "; ".join(reasons))
    params = callback_parameters(landing.location or "")
    parts = urllib.parse.urlsplit(landing.location or "")
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + \
        urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True)
    injected = sorted({name for name, value in pairs if INJECTED.get(name) == value})
    observed = {"injected parameters": injected or "none", "state": "unchanged" if params.get("state") == INJECTED_STATE
                else "altered"}
    authcheck_record.fact("redirect", landing.summary)
    authcheck_record.expect({"injected parameters": "none", "state": "unchanged"}, observed)
    if injected:
        authcheck_record.fail(f"the provider copies state into its redirect to {active_client.label} unencoded: the "
                              f"state's {' and '.join(injected)} became parameters of the redirect ({landing.summary})")
    if observed["state"] != "unchanged":
        authcheck_record.fail(f"the state of {active_client.label}'s request does not come back unchanged "
                              f"({landing.summary})")
