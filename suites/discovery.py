"""Discovery and metadata: the provider describes itself as the policy says (OIDC Discovery 1.0, RFC 8414)."""

from __future__ import annotations

import json
import urllib.parse
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import pytest

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError

IMPLICIT_RESPONSE_WORD = "token"
DEFAULT_GRANT_TYPES = ["authorization_code", "implicit"]  # RFC 8414 §2, when grant_types_supported is omitted
DEFAULT_AUTH_METHODS = ["client_secret_basic"]  # RFC 8414 §2
FEATURE_MEMBERS = {
    "revocation": "revocation_endpoint", "introspection": "introspection_endpoint",
    "device_authorization": "device_authorization_endpoint", "par": "pushed_authorization_request_endpoint",
    "end_session": "end_session_endpoint", "registration": "registration_endpoint",
    "iss_parameter": "authorization_response_iss_parameter_supported",
}
ENDPOINT_MEMBERS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                    "registration_endpoint", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
                    "device_authorization_endpoint", "pushed_authorization_request_endpoint",
                    "backchannel_authentication_endpoint", "check_session_iframe")
SIGNING_ALG_MEMBERS = ("id_token_signing_alg_values_supported", "userinfo_signing_alg_values_supported",
                       "request_object_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported",
                       "introspection_endpoint_auth_signing_alg_values_supported",
                       "revocation_endpoint_auth_signing_alg_values_supported")


def string_list(metadata, member, record, default=None):
    """A metadata member that must be an array of strings; anything else fails the check that reads it."""
    value = metadata.get(member, default)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        record.fail(f"{member} is not an array of strings", expected="an array of strings",
                    observed=value if len(repr(value)) < 300 else repr(value)[:300] + "...")
    return value


@cache
def metadata_schema() -> dict[str, Any]:
    text = resources.files("pytest_authcheck").joinpath("schemas/oidc-discovery.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@check("discovery.reachable", title="Discovery document is served at the issuer's well-known URL",
       severity="high", area="discovery", refs=["OIDC Discovery 1.0 §4", "OIDC Discovery 1.0 §4.2", "RFC 8414 §3.2"],
       remediation="Serve the provider metadata as a JSON object with HTTP 200 and Content-Type application/json "
                   "at {issuer}/.well-known/openid-configuration, without redirecting.")
def test_discovery_reachable(oidc_provider, oidc_discovery, authcheck_record):
    response = oidc_discovery.response
    if response.throttled is not None:
        # A throttle says nothing about the document: the provider could not be evaluated, it did not fail.
        raise EvaluationError(f"{oidc_provider.discovery_url}: {response.throttled}")
    if response.status in (301, 302, 303, 307, 308):
        authcheck_record.fail(f"{oidc_provider.discovery_url} redirects (HTTP {response.status}) to "
                              f"{response.headers.get('location', '?')} instead of serving the document",
                              expected="HTTP 200", observed=f"HTTP {response.status}")
    if response.status != 200:
        authcheck_record.fail(f"{oidc_provider.discovery_url} answered HTTP {response.status}",
                              expected="HTTP 200", observed=f"HTTP {response.status}")
    if response.content_type != "application/json":
        authcheck_record.fail(f"the discovery document is served as {response.content_type or 'no content type'}",
                              expected="application/json", observed=response.content_type)
    try:
        body = response.json()
    except Exception:
        authcheck_record.fail("the discovery document is not valid JSON", expected="a JSON object", observed=response.text[:200])
    if not isinstance(body, dict):
        authcheck_record.fail("the discovery document is JSON but not an object", expected="a JSON object",
                              observed=type(body).__name__)


@check("discovery.schema", title="Metadata has every required member, each well typed",
       severity="medium", area="discovery", refs=["OIDC Discovery 1.0 §3", "RFC 8414 §2"],
       remediation="Publish every required member (issuer, authorization_endpoint, token_endpoint, jwks_uri, "
                   "response_types_supported, subject_types_supported, id_token_signing_alg_values_supported with RS256) "
                   "with the types the specifications give.")
