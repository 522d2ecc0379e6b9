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
from pytest_authcheck._expect import AtMost, OneOf, Quantity, Satisfies
from pytest_authcheck._net import url_host

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


def _words(values):
    return ", ".join(map(str, values)) or "nothing"


@cache
def metadata_schema() -> dict[str, Any]:
    text = resources.files("pytest_authcheck").joinpath("schemas/oidc-discovery.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@check("discovery.reachable", title="Discovery document is served at the issuer's well-known URL",
       sends="A GET of {issuer}/.well-known/openid-configuration, once per provider per run (every discovery check reads that answer).",
       severity="high", area="discovery", refs=["OIDC Discovery 1.0 §4", "OIDC Discovery 1.0 §4.2", "RFC 8414 §3.2"],
       remediation="Serve the provider metadata as a JSON object with HTTP 200 and Content-Type application/json "
                   "at {issuer}/.well-known/openid-configuration, without redirecting.")
def test_discovery_reachable(oidc_provider, oidc_discovery, authcheck_record):
    response = oidc_discovery.response
    if response.throttled is not None:
        # A throttle says nothing about the document: the provider could not be evaluated, it did not fail.
        raise EvaluationError(f"{oidc_provider.discovery_url}: {response.throttled}")
    try:
        body = response.json()
        kind = "a JSON object" if isinstance(body, dict) else f"JSON {type(body).__name__}, not an object"
    except Exception:
        kind = "not JSON"
    authcheck_record.expect({"HTTP status": 200, "content type": "application/json", "body": "a JSON object"},
                            {"HTTP status": response.status, "content type": response.content_type or None, "body": kind})
    if response.status in (301, 302, 303, 307, 308):
        authcheck_record.fail(f"{oidc_provider.discovery_url} redirects (HTTP {response.status}) to "
                              f"{response.headers.get('location', '?')} instead of serving the document")
    if response.status != 200:
        authcheck_record.fail(f"{oidc_provider.discovery_url} answered HTTP {response.status}")
    if response.content_type != "application/json":
        authcheck_record.fail(f"the discovery document is served as {response.content_type or 'no content type'}")
    if kind == "not JSON":
        authcheck_record.fact("body (start)", response.text[:200])
        authcheck_record.fail("the discovery document is not valid JSON")
    if kind != "a JSON object":
        authcheck_record.fail("the discovery document is JSON but not an object")


@check("discovery.schema", title="Metadata has every required member, each well typed",
       sends="Nothing of its own: reads the discovery document.",
       severity="medium", area="discovery", refs=["OIDC Discovery 1.0 §3", "RFC 8414 §2"],
       remediation="Publish every required member (issuer, authorization_endpoint, token_endpoint, jwks_uri, "
                   "response_types_supported, subject_types_supported, id_token_signing_alg_values_supported with RS256) "
                   "with the types the specifications give.")
def test_metadata_schema(oidc_discovery, authcheck_record):
    # The OpenID discovery document as served: endpoints taken from the RFC 8414 document are not its own.
    document = oidc_discovery.json_object()
    validator = jsonschema.Draft202012Validator(metadata_schema())
    problems = sorted(
        (f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message[:200]}" for e in validator.iter_errors(document)),
    )
    known = set(metadata_schema()["properties"])
    unknown = sorted(k for k in document if k not in known)
    if unknown:
        authcheck_record.fact("members not in OIDC Discovery or RFC 8414 (extensions, not an error)", unknown)
    authcheck_record.fact("members", len(document))
    authcheck_record.expect(AtMost(0, "no problem against OIDC Discovery 1.0 §3 / RFC 8414 §2"),
                            Quantity.count(problems, f"no problem in {len(document)} members"))
    if problems:
        authcheck_record.fail(f"{len(problems)} metadata problem(s): " + "; ".join(problems[:10]))


HTTPS_FORM = "https, without query or fragment"
LOOPBACK_FORM = "http on a loopback host (allow_http_loopback), without query or fragment"


def _issuer_form(provider, issuer):
    parts = urllib.parse.urlsplit(issuer)
    if parts.query or parts.fragment:
        return "with a query or fragment"
    if parts.scheme == "https":
        return HTTPS_FORM
    return LOOPBACK_FORM if provider.http_tolerated(issuer) else f"{parts.scheme or 'no scheme'}, not https"


