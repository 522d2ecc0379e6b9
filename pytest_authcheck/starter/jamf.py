"""The starter policy of a Jamf Pro server, read with an auditor account: its API clients, their roles and privileges.

The auditor (Read API Roles, Read API Integrations) comes from two environment variables the command line names,
and is written into the policy as those ``${VARIABLE}`` references, never as values. Each API client becomes a
``[clients.NAME]`` and a ``[privileges.NAME]`` whose ``require`` is what its roles grant today (marked for review:
least privilege is what the client needs, which only its owner knows); its secret stays a commented reference,
since Jamf Pro never shows one again.
"""

from __future__ import annotations

import os
from typing import Any

from .._duration import format_duration
from .._errors import EvaluationError
from .._http import HttpClient
from .._jamf.api import JamfServer
from .._jamf.catalogue import release
from .._jamf.grants import client_grant
from .._jamf.url import JamfUrlError, lint_url
from .._redact import Secret
from .common import Options, Policy, StarterError, env_name, header, policy_name, safe, tls_hint, unavailable

PROVIDER = "jamf"
VERSION_PATH = "/api/v1/jamf-pro-version"
STRICT_TOKEN_MAX = 3600  # seconds: the starter never writes a longer access-token bound than one hour
WRITE_VERBS = ("Create", "Update", "Delete", "Send")
MAX_CLIENTS = 200


def looks_like_jamf(http: HttpClient, url: str) -> bool:
    """Whether ``url`` answers as the Jamf Pro API does: its version, or an ApiError asking for a token.

    ``StarterError`` when the answer withholds it: a throttle or a server error says nothing either way."""
    try:
        base = lint_url(url).url
    except JamfUrlError:
        return False
    answer = http.get(base + VERSION_PATH, headers={"Accept": "application/json"})
    busy = unavailable(answer, base + VERSION_PATH)
    if busy is not None:
        # the URL is not OpenID (its discovery answered), and whether it is Jamf Pro is what this answer withholds
        raise StarterError(busy + " (or say which kind of server it is with --authcheck-init-kind)")
    try:
        body = answer.json()
    except EvaluationError:
        return False
    if not isinstance(body, dict):
        return False
    if answer.status == 200:
        return isinstance(body.get("version"), str)
    return answer.status == 401 and isinstance(body.get("errors"), list) and "httpStatus" in body


def auditor_secrets(options: Options, *, required: bool = True) -> list[Secret]:
    """The auditor's username and password from the variables the command line names (labelled for confinement)."""
    found = [(var, os.environ.get(var)) for var in (options.user_var, options.password_var)]
    missing = [var for var, value in found if not value]
    if missing and required:
        raise StarterError(f"reading a Jamf Pro server needs an auditor account (Read API Roles, Read API Integrations) "
                           f"in the environment: {' and '.join(missing)} not set (name other variables with "
                           "--authcheck-init-user-var and --authcheck-init-password-var)")
    labels = ("providers.init.username", "providers.init.password")
    return [Secret(value, label=label) for (_, value), label in zip(found, labels, strict=True) if value]


def build(policy: Policy, http: HttpClient, url: str, options: Options) -> None:
    """Read the server with the auditor account and write the provider, clients and privilege sets into ``policy``."""
    try:
        base = lint_url(url)
    except JamfUrlError as exc:
        raise StarterError(f"{url}: {exc}") from None
    username, password = auditor_secrets(options)
    server = JamfServer(PROVIDER, {"url": base.url, "username": username.reveal(), "password": password}, http=http)
    try:
        auditor = server.auditor()
        if not auditor.ok:
            raise StarterError(f"the auditor account (${options.user_var}) was refused by {base.url}: {auditor.refusal}")
        version = _version(server, auditor.require())
        integrations, _ = server.list_all("/api/v1/api-integrations")
        roles, _ = server.roles()
    except EvaluationError as exc:
        raise StarterError(f"cannot read {base.url}: {exc}{tls_hint(exc)}") from None
    header(policy, options, f"the Jamf Pro server {base.url}")
    policy.table(f"[providers.{PROVIDER}]")
    policy.key("kind", "jamf")
    policy.key("url", base.url, "; ".join(base.normalised) if base.normalised else "")
    shown = release(version or "")
    if shown:
        policy.key("version", shown, f"GET {VERSION_PATH} said {version}; picks the privilege catalogue", observed=True)
    else:
        policy.key("version", "11.12", "the server's version could not be read", commented=True)
    policy.key("username", f"${{{options.user_var}}}", "the auditor: Read API Roles, Read API Integrations")
    policy.key("password", f"${{{options.password_var}}}")
    policy.key("user_token_max", "30m", "Jamf Pro's default user-token lifetime")
    names: list[str] = []
    for integration in integrations[:MAX_CLIENTS]:
        names.append(_client(policy, integration, roles, names))
    if len(integrations) > MAX_CLIENTS:
        policy.comment(f"... and {len(integrations) - MAX_CLIENTS} more API clients, not written")
    if not integrations:
        policy.blank()
        policy.comment("The server has no API client: declare the ones you create as [clients.NAME] with provider = "
                       f"\"{PROVIDER}\".")
    policy.summary = (f"provider {PROVIDER} (jamf) {base.url}, {len(names)} API client(s) with their privilege sets")