def test_metadata_schema(oidc_metadata, authcheck_record):
    validator = jsonschema.Draft202012Validator(metadata_schema())
    problems = sorted(
        (f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message[:200]}" for e in validator.iter_errors(oidc_metadata)),
    )
    known = set(metadata_schema()["properties"])
    unknown = sorted(k for k in oidc_metadata if k not in known)
    if unknown:
        authcheck_record.fact("members not in OIDC Discovery or RFC 8414 (extensions, not an error)", unknown)
    if problems:
        authcheck_record.fail(f"{len(problems)} metadata problem(s): " + "; ".join(problems[:10]),
                              expected="metadata valid against OIDC Discovery 1.0 §3 / RFC 8414 §2",
                              observed=problems[:20])


@check("discovery.issuer-match", title="Metadata issuer is exactly the policy's issuer",
       severity="critical", area="discovery", refs=["OIDC Discovery 1.0 §4.3", "RFC 8414 §3.3", "OIDC Core 1.0 §3.1.3.7"],
       remediation="Configure the provider's issuer identifier to exactly the URL in the policy (scheme, host, port, "
                   "path, no trailing slash difference); clients reject tokens whose iss differs.")
def test_issuer_matches(oidc_provider, oidc_metadata, authcheck_record):
    observed = oidc_metadata.get("issuer")
    authcheck_record.expect(oidc_provider.issuer, observed)
    if not isinstance(observed, str):
        authcheck_record.fail(f"metadata issuer is {type(observed).__name__}, not the policy's issuer {oidc_provider.issuer!r}")
    if observed != oidc_provider.issuer:
        authcheck_record.fail(f"metadata issuer {observed!r} is not the policy's issuer {oidc_provider.issuer!r}")
    parts = urllib.parse.urlsplit(observed)
    if parts.scheme != "https" or parts.query or parts.fragment:
        authcheck_record.fail(f"issuer {observed!r} must be an https URL without query or fragment")


@check("discovery.endpoints-on-issuer-host", title="Endpoints are served from the issuer's host or allowed hosts",
       severity="medium", area="discovery", level="SHOULD", refs=["RFC 8414 §2", "OIDC Discovery 1.0 §7.1", "RFC 9700 §4.4"],
       remediation="Serve every endpoint from the issuer's host, or list the other hosts in the provider's allowed_hosts.")
def test_endpoints_on_issuer_host(oidc_provider, oidc_metadata, authcheck_record):
    allowed = {urllib.parse.urlsplit(oidc_provider.issuer).hostname, *oidc_provider.config.get("allowed_hosts", [])}
    elsewhere = {}
    for member in ENDPOINT_MEMBERS:
        value = oidc_metadata.get(member)
        if isinstance(value, str):
            host = urllib.parse.urlsplit(value).hostname
            if host not in allowed:
                elsewhere[member] = value
    if elsewhere:
        authcheck_record.fail(f"{len(elsewhere)} endpoint(s) on hosts the policy does not allow: "
                              + ", ".join(f"{k}={v}" for k, v in elsewhere.items()),
                              expected=sorted(h for h in allowed if h), observed=elsewhere)


@check("discovery.rfc8414", title="RFC 8414 metadata is served and agrees with the OIDC metadata",
       severity="low", area="discovery", level="SHOULD", refs=["RFC 8414 §3", "RFC 8414 §3.3"],
       remediation="Serve the same metadata at /.well-known/oauth-authorization-server (before the issuer's path), "
                   "or set rfc8414 = false for this provider in the policy.")
def test_rfc8414_metadata(oidc_provider, oidc_metadata, authcheck_record):
    if oidc_provider.config.get("rfc8414") is False:
        pytest.skip("the policy says this provider does not serve RFC 8414 metadata (rfc8414 = false)")
    document = oidc_provider.rfc8414()
    authcheck_record.attach(document.exchange)
    if document.response is None:
        authcheck_record.fail(f"{oidc_provider.rfc8414_url}: {document.error}")
    if document.response.status != 200:
        authcheck_record.fail(f"{oidc_provider.rfc8414_url} answered HTTP {document.response.status}",
                              expected="HTTP 200", observed=f"HTTP {document.response.status}")
    other = document.json_object()
    differences = {m: {"openid-configuration": oidc_metadata.get(m), "oauth-authorization-server": other.get(m)}
                   for m in ("issuer", *ENDPOINT_MEMBERS) if other.get(m) != oidc_metadata.get(m)}
    if differences:
        authcheck_record.fail("the RFC 8414 metadata differs from the OIDC metadata in " + ", ".join(differences),
                              expected="the same issuer and endpoints", observed=differences)


