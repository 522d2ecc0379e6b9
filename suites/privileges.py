"""Privilege sets: a Jamf principal holds every privilege it needs and nothing more, under names that exist.

Declared privileges are read with the provider's auditor account (an API client's roles) or from
``GET /api/v1/auth`` (a user's); effective ones are probed with the principal's own token (harmless GETs,
judged by status) and, for an API client, read from its token's ``scope``. Every check records the
privilege diff (required / granted / missing / excess / forbidden / unknown, with the source of each
granted privilege) as evidence, and states per privilege (or per name) what it expected and observed.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._api_answers import word
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import Satisfies
from pytest_authcheck._jamf.grants import client_grant, roles_by_name, token_grant
from pytest_authcheck._jamf.probes import is_probeable, probe_params, probe_path
from pytest_authcheck._jamf_fixtures import principal_token
from pytest_authcheck.observations import NotEvaluated, observe_resource

LEAST_PRIVILEGE = "RFC 9700 §2.3"


def _names(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(f"'{n}'" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@check("privileges.names-known", title="Privilege names in the policy exist in the declared Jamf Pro version",
       sends="Nothing: compares the names with the privilege catalogue of the declared version.",
       severity="medium", area="privileges", refs=["Jamf Pro API: GET /v1/api-role-privileges"],
       remediation="Replace each unknown name with the name the finding gives (names are case-sensitive and change "
                   "between Jamf Pro versions); set the provider's version to the server's.")
def test_names_known(privilege_set, privilege_diff, authcheck_record):
    if privilege_diff.catalogue is None:
        version = privilege_set.principal.server.version
        pytest.skip(f"no privilege catalogue ships for Jamf Pro {version}" if version
                    else f"{privilege_set.principal.server.target} declares no version")
    names = list(dict.fromkeys(privilege_diff.required + privilege_diff.forbid))
    if not names:
        pytest.skip(f"privileges.{privilege_set.name} names no privilege (no require, no forbid)")
    authcheck_record.fact("names looked up", len(names))
    # Unknown names with what they are called now (the finding's suggestion), known ones not listed.
    authcheck_record.expect(Satisfies(lambda unknown: not unknown, f"every name in {privilege_diff.catalogue}"),
                            {u["name"]: u["now"] for u in privilege_diff.unknown})
    if privilege_diff.unknown:
        findings = [u["finding"] for u in privilege_diff.unknown]
        authcheck_record.fail(f"{len(findings)} name(s) of privileges.{privilege_set.name} are not in "
                              f"{privilege_diff.catalogue}: " + "; ".join(findings))


def _granted(names: list[str], missing: list[str]) -> dict[str, str]:
    return {n: "missing" if n in missing else "granted" for n in names}


@check("privileges.required-granted", title="Every required privilege is granted",
       sends="The principal's grant, read once per run: the auditor's GET /api/v1/api-roles and /api/v1/api-integrations (a client), or "
             "the user's token and GET /api/v1/auth.",
       severity="high", area="privileges", refs=["Jamf Pro API Overview: privileges", "RFC 6750 §3.1"],
       remediation="Add the missing privileges to the principal's API role (or account); for an API client, "
                   "rotate its secret afterwards if you assigned a new role.")
def test_required_granted(privilege_set, privilege_diff, authcheck_record):
    if not privilege_diff.required:
        pytest.skip(f"privileges.{privilege_set.name} requires no privilege")
    authcheck_record.expect({n: "granted" for n in privilege_diff.required},
                            _granted(privilege_diff.required, privilege_diff.missing))
    if privilege_diff.missing:
        authcheck_record.fail(f"{privilege_diff.principal} lacks {len(privilege_diff.missing)} required "
                              f"privilege(s): {_names(privilege_diff.missing)}")


@check("privileges.none-forbidden", title="No granted privilege matches a forbidden pattern",
       sends="The principal's grant, read once per run: the auditor's GET /api/v1/api-roles and /api/v1/api-integrations (a client), or "
             "the user's token and GET /api/v1/auth.",
       severity="critical", area="privileges", refs=[LEAST_PRIVILEGE, "OWASP API Security Top 10 2023 API5"],
       remediation="Remove the forbidden privileges from the principal's API roles (or account).")
def test_none_forbidden(privilege_set, privilege_diff, authcheck_record):
    if not privilege_diff.forbid:
        pytest.skip(f"privileges.{privilege_set.name} forbids nothing")
    authcheck_record.expect({"granted privileges matching forbid": []},
                            {"granted privileges matching forbid": [f["privilege"] for f in privilege_diff.forbidden]})
    if privilege_diff.forbidden:
        pairs = [f"'{f['privilege']}' (forbidden by '{f['pattern']}', from "
                 f"{', '.join(privilege_diff.granted[f['privilege']])})" for f in privilege_diff.forbidden[:10]]
        authcheck_record.fail(f"{privilege_diff.principal} holds {len(privilege_diff.forbidden)} forbidden "
                              f"privilege(s): " + "; ".join(pairs))


@check("privileges.excess", title="Nothing is granted beyond what is required or derived (least privilege)",
       sends="The principal's grant, read once per run: the auditor's GET /api/v1/api-roles and /api/v1/api-integrations (a client), or "
             "the user's token and GET /api/v1/auth.",
       severity="medium", area="privileges", level="SHOULD", refs=[LEAST_PRIVILEGE, "RFC 6819 §5.1.5.1"],
       remediation="Remove the excess privileges from the principal's API role, or add them to the policy's "
                   "require list if they are really needed.")
def test_excess(privilege_set, privilege_diff, authcheck_record):
    if privilege_set.config.get("allow_excess"):
        pytest.skip(f"privileges.{privilege_set.name} sets allow_excess = true")
    authcheck_record.fact("granted privileges", len(privilege_diff.granted))
    authcheck_record.expect({"granted beyond require and derive": []},
                            {"granted beyond require and derive": privilege_diff.excess})
    if privilege_diff.excess:
        authcheck_record.fail(f"{privilege_diff.principal} holds {len(privilege_diff.excess)} privilege(s) beyond "
                              f"require and derive: {_names(privilege_diff.excess)}")


@check("privileges.derived-calls-granted", title="The privileges the declared API calls need are granted",
       sends="Nothing of its own beyond the principal's grant (read once per run); the privileges the derive calls need come from the "
             "shipped endpoint map.",
       severity="high", area="privileges", refs=["Jamf Pro API: x-required-privileges", LEAST_PRIVILEGE],
       remediation="Grant the derived privileges the principal lacks (its calls are refused with 403 otherwise), "
                   "and remove the ones no call needs.")
def test_derived_calls_granted(privilege_set, jamf_derivation, authcheck_record, request):
    if jamf_derivation is None:
        pytest.skip(f"privileges.{privilege_set.name} declares no derive calls")
    privilege_diff = request.getfixturevalue("privilege_diff")  # only now: without derive there is nothing to read
    unknown = jamf_derivation.unknown_calls
    if unknown:
        raise EvaluationError("cannot derive privileges for " + "; ".join(f"{c.call!r} ({c.source})" for c in unknown))
    if not privilege_diff.derived:
        pytest.skip(f"the derive calls of privileges.{privilege_set.name} need no privilege")
    authcheck_record.expect({n: "granted" for n in privilege_diff.derived},
                            _granted(privilege_diff.derived, privilege_diff.derived_missing))
    if privilege_diff.derived_missing:
        calls = [c.call for c in jamf_derivation.calls
                 if any(n.label() in privilege_diff.derived_missing for n in c.needs)]
        authcheck_record.fail(f"{privilege_diff.principal} lacks {_names(privilege_diff.derived_missing)}, so "
                              f"{_names(calls)} would be refused")


@check("privileges.effective", title="Effective privileges equal the declared ones (probed with the principal's token)",
       sends="The principal's token request, and one harmless GET per required or derived read privilege with that token.",
       severity="high", area="privileges", refs=[LEAST_PRIVILEGE, "RFC 9068 §2.2.3", "Jamf Pro: Rotating a Client Secret"],
       remediation="After adding or removing a role on an API client, rotate its client secret: Jamf Pro applies role "
                   "changes to a client only then. A read privilege refused despite the role may be a site restriction.")
def test_effective(privilege_set, privilege_diff, authcheck_record):
    principal = privilege_set.principal
    server = principal.server
    result = principal_token(principal)
    authcheck_record.attach(*result.exchanges)
    token = result.require()
    expected: dict[str, object] = {}
    observed: dict[str, object] = {}
    undecided: list[str] = []
    if principal.kind == "client" and server.has_auditor:
        integration, exchanges = server.integration(str(principal.config["client_id"]))
        roles, role_exchanges = server.roles()
        authcheck_record.attach(*exchanges, *role_exchanges)
        known = roles_by_name(roles)
        scopes = (integration or {}).get("authorizationScopes")
        configured_ids = sorted(str(known[n].get("id")) for n in (scopes if isinstance(scopes, list) else [])
                                if isinstance(n, str) and n in known)
        token_ids = sorted(result.role_ids)
        authcheck_record.fact("roles configured", configured_ids)
        if integration is not None and result.scope is not None:
            expected["roles in token scope"], observed["roles in token scope"] = configured_ids, token_ids
            if configured_ids != token_ids:
                declared = client_grant(integration, roles).names
                effective = token_grant(token_ids, roles).names
                gained, lost = sorted(effective - declared), sorted(declared - effective)
                authcheck_record.fact("token scope against configuration",
                                      {"effective beyond declared": gained, "declared but not effective": lost})
                authcheck_record.violation(
                    f"the token's scope names roles {token_ids} but the client is configured with {configured_ids}: a "
                    f"role change has not taken effect (the secret was not rotated since); effective beyond declared: "
                    f"{_names(gained) or 'none'}; declared but not effective: {_names(lost) or 'none'}")
    probes: dict[str, object] = {}
    # Only what the policy requires or the calls need: probing every excess privilege would cost a request each.
    wanted = [p for p in dict.fromkeys(privilege_diff.required + privilege_diff.derived)
              if p in privilege_diff.granted and is_probeable(p)]
    refused = []
    for privilege in wanted:
        path = probe_path(privilege)
        if path is None:
            probes[privilege] = "no harmless GET needs exactly this privilege; not probed"
            continue
        response = server.request("GET", path, token, params=probe_params(path))
        authcheck_record.attach(response.exchange)
        probes[privilege] = f"GET {path} -> {response.status}"
        if response.status == 401:
            raise EvaluationError(f"{principal.target}'s token was refused (401) at {path}")
        answer = observe_resource(response)
        if not (answer.accepted or response.status == 403):
            # 404, 400, a redirect, a server error: neither effective nor refused
            undecided.append(f"{privilege}: GET {path}: {answer.why_not_evaluable() if not answer.decisive else answer.summary}")
            continue
        expected[privilege] = "effective"
        observed[privilege] = "effective" if answer.accepted else word(answer)
        if not answer.accepted:
            refused.append(privilege)
    authcheck_record.fact("probes", probes)
    if refused:
        authcheck_record.violation(f"{len(refused)} granted privilege(s) are refused with 403: {_names(refused)}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("the probes say neither effective nor refused: " + "; ".join(undecided))
    if not observed:
        pytest.skip(f"nothing to compare for {principal.target}: no role listing to hold its token against, and no "
                    "required or derived read privilege that a harmless GET probes")
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude(f"{principal.target}: ")
