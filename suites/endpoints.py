"""Every endpoint the discovery document advertises answers.

A client configures itself from the metadata (RFC 9700 §2.6, FAPI 2.0): an advertised endpoint that is not
there (404), fails (5xx) or does not listen breaks every client that uses it, and a registration or revocation
endpoint advertised by mistake invites clients to rely on it. One harmless request per endpoint: a GET, or a
POST without credentials or body members to endpoints that take only POST (a POST also follows a GET that found
nothing, for endpoints this release does not know). Only the issuer's host and ``allowed_hosts`` are asked, over
https (or plain http where the policy tolerates a loopback issuer); the rest is left to
``discovery.endpoints-on-issuer-host`` and ``tls.no-plain-http``. The JWK Set is read from the run's cached
fetch.
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError, TransportError
from pytest_authcheck.observations import NotEvaluated, Presence, observe_endpoint
from pytest_authcheck.observations.endpoint import EndpointAnswer, no_answer

# Endpoints defined to take POST only (RFC 6749 §3.2, RFC 7009 §2, RFC 7662 §2, RFC 9126 §2, RFC 8628 §3.1,
# OIDC CIBA §7, RFC 7591 §3).
POST_ONLY = frozenset({"token_endpoint", "revocation_endpoint", "introspection_endpoint",
                       "pushed_authorization_request_endpoint", "device_authorization_endpoint",
                       "backchannel_authentication_endpoint", "registration_endpoint"})
OTHER_MEMBERS = ("jwks_uri", "check_session_iframe")
MAX_ENDPOINTS = 40  # a hostile document cannot make the run send unbounded requests
TIME_BUDGET = 60.0  # nor keep it waiting on slow answers: what is left then is not asked


def advertised(metadata: dict) -> dict[str, str]:
    """Endpoint members of the metadata (``*_endpoint``, jwks_uri, check_session_iframe) with a string URL."""
    found = {k: v for k, v in metadata.items() if isinstance(k, str) and (k.endswith("_endpoint") or k in OTHER_MEMBERS)
             and isinstance(v, str) and v and len(v) < 2048}
    return dict(sorted(found.items())[:MAX_ENDPOINTS])


def _send(http, record, method: str, url: str, answer_of=None) -> EndpointAnswer:
    try:
        response = answer_of() if answer_of is not None else http.request(method, url, data={} if method == "POST" else None)
    except TransportError as exc:
        record.attach(getattr(exc, "exchange", None))
        return no_answer(method, str(exc))
    record.attach(response.exchange)
    return observe_endpoint(response, method)


@check("discovery.endpoints-answer", title="Every advertised endpoint answers",
       sends="One request per advertised endpoint on the issuer's host or allowed_hosts: a GET, or a POST without credentials to endpoints"
             " that take only POST.",
       severity="medium", area="discovery", refs=["OIDC Discovery 1.0 §3", "RFC 8414 §2", "RFC 9700 §2.6"],
       remediation="Remove endpoints the provider does not serve from its metadata (or serve them): an endpoint that "
                   "answers 404, a server error or nothing at all breaks every client that configures itself from the "
                   "discovery document.")
def test_endpoints_answer(oidc_provider, oidc_metadata, authcheck_run, authcheck_userinfo_probes, authcheck_record):
    http = authcheck_run.http
    observed: dict[str, EndpointAnswer] = {}
    left: dict[str, str] = {}
    sent: dict[tuple[str, str], EndpointAnswer] = {}
    deadline = time.monotonic() + TIME_BUDGET
    for name, url in advertised(oidc_metadata).items():
        if time.monotonic() > deadline:
            left[name] = f"{url[:200]}: not asked, the check's {TIME_BUDGET:g}s were spent on slow answers"
            continue
        parts = urllib.parse.urlsplit(url)
        if not oidc_provider.trusts(url):
            left[name] = f"{url[:200]}: not asked, the policy does not allow its host (see discovery.endpoints-on-issuer-host)"
            continue
        if parts.scheme != "https" and not oidc_provider.http_tolerated(url):
            left[name] = f"{url[:200]}: not asked, it is not https (see tls.no-plain-http)"
            continue
        if name == "jwks_uri":
            observed[name] = _jwks(oidc_provider, authcheck_record)
            continue
        method = "POST" if name in POST_ONLY else "GET"
        if (method, url) not in sent:
            # userinfo.bearer-challenge sends the same GET without a token: one request for both
            answer_of = (lambda: authcheck_userinfo_probes.bare_answer(oidc_provider.name)) \
                if name == "userinfo_endpoint" and oidc_provider.metadata().get(name) == url else None
            sent[(method, url)] = _send(http, authcheck_record, method, url, answer_of)
            if method == "GET" and sent[(method, url)].kind is Presence.MISSING and (("POST", url) not in sent):
                # nothing for a GET: it may take POST only (an endpoint this release does not know)
                sent[("POST", url)] = _send(http, authcheck_record, "POST", url)
        answer = sent[(method, url)]
        if method == "GET" and answer.kind is Presence.MISSING:
            answer = sent[("POST", url)]
        observed[name] = answer
    if left:
        authcheck_record.fact("endpoints not asked", left)
    if not observed:
        pytest.skip(f"{oidc_provider.target} advertises no endpoint this check may ask"
                    + (f" ({len(left)} left to other checks)" if left else ""))
    broken = {name: answer for name, answer in observed.items()
              if answer.decisive and answer.kind is not Presence.ANSWERS}
    throttled = {name: answer for name, answer in observed.items() if not answer.decisive}
    if throttled and not broken:
        raise NotEvaluated("throttled: " + "; ".join(f"{name}: {a.summary}" for name, a in throttled.items()))
    decided = {name: answer for name, answer in observed.items() if answer.decisive}
    authcheck_record.expect({name: Presence.ANSWERS.value for name in decided}, decided)
    if broken:
        authcheck_record.fail(f"{len(broken)} advertised endpoint(s) of {oidc_provider.target} do not answer: "
                              + "; ".join(f"{name}={oidc_metadata[name][:200]} ({answer.describe()})"
                                          for name, answer in broken.items()))


def _jwks(provider, record) -> EndpointAnswer:
    """The run's JWK Set fetch, judged like the others (no second request)."""
    try:
        document = provider.jwks()
    except EvaluationError as exc:
        return no_answer("GET", str(exc))
    record.attach(document.exchange)
    if document.response is None:
        return no_answer("GET", str(document.error) if document.error else "no answer")
    return observe_endpoint(document.response, "GET")