@check("discovery.pkce-s256", title="PKCE with S256 is advertised, plain is not",
       severity="high", area="discovery", refs=["RFC 7636 §4.2", "RFC 8414 §2", "RFC 9700 §2.1.1"],
       remediation="Enable PKCE with the S256 method and disable 'plain' (unless the policy sets allow_plain_pkce).")
def test_pkce_advertised(oidc_provider, oidc_metadata, authcheck_record):
    methods = string_list(oidc_metadata, "code_challenge_methods_supported", authcheck_record)
    authcheck_record.expect(["S256"], methods)
    if not isinstance(methods, list) or "S256" not in methods:
        authcheck_record.fail(f"code_challenge_methods_supported is {methods!r}; S256 is not advertised")
        return
    if "plain" in methods and not oidc_provider.config.get("allow_plain_pkce", False):
        authcheck_record.fail("code_challenge_methods_supported advertises 'plain', which the policy does not allow")


def _allowed_grants(oidc_provider, policy) -> list[str] | None:
    declared = oidc_provider.config.get("grant_types")
    if declared is not None:
        return list(declared)
    from_clients = {g for c in policy.clients_of(oidc_provider.name).values() for g in c.get("grant_types", [])}
    return sorted(from_clients) if from_clients else None


@check("discovery.grant-types", title="Advertised grant types are the ones the policy declares",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "RFC 9700 §2.4", "RFC 9700 §2.1.2"],
       remediation="Disable the grant types no declared client uses (above all 'password' and 'implicit'), or declare "
                   "them in the policy (provider grant_types or a client's grant_types).")
