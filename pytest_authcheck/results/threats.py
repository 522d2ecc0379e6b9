"""Threat roll-up: which attacks stay open given what failed, as OAuch summarises its runs.

Each threat is one numbered attack of RFC 9700 §4 or RFC 6819 §4, with the checks whose passing is
evidence that the attack is countered here. Only ids of checks that exist are listed (a test keeps this
honest); suites that add checks extend the ``mitigated_by`` tuples or add threats. A threat none of whose
checks ran is *not assessed*, never *mitigated*: the absence of evidence is not a pass.

States, worst first: ``open`` (a mitigating check failed), ``accepted`` (it failed and is waived),
``incomplete`` (nothing failed, but a check could not be evaluated), ``mitigated`` (every check that
ran passed), ``not assessed`` (no check of it ran).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

THREAT_STATES = ("open", "accepted", "incomplete", "mitigated", "not assessed")

_TLS = ("tls.chain-trusted", "tls.hostname", "tls.protocol-version", "tls.no-plain-http")
_SIGNING = ("discovery.signing-algs", "jwks.key-strength", "jwks.no-private-material", "jwks.token-signature",
            "jwks.algs-backed")


@dataclass(frozen=True)
class Threat:
    """One attack from a threat model, and the checks that counter it."""

    id: str
    ref: str
    name: str
    mitigated_by: tuple[str, ...]


THREATS: tuple[Threat, ...] = (
    Threat("T-9700-4.1", "RFC 9700 §4.1", "Insufficient redirect URI validation",
           ("redirect-uri.unregistered-refused", "redirect-uri.exact-match")),
    Threat("T-9700-4.3", "RFC 9700 §4.3", "Credential leakage via browser history (tokens in the front channel)",
           ("discovery.response-types", "grants.response-types", "tokens.query-refused")),
    Threat("T-9700-4.4", "RFC 9700 §4.4", "Mix-up attacks",
           ("discovery.issuer-match", "discovery.endpoints-on-issuer-host", "authz-response.iss", "tokens.iss-exact")),
    Threat("T-9700-4.5", "RFC 9700 §4.5", "Authorization code injection",
           ("discovery.pkce-s256", "pkce.required", "pkce.verifier-enforced")),
    Threat("T-9700-4.8", "RFC 9700 §4.8", "PKCE downgrade attack", ("discovery.pkce-s256", "pkce.plain-refused")),
    Threat("T-9700-4.10", "RFC 9700 §4.10", "Misuse of stolen access tokens",
           ("api.other-audience", "api.other-issuer", "api.expired-token", "api.not-yet-valid",
            "scopes.granted-within-policy", "lifetimes.access-token", "jamf.client-token-lifetime",
            "jamf.user-token-lifetime", "jamf.token-invalidation", "revocation.revoked-inactive",
            "revocation.refused-by-api")),
    Threat("T-9700-4.14", "RFC 9700 §4.14", "Refresh token theft and replay",
           ("refresh.rotation", "lifetimes.refresh-token")),
    Threat("T-6819-4.2.1", "RFC 6819 §4.2.1", "Password phishing by a counterfeit authorization server",
           ("tls.chain-trusted", "tls.hostname", "discovery.issuer-match")),
    Threat("T-6819-4.3.1", "RFC 6819 §4.3.1", "Eavesdropping access tokens at the token endpoint", _TLS),
    Threat("T-6819-4.3.3", "RFC 6819 §4.3.3", "Disclosure of client credentials during transmission",
           (*_TLS, "discovery.token-auth-methods")),
    Threat("T-6819-4.3.5", "RFC 6819 §4.3.5", "Obtaining client secrets by online guessing",
           ("client-auth.wrong-secret-refused", "client-auth.unknown-client-refused", "jamf.client-wrong-secret-refused")),
    Threat("T-6819-4.1.1", "RFC 6819 §4.1.1", "Obtaining client secrets from where the client keeps them",
           ("credentials.policy-secret-refs", "credentials.policy-no-credentials", "credentials.file-mode",
            "credentials.env-file-private")),
    Threat("T-6819-4.6.3", "RFC 6819 §4.6.3", "Guessing or forging access tokens (unsigned or weakly signed tokens)",
           (*_SIGNING, "api.alg-none", "api.altered-signature", "api.key-confusion", "api.malformed-token")),
    Threat("T-6819-4.6.1", "RFC 6819 §4.6.1", "Eavesdropping access tokens on the way to the resource server",
           ("api.no-credential",)),
)


def threat_rollup(results: Iterable[Mapping[str, Any]], threats: Iterable[Threat] = THREATS) -> list[dict[str, Any]]:
    """Each threat's state, with the checks behind it and the results that decided it."""
    by_check: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        by_check.setdefault(result["check"], []).append(result)
    out = []
    for threat in threats:
        ran = [r for c in threat.mitigated_by for r in by_check.get(c, ()) if r["status"] != "skipped"]
        statuses = {r["status"] for r in ran}
        if "failed" in statuses:
            state = "open"
        elif "waived" in statuses:
            state = "accepted"
        elif "error" in statuses:
            state = "incomplete"
        elif ran:
            state = "mitigated"
        else:
            state = "not assessed"
        deciding = sorted({f"{r['check']}@{r.get('target') or ''}" for r in ran if r["status"] != "passed"})
        out.append({"id": threat.id, "ref": threat.ref, "name": threat.name, "state": state,
                    "checks": list(threat.mitigated_by), "ran": len(ran), "deciding": deciding})
    return out


def level_rates(results: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Failure rate per requirement level (MUST/SHOULD/MAY) over the results that were evaluated."""
    table: dict[str, dict[str, Any]] = {}
    for result in results:
        if result["status"] in ("skipped", "error"):
            continue
        row = table.setdefault(result.get("level") or "MUST", {"evaluated": 0, "failed": 0, "waived": 0})
        row["evaluated"] += 1
        if result["status"] in ("failed", "waived"):
            row["failed" if result["status"] == "failed" else "waived"] += 1
    for row in table.values():
        row["failure_rate"] = round((row["failed"] + row["waived"]) / row["evaluated"], 4) if row["evaluated"] else 0.0
    order = {"MUST": 0, "SHOULD": 1, "MAY": 2}
    return dict(sorted(table.items(), key=lambda kv: order.get(kv[0], 9)))
