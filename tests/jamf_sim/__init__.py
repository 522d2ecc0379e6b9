"""Jamf Pro simulator (test double) for pytest-authcheck.

Built only from /work/shared/reference/jamf-pro-auth.md, the data in /work/shared/data/jamf/
(copied into ``data/``) and the JamfMCP troubleshooting guide. Behaviour the reference marks
unconfirmed/inferred is switchable through :class:`Behaviour` (``tenant.behaviour``).

    import trustme, ssl, httpx
    from tests.jamf_sim import JamfSimulator, good_tenant, MCP_CLIENT

    ca = trustme.CA()
    with JamfSimulator.from_trustme(good_tenant(), ca) as sim:
        ctx = ssl.create_default_context(); ca.configure_trust(ctx)
        r = httpx.post(sim.url + "/api/oauth/token", verify=ctx, data={
            "grant_type": "client_credentials",
            "client_id": MCP_CLIENT.client_id, "client_secret": MCP_CLIENT.client_secret})
"""

from .behaviour import Behaviour
from .catalogue import (
    CLASSIC_READ_PRIVILEGES,
    JAMF_PRO_VERSION,
    JAMFMCP_DOC_MINIMUM_PRIVILEGES,
    JAMFMCP_MINIMUM_READ_PRIVILEGES,
    PRIVILEGE_RENAMES_11_7_1_TO_11_12,
    endpoint_privileges,
    privilege_catalogue,
    read_privileges,
)
from .presets import (
    AUDITOR,
    AUDITOR_PASSWORD,
    AUDITOR_PRIVILEGES,
    AUDITOR_USERNAME,
    BASIC_PASSWORD,
    BASIC_USER,
    BASIC_USERNAME,
    BROKEN_PRESETS,
    LONG_TOKEN_LIFETIME_SECONDS,
    MCP_CLIENT,
    MCP_CLIENT_ID,
    MCP_CLIENT_SECRET,
    MCP_INTEGRATION_NAME,
    MCP_ROLE_NAME,
    MCP_TOKEN_LIFETIME_SECONDS,
    MISSING_PRIVILEGE,
    PRESETS,
    PREVIOUS_ROLE_NAME,
    WRITE_PRIVILEGES,
    ClientCredentials,
    UserCredentials,
    disabled_client_tenant,
    excess_privileges_tenant,
    expired_password_tenant,
    good_tenant,
    invalidated_token_still_accepted_tenant,
    long_token_lifetime_tenant,
    missing_read_privilege_tenant,
    pending_role_change_tenant,
    write_privileges_tenant,
)
from .server import CLASSIC_401, CLASSIC_403, JamfSimulator
from .tenant import ApiIntegration, ApiRole, Clock, JamfError, OAuthError, Tenant, Token, User

__all__ = [name for name in dir() if not name.startswith("_")]
