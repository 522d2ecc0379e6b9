"""The strict policy the DOT provider is audited against: how its clients SHOULD be, whatever DOT's defaults are.

Secrets appear as ``${VAR}`` references; ``POLICY_ENV`` holds their values for the run.
"""

from __future__ import annotations

import textwrap

from tests.dot_idp.world import (
    DEPLOYER_SECRET,
    NATIVE_REDIRECT_URI,
    TEST_PASSWORD,
    TEST_USERNAME,
    WEB_PORTAL_SECRET,
    WEB_REDIRECT_URI,
    RunningDot,
)

POLICY_ENV = {
    "DOT_DEPLOYER_SECRET": DEPLOYER_SECRET,
    "DOT_WEB_PORTAL_SECRET": WEB_PORTAL_SECRET,
    "DOT_TEST_PASSWORD": TEST_PASSWORD,
}


def dot_policy(dot: RunningDot, *, reports: str = "reports") -> str:
    """TOML: the provider with a test user, and each client as it should be registered."""
    return textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{dot.ca_pem_path}"
        timeout = "10s"
        reports = "{reports}"

        [providers.dot]
        kind = "oidc"
        issuer = "{dot.issuer}"
        signing_algs = ["RS256"]
        access_token_max = "1h"
        features = ["revocation", "introspection"]
        test_user = {{ username = "{TEST_USERNAME}", password = "${{DOT_TEST_PASSWORD}}" }}

        [clients.deployer]
        provider = "dot"
        client_id = "ci-deployer"
        client_secret = "${{DOT_DEPLOYER_SECRET}}"
        type = "confidential"
        application = "service"
        token_endpoint_auth_method = "client_secret_basic"
        grant_types = ["client_credentials"]
        scopes = ["deploy", "read"]
        access_token_max = "15m"

        [clients.portal]
        provider = "dot"
        client_id = "web-portal"
        client_secret = "${{DOT_WEB_PORTAL_SECRET}}"
        type = "confidential"
        application = "web"
        token_endpoint_auth_method = "client_secret_basic"
        grant_types = ["authorization_code", "refresh_token"]
        response_types = ["code"]
        redirect_uris = ["{WEB_REDIRECT_URI}"]
        scopes = ["openid", "profile", "email", "read"]
        pkce = "S256"
        refresh_token_rotation = true
        access_token_max = "1h"
        id_token_max = "1h"
        refresh_token_max = "30d"

        [clients.cli]
        provider = "dot"
        client_id = "enclii-cli"
        type = "public"
        application = "native"
        grant_types = ["authorization_code", "refresh_token"]
        response_types = ["code"]
        redirect_uris = ["{NATIVE_REDIRECT_URI}"]
        scopes = ["openid", "profile", "email"]
        pkce = "S256"
        refresh_token_rotation = true
        access_token_max = "1h"
        id_token_max = "1h"
        refresh_token_max = "30d"

        [clients.retired]
        provider = "dot"
        client_id = "retired-app"
        state = "removed"
        redirect_uris = ["{WEB_REDIRECT_URI}"]
        """)
