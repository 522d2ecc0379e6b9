"""The userinfo endpoint as a bearer-protected resource: a refusal tells the client how to authenticate.

Two requests per provider (sent once per run, shared through ``authcheck_userinfo_probes``): one without a
token and one with a token nobody issued. RFC 6750 §3 says a resource that refuses such a request MUST send a
``WWW-Authenticate`` challenge with the Bearer scheme; whatever the status and body say, a refusal without it
leaves the client guessing.
"""

from __future__ import annotations

from pytest_authcheck import check
from pytest_authcheck.observations import Kind, NotEvaluated

BEARER = "a Bearer challenge"


def _challenge_kind(seen, metadata) -> str:
    """``BEARER`` for a Bearer challenge (or a DPoP one where the provider takes only DPoP-bound tokens, RFC 9449
    §7.1), else what the header says."""
    if seen is None:
        return "no WWW-Authenticate header"
    if seen.bearer is not None:
        return BEARER
    if metadata.get("dpop_signing_alg_values_supported") and any(c.scheme.lower() == "dpop" for c in seen.items):
        return BEARER
    return seen.describe()


@check("userinfo.bearer-challenge", title="Userinfo refusals carry a WWW-Authenticate: Bearer challenge",
       sends="Userinfo requests without a token and with a made-up one, once per provider per run.",
       severity="low", area="clients", refs=["RFC 6750 §3", "RFC 6750 §3.1", "RFC 9110 §11.6.1", "OIDC Core 1.0 §5.3.3"],
       remediation="Answer userinfo requests without a valid access token with 401 and a WWW-Authenticate header "
                   "whose scheme is Bearer (Bearer realm=\"...\", plus error=\"invalid_token\" when a token was sent), "
                   "so clients can tell an expired or revoked token from other failures.")
def test_bearer_challenge(oidc_provider, oidc_metadata, authcheck_userinfo_probes, authcheck_record):
    name = oidc_provider.name
    answers = {"no token": authcheck_userinfo_probes.without_token(name),
               "a made-up token": authcheck_userinfo_probes.made_up_token(name)}
    observed: dict[str, str] = {}
    undecided = []
    for label, answer in answers.items():
        authcheck_record.attach(answer.exchange)
        seen = answer.details.get("challenges")
        authcheck_record.fact(f"{label}: answer", f"{answer.describe()}; {seen.describe() if seen else ''}")
        if answer.kind is Kind.ACCEPTED:
            observed[label] = f"served ({answer.summary})"
            authcheck_record.violation(f"with {label} it is served ({answer.summary}): userinfo does not require a token")
        elif answer.kind is Kind.REFUSED:
            observed[label] = _challenge_kind(seen, oidc_metadata)
            if observed[label] != BEARER:
                authcheck_record.violation(f"with {label} it refuses with {answer.summary} and {observed[label]}")
        else:
            undecided.append(f"{label}: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided), exchange=answers["no token"].exchange)
    authcheck_record.expect({label: BEARER for label in observed}, observed)
    authcheck_record.conclude(f"the userinfo endpoint of {oidc_provider.target}: ")