def _version(server: JamfServer, token: Secret) -> str | None:
    answer = server.request("GET", VERSION_PATH, token)
    try:
        body = answer.json()
    except EvaluationError:
        return None
    value = body.get("version") if isinstance(body, dict) else None
    return safe(value, 60) if isinstance(value, str) else None


def _client(policy: Policy, integration: dict[str, Any], roles: list[dict[str, Any]], taken: list[str]) -> str:
    display = str(integration.get("displayName") or integration.get("clientId") or "client")
    name = policy_name(display, taken)
    enabled = integration.get("enabled")
    grant = client_grant(integration, roles)
    role_names = [str(r) for r in integration.get("authorizationScopes") or [] if isinstance(r, str)]
    lifetime = integration.get("accessTokenLifetimeSeconds")
    facts = [("enabled" if enabled is True else "disabled" if enabled is False else "state unknown"),
             f"roles {', '.join(role_names) or 'none'}"]
    if isinstance(lifetime, int) and not isinstance(lifetime, bool):
        facts.append(f"tokens live {lifetime} s")
    policy.blank()
    policy.comment(f"---- API client {display!r} ({'; '.join(facts)})")
    policy.table(f"[clients.{name}]")
    policy.key("provider", PROVIDER)
    client_id = integration.get("clientId")
    if isinstance(client_id, str) and client_id:
        policy.key("client_id", client_id)
    else:
        policy.key("client_id", "CLIENT-ID", "the server did not list it: fill it in", observed=True)
    policy.key("grant_types", ["client_credentials"])
    if enabled is False:
        policy.key("state", "disabled", "disabled in Jamf Pro: keep it so, or enable it and remove this line",
                   observed=True)
    policy.key("client_secret", f"${{{env_name(name, 'secret')}}}",
               "set the variable, then uncomment: the token checks need it", commented=True)
    if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0:
        bound = min(lifetime, STRICT_TOKEN_MAX)
        note = f"accessTokenLifetimeSeconds {lifetime}" + ("" if bound == lifetime else
                                                           f"; {format_duration(bound)} is the strict bound written")
        policy.key("access_token_max", format_duration(bound), note, observed=True)
    _privileges(policy, name, grant.names, role_names)
    return name


def _privileges(policy: Policy, name: str, granted: set[str], role_names: list[str]) -> None:
    policy.table(f"[privileges.{name}]")
    policy.key("principal", name)
    held = sorted(granted)
    if held:
        policy.comment(f"observed: review. What the roles {', '.join(role_names)} grant today ({len(held)}); keep only",
                       "what the client needs: privileges.excess fails on anything granted beyond require and derive.")
        policy.to_review += 1
        policy.lines.append("require = [")
        policy.lines += [f"    {_string(p)}," for p in held]
        policy.lines.append("]")
    else:
        policy.key("require", [], "its roles grant nothing", observed=True)
    held_verbs = [v for v in WRITE_VERBS if any(p.startswith(v + " ") for p in held)]
    forbid = [f"{v} *" for v in WRITE_VERBS if v not in held_verbs]
    if forbid:
        policy.key("forbid", forbid, "nothing granted may match these" + (
            f"; the roles grant {', '.join(v + ' ...' for v in held_verbs)} privileges today: review" if held_verbs
            else ""))
    else:
        policy.comment("forbid: the roles grant privileges of every kind (Create, Update, Delete, Send): review")
    policy.key("derive", ["GET /api/v1/computers-inventory"], "the calls the client makes: their privileges count "
               "as required", commented=True)


def _string(text: str) -> str:
    from .. import _toml_out

    return _toml_out.string(text)