@check("discovery.issuer-match", title="Metadata issuer is exactly the policy's issuer",
       sends="Nothing of its own: reads the discovery document.",
       severity="critical", area="discovery", refs=["OIDC Discovery 1.0 §4.3", "RFC 8414 §3.3", "OIDC Core 1.0 §3.1.3.7"],
       remediation="Configure the provider's issuer identifier to exactly the URL in the policy (scheme, host, port, "
                   "path, no trailing slash difference); clients reject tokens whose iss differs.")
def test_issuer_matches(oidc_provider, oidc_metadata, authcheck_record):
    observed = oidc_metadata.get("issuer")
    allowed_forms = (HTTPS_FORM, LOOPBACK_FORM) if oidc_provider.config.get("allow_http_loopback") else (HTTPS_FORM,)
    authcheck_record.expect(
        {"issuer": oidc_provider.issuer, "form": OneOf(allowed_forms, " or ".join(allowed_forms))},
        {"issuer": observed, "form": _issuer_form(oidc_provider, observed) if isinstance(observed, str) else None})
    if not isinstance(observed, str):
        authcheck_record.fail(f"metadata issuer is {type(observed).__name__}, not the policy's issuer {oidc_provider.issuer!r}")
    if observed != oidc_provider.issuer:
        authcheck_record.fail(f"metadata issuer {observed!r} is not the policy's issuer {oidc_provider.issuer!r}")
    if _issuer_form(oidc_provider, observed) not in allowed_forms:
        note = " (plain http is tolerated only on a loopback host, with allow_http_loopback = true)" \
            if observed.startswith("http://") else ""
        authcheck_record.fail(f"issuer {observed!r} must be an https URL without query or fragment{note}")


@check("discovery.endpoints-on-issuer-host", title="Endpoints are served from the issuer's host or allowed hosts",
       sends="Nothing of its own: reads the metadata.",
       severity="medium", area="discovery", level="SHOULD", refs=["RFC 8414 §2", "OIDC Discovery 1.0 §7.1", "RFC 9700 §4.4"],
       remediation="Serve every endpoint from the issuer's host, or list the other hosts in the provider's allowed_hosts.")
def test_endpoints_on_issuer_host(oidc_provider, oidc_metadata, authcheck_record):
    allowed = oidc_provider.trusted_hosts()
    hosts = {}
    elsewhere = {}
    for member in ENDPOINT_MEMBERS:
        value = oidc_metadata.get(member)
        if isinstance(value, str):
            hosts[member] = url_host(value) or None
            if hosts[member] not in allowed:
                elsewhere[member] = value
    if not hosts:
        pytest.skip("the metadata advertises no endpoint URL to judge (discovery.schema reports missing members)")
    authcheck_record.expect(Satisfies(lambda found: set(found.values()) <= allowed, "each on " + " or ".join(sorted(allowed))),
                            hosts)
    if elsewhere:
        authcheck_record.fail(f"{len(elsewhere)} endpoint(s) on hosts the policy does not allow: "
                              + ", ".join(f"{k}={v}" for k, v in elsewhere.items()))


@check("discovery.rfc8414", title="RFC 8414 metadata is served and agrees with the OIDC metadata",
       sends="A GET of the RFC 8414 metadata ({origin}/.well-known/oauth-authorization-server{issuer path}), once per provider per run.",
       severity="low", area="discovery", level="SHOULD", refs=["RFC 8414 §3", "RFC 8414 §3.3"],
       remediation="Serve the same metadata at /.well-known/oauth-authorization-server (before the issuer's path), "
                   "or leave rfc8414 unset (or false) for this provider in the policy when only OpenID discovery is "
                   "served.")
