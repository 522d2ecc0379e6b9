"""Fixtures of the Jamf Pro suites (``jamf_auth``, ``privileges``), public like the others.

Targets come from the static policy: ``jamf_provider`` (each ``kind = "jamf"`` provider), ``jamf_client``
(each client of one), ``jamf_user`` (each user of one) and ``privilege_set`` (each ``[privileges.*]``).
Servers, tokens and listings are kept for the run, so each principal asks for one token per run and the
auditor reads roles and clients once (per xdist worker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ._errors import EvaluationError
from ._fixtures import run_key
from ._jamf.api import JamfServer, TokenResult
from ._jamf.catalogue import shipped_catalogue
from ._jamf.derive import Derivation, derive
from ._jamf.grants import PRIVILEGE_DIFF_FACT, Grant, PrivilegeDiff, client_grant, diff, user_grant
from ._record import CheckRecord
from ._run import AuthcheckRun

_servers_key = pytest.StashKey[dict[str, JamfServer]]()


@dataclass(frozen=True)
class JamfPrincipal:
    """A policy client or user of a Jamf provider: ``kind`` is ``client`` or ``user``."""

    name: str
    kind: str
    config: Mapping[str, Any]
    server: JamfServer

    @property
    def target(self) -> str:
        """``clients.jamfmcp`` or ``users.mcp-basic``."""
        return f"{self.kind}s.{self.name}"


@dataclass(frozen=True)
class PrivilegeSet:
    """One ``[privileges.NAME]`` and the Jamf principal it is about."""

    name: str
    config: Mapping[str, Any]
    principal: JamfPrincipal


def jamf_server(config: pytest.Config, name: str) -> JamfServer:
    """The run's ``JamfServer`` for provider ``name`` (created once per process)."""
    servers = config.stash.setdefault(_servers_key, {})
    if name not in servers:
        run: AuthcheckRun = config.stash[run_key]
        servers[name] = JamfServer(name, run.policy.section("providers")[name], http=run.http)
    return servers[name]


def _principal(config: pytest.Config, kind: str, name: str) -> JamfPrincipal:
    run: AuthcheckRun = config.stash[run_key]
    entry = run.policy.section(f"{kind}s")[name]
    provider = entry["provider"]
    if run.policy.section("providers")[provider].get("kind") != "jamf":
        pytest.skip(f"{kind}s.{name} belongs to provider {provider}, which is not a jamf provider")
    return JamfPrincipal(name, kind, entry, jamf_server(config, provider))


def principal_token(principal: JamfPrincipal) -> TokenResult:
    """The principal's token for this run (client credentials, or a user's Basic-auth exchange)."""
    config, server = principal.config, principal.server
    if principal.kind == "client":
        if not config.get("client_secret"):
            pytest.skip(f"{principal.target} declares no client_secret")
        return server.client_token(principal.target, str(config["client_id"]), config["client_secret"])
    if not config.get("password"):
        pytest.skip(f"{principal.target} declares no password")
    return server.user_token(principal.target, str(config["username"]), config["password"])


@pytest.fixture
def jamf_provider(request: pytest.FixtureRequest) -> JamfServer:
    """The Jamf Pro server under test (tests using it run once per ``kind = "jamf"`` provider)."""
    return jamf_server(request.config, request.param)


@pytest.fixture
def jamf_client(request: pytest.FixtureRequest) -> JamfPrincipal:
    """A policy client of a Jamf provider (an API client; tests run once per such client)."""
    return _principal(request.config, "client", request.param)


@pytest.fixture
def jamf_user(request: pytest.FixtureRequest) -> JamfPrincipal:
    """A policy user of a Jamf provider (a Basic-auth account; tests run once per such user)."""
    return _principal(request.config, "user", request.param)


@pytest.fixture
def privilege_set(request: pytest.FixtureRequest) -> PrivilegeSet:
    """A ``[privileges.*]`` set whose principal is a client or user of a Jamf provider."""
    run: AuthcheckRun = request.config.stash[run_key]
    config = run.policy.section("privileges")[request.param]
    name = config["principal"]
    kind = "client" if name in run.policy.section("clients") else "user"
    return PrivilegeSet(request.param, config, _principal(request.config, kind, name))


