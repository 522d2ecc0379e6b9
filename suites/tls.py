"""TLS: the provider's certificate and protocol versions, on every host it sends clients to (RFC 9325, RFC 8996).

The handshake checks judge every provider, whatever its kind (``any_provider``); ``tls.no-plain-http`` reads an
OIDC provider's metadata, and a Jamf Pro URL that is not https never gets past the policy loader.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from datetime import UTC, datetime

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import AtLeast, OneOf, Quantity, Satisfies
from pytest_authcheck._net import is_loopback
from pytest_authcheck.observations import NotEvaluated

ENDPOINTS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
             "registration_endpoint", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
             "device_authorization_endpoint", "pushed_authorization_request_endpoint")


@check("tls.chain-trusted", title="Certificate chain verifies against the trust store (and ca_bundle)",
       sends="A TLS handshake with every https origin the provider sends clients to: an OIDC provider's on the issuer's host "
             "or allowed_hosts, a Jamf Pro server's URL.",
       severity="critical", area="tls", refs=["RFC 6749 §10.9", "RFC 9325 §3", "RFC 5280 §6"],
       remediation="Serve a certificate issued by a CA the clients trust, with the full intermediate chain; for a "
                   "private CA, give its certificate in settings.ca_bundle (verification is never turned off).")
def test_chain_trusted(provider_tls_endpoints, authcheck_record):
    # Verified means the whole chain: to a trusted root and valid now (an expired chain is not trusted;
    # tls.cert-lifetime says more about the dates). The host name is tls.hostname's.
    observed = {f"{t.host}:{t.port}": "trusted" if t.verified else (t.verify_error or "not verified")
                for t in provider_tls_endpoints}
    authcheck_record.expect({origin: "trusted" for origin in observed}, observed)
    failures = [f"{origin}: {outcome}" for origin, outcome in observed.items() if outcome != "trusted"]
    if failures:
        authcheck_record.fail("certificate chain not trusted: " + "; ".join(failures))


@check("tls.hostname", title="Certificate names the host it is served for",
       sends="Nothing of its own: reads the certificate of the handshake with the provider's host (the issuer's, the Jamf Pro URL's).",
       severity="critical", area="tls", refs=["RFC 6125 §6", "RFC 9525 §6", "RFC 2818 §3.1"],
       remediation="Issue the certificate with a subjectAltName for every host name (or IP address) clients use.")
def test_hostname_matches(provider_tls, authcheck_record):
    certificate = provider_tls.certificate
    if certificate is None:
        raise EvaluationError(f"{provider_tls.host}:{provider_tls.port} presented no certificate we could read")
    authcheck_record.expect(
        Satisfies(lambda sans: dataclasses.replace(certificate, sans=sans).matches_host(provider_tls.host),
                  f"a name matching {provider_tls.host}"),
        certificate.sans)
    if not certificate.matches_host(provider_tls.host):
        names = ", ".join(certificate.sans) or certificate.subject
        authcheck_record.fail(f"the certificate of {provider_tls.host}:{provider_tls.port} is for {names}, not {provider_tls.host}")


@check("tls.cert-lifetime", title="Certificate is valid now and for at least cert_min_days more days",
       sends="Nothing of its own: reads the certificate of the handshake with the provider's host (the issuer's, the Jamf Pro URL's).",
       severity="high", area="tls", refs=["RFC 5280 §4.1.2.5", "RFC 9325 §3"],
       remediation="Renew the certificate before it expires (automate renewal); the policy's cert_min_days gives "
                   "the margin the team wants.")
def test_certificate_lifetime(any_provider, provider_tls, authcheck_record):
    certificate = provider_tls.certificate
    if certificate is None:
        raise EvaluationError(f"{provider_tls.host}:{provider_tls.port} presented no certificate we could read")
    minimum = any_provider.cert_min_days
    started = datetime.fromisoformat(certificate.not_before) <= datetime.now(UTC)
    authcheck_record.expect(
        {"valid from": "before now", "days left": AtLeast(minimum, f">= {minimum} days left")},
        {"valid from": "before now" if started else f"{certificate.not_before} (not yet valid)",
         "days left": Quantity(certificate.days_left,
                               f"{certificate.days_left:.1f} days left (not after {certificate.not_after})")})
    if certificate.days_left < 0:
        authcheck_record.fail(f"the certificate of {provider_tls.host}:{provider_tls.port} expired {-certificate.days_left:.1f} days ago "
                              f"(not after {certificate.not_after})")
    if certificate.days_left < minimum:
        authcheck_record.fail(f"the certificate of {provider_tls.host}:{provider_tls.port} expires in {certificate.days_left:.1f} days "
                              f"({certificate.not_after}); the policy wants at least {minimum}")
    if not started or (provider_tls.verify_error and "not yet valid" in provider_tls.verify_error):
        authcheck_record.fail(f"the certificate is not valid yet (not before {certificate.not_before})")


@check("tls.protocol-version", title="TLS 1.2 or newer is negotiated, TLS 1.0 and 1.1 are refused",
       sends="Besides the ordinary handshake, handshakes with the provider's host (the issuer's, the Jamf Pro URL's) capped at "
             "TLS 1.0 and at TLS 1.1.",
       severity="high", area="tls", refs=["RFC 8996 §2-3", "RFC 9325 §3.1.1"],
       remediation="Disable TLS 1.0 and 1.1 (and SSL) on the server and load balancer; offer TLS 1.2 and 1.3 only.")
def test_protocol_version(provider_tls, authcheck_record):
    authcheck_record.expect(
        {"negotiated": OneOf(("TLSv1.2", "TLSv1.3"), "TLSv1.2 or TLSv1.3"), **{v: "refused" for v in provider_tls.legacy}},
        {"negotiated": provider_tls.version, **provider_tls.legacy})
    if provider_tls.version not in ("TLSv1.2", "TLSv1.3"):
        authcheck_record.fail(f"{provider_tls.host}:{provider_tls.port} negotiated {provider_tls.version}")
    accepted = [v for v, outcome in provider_tls.legacy.items() if outcome == "accepted"]
    if accepted:
        authcheck_record.fail(f"{provider_tls.host}:{provider_tls.port} still accepts {' and '.join(accepted)}")
    untested = {v: outcome for v, outcome in provider_tls.legacy.items() if outcome != "refused"}
    if untested or not provider_tls.legacy:
        # Refusal was not seen: whether the server accepts the old version is not known.
        raise NotEvaluated(f"{provider_tls.host}:{provider_tls.port} negotiated {provider_tls.version}, but "
                           + ("; ".join(f"{v} {outcome}" for v, outcome in untested.items())
                              or "no legacy version was offered")
                           + ": run from a machine whose OpenSSL can offer TLS 1.0 and 1.1")


@check("tls.no-plain-http", title="The issuer and every endpoint use https",
       sends="Nothing: reads the issuer and endpoint URLs.",
       severity="high", area="tls", refs=["RFC 6749 §3.1", "RFC 6749 §3.2", "RFC 8414 §2", "OIDC Discovery 1.0 §3", "RFC 9700 §2.6"],
       remediation="Serve every endpoint over https; plain http is tolerated only for loopback addresses and only "
                   "when the provider sets allow_http_loopback.")
def test_no_plain_http(oidc_provider, oidc_metadata, authcheck_record):
    allow_loopback = bool(oidc_provider.config.get("allow_http_loopback", False))
    named = {"issuer (policy)": oidc_provider.issuer}
    named.update({m: oidc_metadata[m] for m in ENDPOINTS if isinstance(oidc_metadata.get(m), str)})
    plain = {}
    schemes = {}
    for member, url in named.items():
        parts = urllib.parse.urlsplit(url)
        schemes[member] = (parts.scheme or "no scheme") + (" on loopback" if parts.scheme == "http" and
                                                          is_loopback(parts.hostname or "") else "")
        if parts.scheme != "https" and not oidc_provider.http_tolerated(url):
            plain[member] = url
    allowed = ("https", "http on loopback") if allow_loopback else ("https",)
    authcheck_record.fact("URLs", named)
    authcheck_record.expect(
        {member: OneOf(allowed, "https (http on loopback tolerated)" if allow_loopback else "https") for member in schemes},
        schemes)
    if plain:
        authcheck_record.fail("not https: " + ", ".join(f"{k} = {v}" for k, v in plain.items()))