def test_rfc8414_metadata(oidc_provider, oidc_discovery, authcheck_record):
    asked = oidc_provider.config.get("rfc8414")
    if asked is False:
        pytest.skip(f"{oidc_provider.target}.rfc8414 = false: the policy does not require the RFC 8414 document")
    if asked is not True:
        pytest.skip(f"{oidc_provider.target}.rfc8414 is not set: set rfc8414 = true to require the RFC 8414 document")
    openid = oidc_discovery.json_object()  # the document as served, without endpoints taken from RFC 8414
    document = oidc_provider.rfc8414()
    authcheck_record.attach(document.exchange)
    if document.response is None:
        raise document.error.with_traceback(None)  # no answer: whether it is served is not known
    status = document.response.status
    try:
        other = document.json_object() if status == 200 else None
    except EvaluationError:
        other = None
    body = "a JSON object" if other is not None else "not a JSON object" if status == 200 else "not read"
    # Members both documents carry must agree; a member only one of them lists is no disagreement
    # (endpoints only in the RFC 8414 document are used: see OidcProvider.metadata).
    differences = {m: {"openid-configuration": openid.get(m), "oauth-authorization-server": other.get(m)}
                   for m in ("issuer", *ENDPOINT_MEMBERS)
                   if (m == "issuer" or (m in other and m in openid)) and other.get(m) != openid.get(m)} \
        if other is not None else {}
    authcheck_record.expect(
        {"HTTP status": 200, "body": "a JSON object", "members that differ": AtMost(0, "none (the same issuer and endpoints)")},
        {"HTTP status": status, "body": body,
         "members that differ": Quantity.count(list(differences), "none") if other is not None else "not compared"})
    if status != 200:
        authcheck_record.fail(f"{oidc_provider.rfc8414_url} answered HTTP {status}")
    if other is None:
        authcheck_record.fail(f"{oidc_provider.rfc8414_url} answered HTTP 200 with "
                              f"{document.response.content_type or 'no content type'}, not a JSON object")
    authcheck_record.fact("members listed by one document only", {
        "only in openid-configuration": sorted(m for m in ENDPOINT_MEMBERS if m in openid and m not in other),
        "only in oauth-authorization-server": sorted(m for m in ENDPOINT_MEMBERS if m in other and m not in openid)})
    if differences:
        authcheck_record.fact("differences", differences)
        authcheck_record.fail("the RFC 8414 metadata differs from the OIDC metadata in " + ", ".join(differences))


@check("discovery.pkce-s256", title="PKCE with S256 is advertised, plain is not",
       sends="Nothing of its own: reads the metadata.",
       severity="high", area="discovery", refs=["RFC 7636 §4.2", "RFC 8414 §2", "RFC 9700 §2.1.1"],
       remediation="Enable PKCE with the S256 method and disable 'plain' (unless the policy sets allow_plain_pkce).")
def test_pkce_advertised(oidc_provider, oidc_metadata, authcheck_record):
    methods = string_list(oidc_metadata, "code_challenge_methods_supported", authcheck_record)
    plain_allowed = bool(oidc_provider.config.get("allow_plain_pkce", False))
    authcheck_record.expect(
        Satisfies(lambda m: "S256" in m and (plain_allowed or "plain" not in m),
                  "S256" + (" (plain allowed by allow_plain_pkce)" if plain_allowed else ", not plain")),
        methods)
    if not isinstance(methods, list) or "S256" not in methods:
        authcheck_record.fail(f"code_challenge_methods_supported is {methods!r}; S256 is not advertised")
        return
    if "plain" in methods and not plain_allowed:
        authcheck_record.fail("code_challenge_methods_supported advertises 'plain', which the policy does not allow")


def _allowed_grants(oidc_provider, policy) -> list[str] | None:
    declared = oidc_provider.config.get("grant_types")
    if declared is not None:
        return list(declared)
    from_clients = {g for c in policy.clients_of(oidc_provider.name).values() for g in c.get("grant_types", [])}
    return sorted(from_clients) if from_clients else None


@check("discovery.grant-types", title="Advertised grant types are the ones the policy declares",
       sends="Nothing of its own: reads the metadata.",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "RFC 9700 §2.4", "RFC 9700 §2.1.2"],
       remediation="Disable the grant types no declared client uses (above all 'password' and 'implicit'), or declare "
                   "them in the policy (provider grant_types or a client's grant_types).")
