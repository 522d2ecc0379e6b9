"""What the schema cannot express: references between tables, the issuer's scheme, waivers' check ids.

These run even when the schema found problems, so every mistake shows in one run; that is why each
value is type-checked before use (a wrong-typed value was already reported by the schema) and a value
already reported (``Problems.flagged``) is not judged twice.
"""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from .._check_ids import check_ids, shipped_suites_dir
from .._jamf.url import JamfUrlError, lint_url
from .._net import is_loopback
from .defaults import default
from .lines import KeyPath
from .problems import Problems

# The implicit principal of every API that sends no credential (see _api.ANONYMOUS).
_ANONYMOUS = "anonymous"
_CREDENTIAL_KINDS = ("client", "user", "header", "bearer")
# The tables a run can check something of; settings and waivers alone give it nothing to do.
_CHECKED_SECTIONS = ("providers", "clients", "users", "privileges", "apis", "credentials")

Require = Callable[[Any, Collection[str], str, KeyPath], bool]


def entries(data: Mapping[str, Any], section: str) -> dict[str, Mapping[str, Any]]:
    """The well-formed entries (tables) of a section such as ``clients``."""
    value = data.get(section)
    if not isinstance(value, Mapping):
        return {}
    return {name: entry for name, entry in value.items() if isinstance(entry, Mapping)}


def names(data: Mapping[str, Any], section: str) -> list[str]:
    """Every name declared in a section, well-formed or not (a reference to a broken entry is not a second error)."""
    value = data.get(section)
    return list(value) if isinstance(value, Mapping) else []