@pytest.fixture
def jamf_client_token(jamf_client: JamfPrincipal, authcheck_record: CheckRecord) -> TokenResult:
    """The client's client-credentials token request (once per run), refused or not; exchange attached."""
    result = principal_token(jamf_client)
    authcheck_record.attach(*result.exchanges)
    return result


@pytest.fixture
def jamf_user_token(jamf_user: JamfPrincipal, authcheck_record: CheckRecord) -> TokenResult:
    """The user's token request (Basic auth at /api/v1/auth/token, once per run); exchange attached."""
    result = principal_token(jamf_user)
    authcheck_record.attach(*result.exchanges)
    return result


@pytest.fixture
def jamf_auditor(jamf_provider: JamfServer, authcheck_record: CheckRecord) -> TokenResult:
    """The provider's auditor token request; the test is skipped when the policy names no auditor."""
    if not jamf_provider.has_auditor:
        pytest.skip(f"{jamf_provider.target} declares no auditor account (username and password)")
    result = jamf_provider.auditor()
    authcheck_record.attach(*result.exchanges)
    return result


@pytest.fixture
def jamf_grant(privilege_set: PrivilegeSet, authcheck_record: CheckRecord) -> Grant:
    """What the principal is granted as configured: a client's roles (read by the auditor), a user's
    privileges from ``GET /api/v1/auth``. *Error* when it cannot be read."""
    principal = privilege_set.principal
    server = principal.server
    if principal.kind == "client":
        if not server.has_auditor:
            raise EvaluationError(f"reading the roles of {principal.target} needs the auditor account "
                                  f"(username and password) of {server.target}")
        authcheck_record.attach(*server.auditor().exchanges)
        client_id = str(principal.config["client_id"])
        integration, exchanges = server.integration(client_id)
        authcheck_record.attach(*exchanges)
        if integration is None:
            raise EvaluationError(f"no API client with the clientId of {principal.target} is listed at "
                                  "/api/v1/api-integrations")
        roles, exchanges = server.roles()
        authcheck_record.attach(*exchanges)
        return client_grant(integration, roles)
    token = principal_token(principal)
    authcheck_record.attach(*token.exchanges)
    view, exchange = server.auth_view(token)
    authcheck_record.attach(exchange)
    return user_grant(view)


@pytest.fixture
def jamf_derivation(privilege_set: PrivilegeSet) -> Derivation | None:
    """The privileges the set's ``derive`` calls need (None when it declares none)."""
    calls = privilege_set.config.get("derive")
    return derive(list(calls)) if calls else None


@pytest.fixture
def privilege_diff(privilege_set: PrivilegeSet, jamf_grant: Grant, jamf_derivation: Derivation | None,
                   authcheck_record: CheckRecord) -> PrivilegeDiff:
    """The privilege diff of the set's principal: required, granted, missing, excess, forbidden, unknown
    names; recorded as the ``privilege diff`` fact (a table in the HTML report)."""
    version = privilege_set.principal.server.version
    catalogue = shipped_catalogue(version) if version else None
    label = f"Jamf Pro {version} (shipped catalogue)" if catalogue is not None else None
    result = diff(privilege_set.principal.target, privilege_set.config, jamf_grant, catalogue=catalogue,
                  catalogue_label=label, derivation=jamf_derivation)
    authcheck_record.fact(PRIVILEGE_DIFF_FACT, result.to_fact())
    if jamf_derivation is not None:
        authcheck_record.fact("derived from calls", jamf_derivation.to_fact())
    return result


def iter_fixture_names() -> tuple[str, ...]:
    """The public fixture names of this module (documented in docs/fixtures.md)."""
    return ("jamf_provider", "jamf_client", "jamf_user", "privilege_set", "jamf_client_token", "jamf_user_token",
            "jamf_auditor", "jamf_grant", "jamf_derivation", "privilege_diff")