def test_grant_types(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    advertised = string_list(oidc_metadata, "grant_types_supported", authcheck_record, DEFAULT_GRANT_TYPES)
    allowed = _allowed_grants(oidc_provider, authcheck_policy)
    if "grant_types_supported" not in oidc_metadata:
        authcheck_record.fact("grant_types_supported", "omitted: RFC 8414 §2 then means authorization_code and implicit")
    if allowed is None:
        expected = Satisfies(lambda a: not {"password", "implicit"} & set(a),
                             "no password or implicit grant (the policy declares no grant types)")
    else:
        expected = Satisfies(lambda a: set(a) == set(allowed), "exactly " + _words(allowed))
    authcheck_record.expect(expected, advertised)
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
       sends="Nothing of its own: reads the metadata.",
       severity="high", area="discovery", refs=["RFC 9700 §2.1.2", "OIDC Discovery 1.0 §3", "OAuth 2.0 Multiple Response Types §5"],
       remediation="Disable the implicit and token-returning hybrid response types ('token', 'id_token token', "
                   "'code token', 'code id_token token'); use the authorization code flow with PKCE.")
def test_response_types(oidc_provider, oidc_metadata, authcheck_record):
    advertised = string_list(oidc_metadata, "response_types_supported", authcheck_record)
    if advertised is None:
        pytest.skip("the metadata lists no response_types_supported (REQUIRED: discovery.schema reports it)")
    declared = oidc_provider.config.get("response_types")
    if declared is not None:
        unexpected = [r for r in advertised if r not in declared]
        authcheck_record.expect(Satisfies(lambda a: set(a) <= set(declared), "among " + _words(declared)), advertised)
    else:
        unexpected = [r for r in advertised if IMPLICIT_RESPONSE_WORD in str(r).split()]
        authcheck_record.expect(Satisfies(lambda a: not any(IMPLICIT_RESPONSE_WORD in r.split() for r in a),
                                          "response types without 'token'"), advertised)
    if unexpected:
        authcheck_record.fail(f"advertises response type(s) {', '.join(map(repr, unexpected))} the policy does not allow")


#: the scope values OpenID Connect Core defines: Discovery §3 wants these listed when supported, while a
#: server MAY leave any other scope it supports out of scopes_supported
OIDC_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")


@check("discovery.scopes", title="Scopes include openid and the OpenID scopes the policy's clients use",
       sends="Nothing of its own: reads the metadata.",
       severity="low", area="discovery", level="SHOULD", refs=["OIDC Discovery 1.0 §3", "OIDC Core 1.0 §5.4"],
       remediation="Advertise openid and the OpenID Connect scopes (profile, email, ...) the declared clients request "
                   "in scopes_supported, or correct the clients' scopes in the policy.")
def test_scopes(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    supported = string_list(oidc_metadata, "scopes_supported", authcheck_record)
    if supported is None:
        pytest.skip("the provider does not publish scopes_supported (RECOMMENDED, not required)")
    used = {s for c in authcheck_policy.clients_of(oidc_provider.name).values() for s in c.get("scopes", [])}
    # Discovery §3: "Servers MAY choose not to advertise some supported scope values": only the OpenID ones
    # (openid always, the others a client uses) are owed a place in the list.
    wanted = sorted({"openid"} | (used & set(OIDC_SCOPES)))
    authcheck_record.expect(Satisfies(lambda s: set(wanted) <= set(s), "including " + _words(wanted)), supported)
    missing = [s for s in wanted if s not in supported]
    if missing:
        authcheck_record.fail(f"scopes_supported lacks {', '.join(missing)}")


@check("discovery.signing-algs", title="Signing algorithms exclude 'none' and stay within the policy",
       sends="Nothing of its own: reads the metadata.",
       severity="high", area="discovery", refs=["OIDC Discovery 1.0 §3", "OIDC Core 1.0 §10.1", "RFC 8725 §3.1"],
       remediation="Remove 'none' from every *_signing_alg_values_supported list and limit the ID token algorithms to "
                   "the policy's signing_algs.")
def test_signing_algs(oidc_provider, oidc_metadata, authcheck_record):
    lists = {m: values for m in SIGNING_ALG_MEMBERS if (values := string_list(oidc_metadata, m, authcheck_record)) is not None}
    if not lists:
        pytest.skip("the metadata lists no signing algorithms (discovery.schema reports a missing "
                    "id_token_signing_alg_values_supported)")
    with_none = [m for m, values in lists.items() if "none" in values]
    advertised = lists.get("id_token_signing_alg_values_supported", [])
    allowed = oidc_provider.config.get("signing_algs")

    def acceptable(found):
        id_token = found.get("id_token_signing_alg_values_supported", [])
        return not any("none" in v for v in found.values()) and \
            (allowed is None or all(a in allowed for a in id_token if a != "none"))

    authcheck_record.expect(
        Satisfies(acceptable, "no 'none'" + (f"; ID tokens signed with {_words(allowed)} only" if allowed is not None else "")),
        lists)
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
       sends="Nothing of its own: reads the metadata.",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "OIDC Discovery 1.0 §3", "RFC 9700 §2.5"],
       remediation="Disable the client authentication methods the policy does not declare; offer 'none' only when "
                   "public clients are declared.")