def test_grant_types(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    advertised = string_list(oidc_metadata, "grant_types_supported", authcheck_record, DEFAULT_GRANT_TYPES)
    allowed = _allowed_grants(oidc_provider, authcheck_policy)
    authcheck_record.expect(allowed if allowed is not None else "no password or implicit grant", advertised)
    if allowed is None:
        insecure = [g for g in advertised if g in ("password", "implicit")]
        if insecure:
            authcheck_record.fail(f"advertises deprecated grant type(s) {', '.join(insecure)}")
        return
    extra = [g for g in advertised if g not in allowed]
    missing = [g for g in allowed if g not in advertised]
    problems = []
    if extra:
        note = " (grant_types_supported is omitted, and RFC 8414 then means authorization_code and implicit)" \
            if "grant_types_supported" not in oidc_metadata else ""
        problems.append(f"advertises grant type(s) the policy does not declare: {', '.join(extra)}{note}")
    if missing:
        problems.append(f"does not advertise declared grant type(s): {', '.join(missing)}")
    if problems:
        authcheck_record.fail("; ".join(problems))


@check("discovery.response-types", title="No response type delivers tokens in the front channel unless declared",
       severity="high", area="discovery", refs=["RFC 9700 §2.1.2", "OIDC Discovery 1.0 §3", "OAuth 2.0 Multiple Response Types §5"],
       remediation="Disable the implicit and token-returning hybrid response types ('token', 'id_token token', "
                   "'code token', 'code id_token token'); use the authorization code flow with PKCE.")
def test_response_types(oidc_provider, oidc_metadata, authcheck_record):
    advertised = string_list(oidc_metadata, "response_types_supported", authcheck_record) or []
    declared = oidc_provider.config.get("response_types")
    if declared is not None:
        unexpected = [r for r in advertised if r not in declared]
        authcheck_record.expect(declared, advertised)
    else:
        unexpected = [r for r in advertised if IMPLICIT_RESPONSE_WORD in str(r).split()]
        authcheck_record.expect("response types without 'token'", advertised)
    if unexpected:
        authcheck_record.fail(f"advertises response type(s) {', '.join(map(repr, unexpected))} the policy does not allow")


@check("discovery.scopes", title="Scopes include openid and every scope the policy's clients use",
       severity="low", area="discovery", level="SHOULD", refs=["OIDC Discovery 1.0 §3", "RFC 6749 §3.3"],
       remediation="Advertise openid and the scopes the declared clients request in scopes_supported, or correct the "
                   "clients' scopes in the policy.")
def test_scopes(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    supported = string_list(oidc_metadata, "scopes_supported", authcheck_record)
    if supported is None:
        pytest.skip("the provider does not publish scopes_supported (RECOMMENDED, not required)")
    wanted = sorted({"openid"} | {s for c in authcheck_policy.clients_of(oidc_provider.name).values()
                                  for s in c.get("scopes", [])})
    authcheck_record.expect(wanted, supported)
    missing = [s for s in wanted if s not in supported]
    if missing:
        authcheck_record.fail(f"scopes_supported lacks {', '.join(missing)}")


@check("discovery.signing-algs", title="Signing algorithms exclude 'none' and stay within the policy",
       severity="high", area="discovery", refs=["OIDC Discovery 1.0 §3", "OIDC Core 1.0 §10.1", "RFC 8725 §3.1"],
       remediation="Remove 'none' from every *_signing_alg_values_supported list and limit the ID token algorithms to "
                   "the policy's signing_algs.")
def test_signing_algs(oidc_provider, oidc_metadata, authcheck_record):
    with_none = [m for m in SIGNING_ALG_MEMBERS if "none" in (string_list(oidc_metadata, m, authcheck_record) or [])]
    advertised = oidc_metadata.get("id_token_signing_alg_values_supported") or []
    allowed = oidc_provider.config.get("signing_algs")
    authcheck_record.expect(allowed or "no 'none'", advertised)
    problems = []
    if with_none:
        problems.append(f"'none' is advertised in {', '.join(with_none)}")
    if allowed is not None:
        extra = [a for a in advertised if a not in allowed and a != "none"]
        if extra:
            problems.append(f"ID tokens may be signed with {', '.join(extra)}, outside the policy's signing_algs")
    if problems:
        authcheck_record.fail("; ".join(problems))


@check("discovery.token-auth-methods", title="Token endpoint authentication methods match the policy",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "OIDC Discovery 1.0 §3", "RFC 9700 §2.5"],
       remediation="Disable the client authentication methods the policy does not declare; offer 'none' only when "
                   "public clients are declared.")
def test_token_auth_methods(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    advertised = string_list(oidc_metadata, "token_endpoint_auth_methods_supported", authcheck_record,
                             DEFAULT_AUTH_METHODS)
    declared = oidc_provider.config.get("token_endpoint_auth_methods")
    clients = authcheck_policy.clients_of(oidc_provider.name).values()
    has_public = any(c.get("type") == "public" for c in clients)
    authcheck_record.expect(declared or ("'none' allowed (public clients declared)" if has_public else "no 'none'"),
                            advertised)
    problems = []
    if declared is not None:
        extra = [m for m in advertised if m not in declared]
        if extra:
            problems.append(f"advertises method(s) the policy does not declare: {', '.join(extra)}")
    elif "none" in advertised and not has_public:
        problems.append("advertises 'none' (unauthenticated clients) but the policy declares no public client")
    if problems:
        authcheck_record.fail("; ".join(problems))


@check("discovery.features", title="Features the policy declares are advertised",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "RFC 7009 §2", "RFC 7662 §2", "RFC 8628 §4", "RFC 9126 §5", "RFC 9207 §3"],
       remediation="Enable the declared features on the provider (revocation, introspection, ...) or remove them from "
                   "the provider's features in the policy.")
def test_features(oidc_provider, oidc_metadata, authcheck_record):
    features = oidc_provider.config.get("features")
    if not features:
        pytest.skip("the policy declares no features for this provider")
    missing = [f"{f} ({FEATURE_MEMBERS[f]})" for f in features if not oidc_metadata.get(FEATURE_MEMBERS[f])]
    authcheck_record.expect({f: FEATURE_MEMBERS[f] for f in features},
                            {f: oidc_metadata.get(FEATURE_MEMBERS[f]) for f in features})
    if missing:
        authcheck_record.fail(f"not advertised: {', '.join(missing)}")
