"""Tenant presets: one good Jamf Pro configuration and broken variants that differ from it only
in one defect each. Every preset builds a fresh Tenant (safe to mutate).

Principals of every preset (constants below):

* API role ``MCP_ROLE_NAME`` holding exactly ``JAMFMCP_MINIMUM_READ_PRIVILEGES`` (the 10 names of
  JamfMCP's documented minimum that exist in 11.12; "Read Computer Groups" does not, ref 2.5).
* API client ``MCP_INTEGRATION_NAME`` (``MCP_CLIENT_ID`` / ``MCP_CLIENT_SECRET``), enabled, with
  that role and ``MCP_TOKEN_LIFETIME_SECONDS`` token lifetime.
* User ``AUDITOR_USERNAME`` / ``AUDITOR_PASSWORD``: CUSTOM privileges Read API Roles, Read API
  Integrations, Read Accounts (can audit roles and clients).
* User ``BASIC_USERNAME`` / ``BASIC_PASSWORD``: CUSTOM privileges = the JamfMCP minimum; gets
  user tokens of the default 30 minutes (Behaviour.user_token_lifetime_seconds = 1800, ref 1.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .behaviour import Behaviour
from .catalogue import JAMFMCP_MINIMUM_READ_PRIVILEGES, read_privileges
from .tenant import Clock, Tenant


@dataclass(frozen=True)
class UserCredentials:
    username: str
    password: str


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    display_name: str


MCP_ROLE_NAME = "JamfMCP Read-Only"
MCP_INTEGRATION_NAME = "JamfMCP Client"
MCP_CLIENT_ID = "538878d4-9744-43ed-8732-3df99d502bd6"  # the spec's example clientId
MCP_CLIENT_SECRET = "sim-mcp-secret-Q7x2Lw9pZr4Tn8Kd3Vb6"
# [U] the real default is unknown (ref 2.2); 300 s is the spec example and Behaviour's default.
MCP_TOKEN_LIFETIME_SECONDS = Behaviour().default_access_token_lifetime_seconds

AUDITOR_USERNAME = "authcheck-auditor"
AUDITOR_PASSWORD = "sim-auditor-pass-Hk3mW8qR"
AUDITOR_PRIVILEGES = ("Read API Roles", "Read API Integrations", "Read Accounts")

BASIC_USERNAME = "jamfmcp-basic"
BASIC_PASSWORD = "sim-basic-pass-Xp5nV2cJ"

MCP_CLIENT = ClientCredentials(MCP_CLIENT_ID, MCP_CLIENT_SECRET, MCP_INTEGRATION_NAME)
AUDITOR = UserCredentials(AUDITOR_USERNAME, AUDITOR_PASSWORD)
BASIC_USER = UserCredentials(BASIC_USERNAME, BASIC_PASSWORD)

# --- what each broken preset changes ---------------------------------------------------------
WRITE_PRIVILEGES = ("Create Policies", "Update Policies", "Delete Policies", "Update Computers", "Delete Computers")
MISSING_PRIVILEGE = "Read Computers"
LONG_TOKEN_LIFETIME_SECONDS = 86400
PREVIOUS_ROLE_NAME = "JamfMCP Read-Write (previous)"


def _build(*, role_privileges=JAMFMCP_MINIMUM_READ_PRIVILEGES, client_enabled: bool = True,
           lifetime: int = MCP_TOKEN_LIFETIME_SECONDS, basic_password_expired: bool = False,
           behaviour: Behaviour | None = None, clock: Clock | None = None) -> Tenant:
    t = Tenant(behaviour=behaviour or Behaviour(), clock=clock)
    t.add_role(MCP_ROLE_NAME, role_privileges)  # id "1"
    t.add_integration(MCP_INTEGRATION_NAME, [MCP_ROLE_NAME], enabled=client_enabled,
                      access_token_lifetime_seconds=lifetime, client_id=MCP_CLIENT_ID,
                      client_secret=MCP_CLIENT_SECRET)  # id 1
    t.add_user(AUDITOR_USERNAME, AUDITOR_PASSWORD, privileges=AUDITOR_PRIVILEGES, real_name="Authcheck Auditor")
    t.add_user(BASIC_USERNAME, BASIC_PASSWORD, privileges=JAMFMCP_MINIMUM_READ_PRIVILEGES,
               password_expired=basic_password_expired, real_name="JamfMCP basic-auth account")
    return t


def good_tenant(*, clock: Clock | None = None, behaviour: Behaviour | None = None) -> Tenant:
    """Least-privilege read-only role, enabled client, auditor and basic-auth users."""
    return _build(clock=clock, behaviour=behaviour)


def write_privileges_tenant(**kw) -> Tenant:
    """Defect: the client's role also holds write/delete privileges (WRITE_PRIVILEGES)."""
    return _build(role_privileges=JAMFMCP_MINIMUM_READ_PRIVILEGES + WRITE_PRIVILEGES, **kw)