def check_references(data: Mapping[str, Any], problems: Problems) -> None:
    """Record every cross-reference problem: unknown providers, clients, users, principals and roles, and so on."""

    def require(name: Any, known: Collection[str], what: str, path: KeyPath) -> bool:
        if not isinstance(name, str) or problems.flagged(path):
            return False
        if name in known:
            return True
        hint = difflib.get_close_matches(name, list(known), n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else (f" (declared: {', '.join(known)})" if known else "")
        problems.add(f"no {what} named '{name}'{extra}", path)
        return False

    providers, clients, users = entries(data, "providers"), entries(data, "clients"), entries(data, "users")
    for name, provider in providers.items():
        url_path: KeyPath = ("providers", name, "url")
        if provider.get("kind") == "jamf" and isinstance(provider.get("url"), str) and not problems.flagged(url_path):
            try:
                lint_url(provider["url"])
            except JamfUrlError as exc:
                problems.add(str(exc), url_path)
        if provider.get("kind") == "oidc":
            _check_issuer(name, provider, problems)
    for name, client in clients.items():
        require(client.get("provider"), names(data, "providers"), "provider", ("clients", name, "provider"))
    for name, user in users.items():
        require(user.get("provider"), names(data, "providers"), "provider", ("users", name, "provider"))
    for name, pset in entries(data, "privileges").items():
        require(pset.get("principal"), [*names(data, "clients"), *names(data, "users")], "client or user",
                ("privileges", name, "principal"))
    for name, cred in entries(data, "credentials").items():
        if "provider" in cred:
            require(cred["provider"], names(data, "providers"), "provider", ("credentials", name, "provider"))
        if "client" in cred and require(cred["client"], names(data, "clients"), "client", ("credentials", name, "client")):
            client_provider = clients.get(cred["client"], {}).get("provider")
            if isinstance(cred.get("provider"), str) and isinstance(client_provider, str) \
                    and cred["provider"] != client_provider:
                problems.add(f"clients.{cred['client']} belongs to provider '{client_provider}', not "
                             f"'{cred['provider']}'", ("credentials", name, "client"))
    for name, client in clients.items():
        _check_client_env(name, client, providers, data, problems, require)
    for name, api in entries(data, "apis").items():
        if "provider" in api:
            require(api["provider"], names(data, "providers"), "provider", ("apis", name, "provider"))
        _check_api(name, api, providers, clients, users, problems, require)


def check_declares_something(data: Mapping[str, Any], problems: Problems, has_own_checks: bool) -> None:
    """A policy with nothing to check would run no check and pass: an error, not a green run."""
    if has_own_checks or any(data.get(section) for section in _CHECKED_SECTIONS):
        return
    problems.add("declares nothing to check: add at least one [providers.NAME], [apis.NAME] or [credentials.NAME] "
                 "table (pytest --authcheck-init URL writes a starter policy; see also the minimal policy in the "
                 "README)")


def check_waiver_ids(data: Mapping[str, Any], problems: Problems, check_folders: Collection[Path]) -> None:
    """A waiver must name a check that exists: shipped, or in a ``settings.checks`` folder."""
    waivers = data.get("waivers")
    if not isinstance(waivers, list):
        return
    known: set[str] | None = None
    complete = True
    for index, waiver in enumerate(waivers):
        path: KeyPath = ("waivers", index, "check")
        check = waiver.get("check") if isinstance(waiver, Mapping) else None
        if not isinstance(check, str) or problems.flagged(path):
            continue
        if known is None:
            known, complete = check_ids([shipped_suites_dir(), *check_folders])
        if check in known or not complete:
            continue  # an incomplete scan (a file that does not parse) cannot tell an id is missing
        hint = difflib.get_close_matches(check, sorted(known), n=1, cutoff=0.5)
        problems.add(f"no check with id '{check}'" + (f" (did you mean '{hint[0]}'?)" if hint else
                                                      " (docs/checks.md lists the shipped checks; a team's own come "
                                                      "from the folders in settings.checks)"), path)


def _check_issuer(name: str, provider: Mapping[str, Any], problems: Problems) -> None:
    """https, or http on a loopback host when the provider says ``allow_http_loopback = true``; nothing else."""
    path: KeyPath = ("providers", name, "issuer")
    issuer = provider.get("issuer")
    if not isinstance(issuer, str) or problems.flagged(path):
        return
    allowed = provider.get("allow_http_loopback") is True
    try:
        parts = urllib.parse.urlsplit(issuer)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is no port
    except ValueError as exc:
        problems.add(f"{_short(issuer)} is not a URL ({exc})", path)
        return
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return
    if scheme == "http" and host:
        if is_loopback(host) and not allowed:
            problems.add("plain http issuer: set allow_http_loopback = true on this provider to test a loopback "
                         "issuer over http, or use https", path)
        elif not is_loopback(host):
            problems.add(f"plain http issuer on {host}, which is not a loopback host: credentials and tokens would "
                         "travel unencrypted; use https (allow_http_loopback covers only 127.0.0.1, ::1 and localhost)",
                         path)
        return
    problems.add(f"{_short(issuer)} is not an https URL (write it as discovery states it: https://host/path)", path)


def _check_client_env(name: str, client: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]],
                      data: Mapping[str, Any], problems: Problems, require: Require) -> None:
    provider_name = client.get("provider")
    provider = providers.get(provider_name) if isinstance(provider_name, str) else None
    env = client.get("env")
    for variable, rule in (env.items() if isinstance(env, Mapping) else []):
        where: KeyPath = ("clients", name, "env", variable, "equals")
        reference = rule.get("equals") if isinstance(rule, Mapping) else None
        if not isinstance(reference, str) or problems.flagged(where):
            continue
        if reference.startswith("credentials."):
            require(reference.removeprefix("credentials."), names(data, "credentials"), "credentials file", where)
        elif reference == "issuer" and provider is not None and provider.get("kind") != "oidc":
            problems.add(f"provider '{provider_name}' is not an oidc provider and has no issuer (use provider_url)",
                         where)
    if "env_pointer" in client and not str(client.get("env_file", "")).endswith(".json"):
        problems.add("env_pointer needs a .json env_file", ("clients", name, "env_pointer"))


