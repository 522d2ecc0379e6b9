"""The strict policy the LemonLDAP::NG portal is audited against (``authcheck.toml`` text).

Strict means what a careful team would declare for these three clients, not what LemonLDAP::NG happens to
do: exact redirect URIs, PKCE S256 for every code flow, refresh token rotation for the public client
(OAuth 2.0 Security BCP), short access tokens, only RS256 signatures, only code-based response types.
Secrets travel through ``${VAR}`` (see ``ENV``), never as literals.
"""

from __future__ import annotations

import textwrap

from .world import DEPLOYER_SECRET, NATIVE_REDIRECT, TEST_USER, WEB_PORTAL_SECRET, WEB_REDIRECT, RunningLlng

#: the environment the policy's ``${VAR}`` references resolve from
ENV = {
    "LLNG_DEPLOYER_SECRET": DEPLOYER_SECRET,
    "LLNG_WEB_PORTAL_SECRET": WEB_PORTAL_SECRET,
    "LLNG_TEST_PASSWORD": TEST_USER[1],
}


def llng_policy(llng: RunningLlng, *, extra: str = "") -> str:
    """The policy for the portal ``llng``: its provider with the Demo test user and the three RPs, plus a
    client the team removed (LemonLDAP::NG must not know it)."""
    return textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{llng.ca_pem_path}"
        timeout = "5s"
        reports = "reports"

        [providers.sso]
        kind = "oidc"
        issuer = "{llng.issuer}"
        signing_algs = ["RS256"]
        access_token_max = "15m"
        rfc8414 = true
        test_user = {{ username = "{TEST_USER[0]}", password = "${{LLNG_TEST_PASSWORD}}" }}

        [clients.deployer]
        provider = "sso"
        client_id = "ci-deployer"
        client_secret = "${{LLNG_DEPLOYER_SECRET}}"
        type = "confidential"
        application = "service"
        grant_types = ["client_credentials"]
        scopes = ["deploy", "read"]
        access_token_max = "15m"

        [clients.portal]
        provider = "sso"
        client_id = "web-portal"
        client_secret = "${{LLNG_WEB_PORTAL_SECRET}}"
        type = "confidential"
        application = "web"
        token_endpoint_auth_method = "client_secret_basic"
        grant_types = ["authorization_code", "refresh_token"]
        redirect_uris = ["{WEB_REDIRECT}"]
        scopes = ["openid", "profile", "email"]
        pkce = "S256"
        access_token_max = "15m"
        id_token_max = "15m"

        [clients.cli]
        provider = "sso"
        client_id = "enclii-cli"
        type = "public"
        application = "native"
        grant_types = ["authorization_code", "refresh_token"]
        redirect_uris = ["{NATIVE_REDIRECT}"]
        scopes = ["openid", "profile", "email"]
        pkce = "S256"
        refresh_token_rotation = true
        refresh_token_max = "30d"
        access_token_max = "15m"
        id_token_max = "15m"

        [clients.retired]
        provider = "sso"
        client_id = "retired-app"
        state = "removed"
        redirect_uris = ["{WEB_REDIRECT}"]
        """) + textwrap.dedent(extra)