def missing_read_privilege_tenant(**kw) -> Tenant:
    """Defect: the role lacks MISSING_PRIVILEGE ("Read Computers"): computers-inventory -> 403."""
    return _build(role_privileges=tuple(p for p in JAMFMCP_MINIMUM_READ_PRIVILEGES if p != MISSING_PRIVILEGE), **kw)


def disabled_client_tenant(**kw) -> Tenant:
    """Defect: the API client is disabled (token endpoint answer per
    Behaviour.disabled_client_token_response, default 401 invalid_client)."""
    return _build(client_enabled=False, **kw)


def long_token_lifetime_tenant(**kw) -> Tenant:
    """Defect: accessTokenLifetimeSeconds is one day."""
    return _build(lifetime=LONG_TOKEN_LIFETIME_SECONDS, **kw)


def expired_password_tenant(**kw) -> Tenant:
    """Defect: the basic-auth user's password has expired -> 401 USER_EXPIRED_PASSWORD."""
    return _build(basic_password_expired=True, **kw)


def invalidated_token_still_accepted_tenant(*, behaviour: Behaviour | None = None, **kw) -> Tenant:
    """Defect: invalidate-token answers 204 but the token keeps working."""
    b = behaviour or Behaviour()
    b.invalidate_token_revokes = False
    return _build(behaviour=b, **kw)


def pending_role_change_tenant(**kw) -> Tenant:
    """Defect: the client was moved from PREVIOUS_ROLE_NAME (read + write privileges) to the
    read-only role in the UI, but its secret was not rotated, so tokens still get the previous
    role (ref 2.2 [C]; BIG-RAT/jamfcpr #25 [O]). The API shows authorizationScopes = [read-only]
    while the token's ``scope`` says ``api-role:2``."""
    t = _build(**kw)
    t.add_role(PREVIOUS_ROLE_NAME, JAMFMCP_MINIMUM_READ_PRIVILEGES + WRITE_PRIVILEGES)  # id "2"
    integ = t.integration_by_client_id(MCP_CLIENT_ID)
    t.update_integration(integ.id, roles=[PREVIOUS_ROLE_NAME])
    t.rotate_client_secret(integ.id, secret=MCP_CLIENT_SECRET)  # tokens now get the previous role
    t.update_integration(integ.id, roles=[MCP_ROLE_NAME])  # the edit; no rotation afterwards
    return t


def excess_privileges_tenant(**kw) -> Tenant:
    """Defect: the role holds every Read privilege of 11.12 (127), far more than the 10 needed.
    No write privileges."""
    return _build(role_privileges=tuple(sorted(set(read_privileges()))), **kw)


PRESETS: dict[str, Callable[..., Tenant]] = {
    "good": good_tenant,
    "write_privileges": write_privileges_tenant,
    "missing_read_privilege": missing_read_privilege_tenant,
    "disabled_client": disabled_client_tenant,
    "long_token_lifetime": long_token_lifetime_tenant,
    "expired_password": expired_password_tenant,
    "invalidated_token_still_accepted": invalidated_token_still_accepted_tenant,
    "pending_role_change": pending_role_change_tenant,
    "excess_privileges": excess_privileges_tenant,
}
BROKEN_PRESETS = {k: v for k, v in PRESETS.items() if k != "good"}