def _check_api(name: str, api: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]],
               clients: Mapping[str, Mapping[str, Any]], users: Mapping[str, Mapping[str, Any]],
               problems: Problems, require: Require) -> None:
    """An API's principals, roles, rules and probes must refer to one another consistently."""
    base: KeyPath = ("apis", name)
    roles = [r for r in api.get("roles", []) if isinstance(r, str)] if isinstance(api.get("roles"), list) else []
    principals = api.get("principals")
    principals = {k: v for k, v in principals.items() if isinstance(v, Mapping)} if isinstance(principals, Mapping) else {}
    for pname, principal in principals.items():
        path = base + ("principals", pname)
        if pname == _ANONYMOUS:
            problems.add("'anonymous' is reserved: it is the implicit principal that sends no credential", path)
            continue
        kinds = [k for k in _CREDENTIAL_KINDS if k in principal]
        if "user" in principal and "client" in principal:
            kinds.remove("client")  # a user logs in through a client: one credential
        if len(kinds) != 1:
            problems.add("a principal needs exactly one of client, user (with client), header (with value) or bearer"
                         + (f", not {', '.join(kinds)}" if kinds else ""), path)
            continue
        if "header" in principal and "value" not in principal:
            problems.add("an API key principal needs a value", path)
        if "value" in principal and "header" not in principal:
            problems.add("value belongs to an API key principal (with header)", path + ("value",))
        client_known = "client" in principal and require(principal["client"], list(clients), "client",
                                                         path + ("client",))
        if "user" in principal and require(principal["user"], list(users), "user", path + ("user",)):
            _check_user_principal(api, principal, providers, clients, users, path, problems, client_known)
        role = principal.get("role")
        if isinstance(role, str) and role not in roles:
            problems.add(f"role '{role}' is not one of the API's roles ({', '.join(roles) or 'none declared'})",
                         path + ("role",))
    known = [*principals, _ANONYMOUS]
    rules = [r for r in api.get("rules", []) if isinstance(r, Mapping)] if isinstance(api.get("rules"), list) else []
    for index, rule in enumerate(api.get("rules", []) if isinstance(api.get("rules"), list) else []):
        if not isinstance(rule, Mapping):
            continue
        path = base + ("rules", index)
        min_role = rule.get("min_role")
        if isinstance(min_role, str) and min_role not in roles:
            problems.add(f"min_role '{min_role}' is not one of the API's roles ({', '.join(roles) or 'none declared'})",
                         path + ("min_role",))
        listed: dict[str, set[str]] = {}
        for key in ("allow", "deny"):
            values = rule.get(key)
            listed[key] = {v for v in values if isinstance(v, str)} if isinstance(values, list) else set()
            unknown = [v for v in (values if isinstance(values, list) else []) if isinstance(v, str) and v not in known]
            if unknown:
                problems.add(f"no principal named {', '.join(map(repr, unknown))} (declared: {', '.join(known)})",
                             path + (key,))
        both = listed["allow"] & listed["deny"]
        if both:
            problems.add(f"{', '.join(sorted(both))} both allowed and denied", path)
    requests = [str(r["request"]) for r in rules if isinstance(r.get("request"), str)]
    for duplicate in sorted({r for r in requests if requests.count(r) > 1}):
        problems.add(f"more than one rule for {duplicate}", base + ("rules",))
    probes = api.get("probes")
    for probe, source in (probes.items() if isinstance(probes, Mapping) else []):
        if isinstance(source, Mapping) and "client" in source:
            require(source["client"], list(clients), "client", base + ("probes", probe, "client"))


def _check_user_principal(api: Mapping[str, Any], principal: Mapping[str, Any],
                          providers: Mapping[str, Mapping[str, Any]], clients: Mapping[str, Mapping[str, Any]],
                          users: Mapping[str, Mapping[str, Any]], path: KeyPath, problems: Problems,
                          client_known: bool) -> None:
    """A user principal logs its user in through its client's authorization-code flow at the API's provider.

    ``user`` without ``client`` is refused rather than guessed: which client (redirect URI, scopes) the
    login goes through decides what token the API sees.
    """
    user_name = principal["user"]
    user = users.get(user_name)
    if user is None:
        return  # declared, but not a table: the schema said so
    if "client" not in principal:
        problems.add(f"a user principal needs client = NAME: the client whose authorization-code flow logs "
                     f"users.{user_name} in", path)
        return
    if principal.get("revoked"):
        problems.add("revoked applies to API keys, bearer tokens and clients: a user principal is logged in, so "
                     "there would be no credential to send", path + ("revoked",))
    if "password" not in user:
        problems.add(f"users.{user_name} has no password, so it cannot log in (declare password, or plug in your "
                     "own login step and still name the account's password)", path + ("user",))
    user_provider = user.get("provider")
    api_provider = api.get("provider", user_provider)
    if not isinstance(user_provider, str) or user_provider not in providers:
        return  # reported at users.NAME.provider
    if user_provider != api_provider:
        problems.add(f"users.{user_name} belongs to provider '{user_provider}', not the API's provider "
                     f"'{api_provider}'", path + ("user",))
        return
    if providers[user_provider].get("kind", "oidc") != "oidc":
        problems.add(f"users.{user_name} belongs to provider '{user_provider}', which is not an oidc provider: "
                     "no authorization-code login", path + ("user",))
        return
    client_name = principal["client"]
    client = clients.get(client_name) if client_known else None
    if client is None:
        return
    if client.get("provider") != user_provider:
        problems.add(f"clients.{client_name} belongs to provider '{client.get('provider')}', not '{user_provider}' "
                     f"(the provider of users.{user_name})", path + ("client",))
        return
    grants = client.get("grant_types") or default("clients.*.grant_types")
    if not isinstance(grants, list) or "authorization_code" not in grants or not client.get("redirect_uris"):
        problems.add(f"clients.{client_name} declares no authorization_code grant with redirect_uris, so "
                     f"users.{user_name} cannot log in through it", path + ("client",))


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