def test_token_auth_methods(oidc_provider, oidc_metadata, authcheck_policy, authcheck_record):
    advertised = string_list(oidc_metadata, "token_endpoint_auth_methods_supported", authcheck_record,
                             DEFAULT_AUTH_METHODS)
    if "token_endpoint_auth_methods_supported" not in oidc_metadata:
        authcheck_record.fact("token_endpoint_auth_methods_supported", "omitted: RFC 8414 §2 then means client_secret_basic")
    declared = oidc_provider.config.get("token_endpoint_auth_methods")
    public = sorted(n for n, c in authcheck_policy.clients_of(oidc_provider.name).items() if c.get("type") == "public")
    has_public = bool(public)
    if declared is None and has_public:
        # Unset, the policy allows every method, and 'none' because public clients need it: no rule to apply.
        pytest.skip(f"{oidc_provider.target}.token_endpoint_auth_methods is not set and public client(s) are declared "
                    f"({', '.join('clients.' + n for n in public)}), so every method, 'none' too, is allowed: set "
                    "token_endpoint_auth_methods to judge the advertised methods")
    if declared is not None:
        expected = Satisfies(lambda a: set(a) <= set(declared), "among " + _words(declared))
    else:
        expected = Satisfies(lambda a: "none" not in a, "no 'none' (no public client is declared)")
    authcheck_record.expect(expected, advertised)
    problems = []
    if declared is not None:
        extra = [m for m in advertised if m not in declared]
        if extra:
            problems.append(f"advertises method(s) the policy does not declare: {', '.join(extra)}")
    elif "none" in advertised and not has_public:
        problems.append("advertises 'none' (unauthenticated clients) but the policy declares no public client: "
                        f"declare one (type = \"public\") or list the methods the provider may offer in "
                        f"{oidc_provider.target}.token_endpoint_auth_methods")
    if problems:
        authcheck_record.fail("; ".join(problems))


def _advertises(member, value):
    """An endpoint member must hold a URL; a flag (authorization_response_iss_parameter_supported) must be true."""
    return value is True if member.endswith("_supported") else isinstance(value, str) and bool(value)


@check("discovery.features", title="Features the policy declares are advertised",
       sends="Nothing of its own: reads the metadata.",
       severity="medium", area="discovery", refs=["RFC 8414 §2", "RFC 7009 §2", "RFC 7662 §2", "RFC 8628 §4", "RFC 9126 §5", "RFC 9207 §3"],
       remediation="Enable the declared features on the provider (revocation, introspection, ...) or remove them from "
                   "the provider's features in the policy.")
def test_features(oidc_provider, oidc_metadata, authcheck_record):
    features = oidc_provider.config.get("features")
    if not features:
        pytest.skip("the policy declares no features for this provider")
    observed = {f: oidc_metadata.get(FEATURE_MEMBERS[f]) for f in features}
    missing = [f"{f} ({FEATURE_MEMBERS[f]})" for f in features if not _advertises(FEATURE_MEMBERS[f], observed[f])]
    authcheck_record.expect({f: Satisfies(lambda v, m=FEATURE_MEMBERS[f]: _advertises(m, v), f"{FEATURE_MEMBERS[f]} advertised")
                             for f in features}, observed)
    if missing:
        authcheck_record.fail(f"not advertised: {', '.join(missing)}")
