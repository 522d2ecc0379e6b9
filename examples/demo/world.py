"""The demo world: every kind of system the policy can declare, on 127.0.0.1, each with a few deliberate defects.

- ``sso`` (the project's test IdP, oidc-provider over TLS) is configured well. It also registers clients more
  permissively than the policy declares (prefix-matched redirect URIs, 8-hour tokens, no refresh rotation, a
  removed client still registered), and the clients the platform API's principals and probes use.
- ``legacy`` is the same IdP with four misconfigurations: a certificate about to expire, a 1024-bit key in its
  JWKS, 'none' advertised as an ID token signing algorithm, its clock 10 minutes fast.
- ``jamf`` is the Jamf Pro simulator (tests/jamf_sim) with the JamfMCP read-only setup, except that its API
  role also grants 'Delete Computers' and its API client's tokens live a day.
- ``platform`` is the resource API (tests/resource_api) validating ``sso``'s tokens correctly, except that it
  answers 404 where 403 is due.
- Files in the scratch folder: the CLI's ``credentials.json`` (a real login at ``sso``) readable by everyone
  (mode 644), and JamfMCP's ``.env`` (mode 600) whose JAMF_URL ends with a slash.

Every server binds 127.0.0.1 and is stopped when the ``DemoWorld`` context ends, whatever ends it.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from tests.idp.world import (
    DEPLOYER_SECRET,
    VARIANTS,
    WEB_PORTAL_SECRET,
    IdpSpec,
    IdpWorld,
    RunningIdp,
    client_matrix_clients,
    default_signing_keys,
    public_jwks,
    run_authorization_code_flow,
    weak_rsa_jwk,
)
from tests.jamf_sim.presets import (
    AUDITOR_PASSWORD,
    BASIC_PASSWORD,
    LONG_TOKEN_LIFETIME_SECONDS,
    MCP_CLIENT_ID,
    MCP_CLIENT_SECRET,
    MCP_ROLE_NAME,
    good_tenant,
)
from tests.jamf_sim.server import JamfSimulator
from tests.jamf_sim.tenant import Tenant
from tests.resource_api import ApiConfig, ResourceApi

API_AUDIENCE = "https://api.test"
BILLING_AUDIENCE = "https://billing.test"
API_CLIENT_SECRET = "api_demo_R7t2Kx9mWq4Lc8Vn3Pz6Hb1Ys5Jd0Fg"
READ_KEY = "ek_demo_read_3h8q2w6z1v"
OLD_KEY = "ek_demo_old_9c4n7k2x5m"
TEST_PASSWORD = "demo-alice-password"
# How the platform API maps a token's client to a role (the API's own configuration, not the policy's).
API_ROLES = {"ci-viewer": "viewer", "ci-deployer": "developer", "ci-admin": "admin", "billing-sync": "viewer",
             "authcheck-expiry-probe": "viewer", "enclii-cli": "developer"}
JAMF_EXTRA_PRIVILEGE = "Delete Computers"
API_DEFECT = "404-instead-of-403"


def _api_client(client_id: str, scope: str, **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "client_secret": API_CLIENT_SECRET, "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
            "scope": scope, **extra}


def sso_spec() -> IdpSpec:
    """The good IdP with the test world's broken clients (one defect each) beside the good ones, and the
    clients of the platform API's principals and probes."""
    clients = [c for c in client_matrix_clients() if c["client_id"] != "web-portal-implicit"]
    clients += [_api_client("ci-viewer", "read"), _api_client("ci-admin", "read admin"),
                _api_client("billing-sync", "read"),
                _api_client("authcheck-expiry-probe", "read", access_token_ttl=1)]
    # sso accepts the revocation of its JWT access tokens (as providers with a revocation list do), so the platform
    # API's local JWT validation shows what it is: a revoked token keeps working until it expires
    return IdpSpec(name="sso", clients=clients, extra_config={"resource_servers": {BILLING_AUDIENCE: {"scope": "read"}},
                                                              "revoke_jwt_access_tokens": True})


def legacy_spec() -> IdpSpec:
    """The good IdP with four deliberate misconfigurations."""
    spec = VARIANTS["good"]
    spec.name = "legacy"
    spec.cert = "expiring"
    spec.clock_skew_seconds = 600
    spec.metadata_overrides = {"id_token_signing_alg_values_supported": ["RS256", "ES256", "none"]}
    published = public_jwks(spec.signing_keys or default_signing_keys())
    published["keys"].append(weak_rsa_jwk())
    spec.published_jwks = published
    return spec


def jamf_tenant() -> Tenant:
    """JamfMCP's least-privilege setup with two defects: a destructive privilege in its role, day-long tokens."""
    tenant = good_tenant()
    role = tenant.role_by_name(MCP_ROLE_NAME)
    assert role is not None
    tenant.update_role(role.id, privileges=[*role.privileges, JAMF_EXTRA_PRIVILEGE])
    integration = tenant.integration_by_client_id(MCP_CLIENT_ID)
    assert integration is not None
    tenant.update_integration(integration.id, access_token_lifetime_seconds=LONG_TOKEN_LIFETIME_SECONDS)
    return tenant


def _jwks_url(idp: RunningIdp) -> str:
    context = ssl.create_default_context(cafile=str(idp.ca_pem_path))
    with urllib.request.urlopen(idp.discovery_url, context=context, timeout=10) as response:  # noqa: S310 (loopback)
        return str(json.load(response)["jwks_uri"])


def not_yet_valid_token(idp: RunningIdp) -> str:
    """A token signed with the IdP's own key whose nbf is an hour ahead: no client of the demo IdP can ask for
    one, and the API's not-yet-valid check needs a real signature."""
    private = next(k for k in default_signing_keys() if k["kty"] == "RSA")
    key = cast(RSAPrivateKey, RSAAlgorithm.from_jwk(json.dumps(private)))
    now = int(time.time())
    claims = {"iss": idp.issuer, "aud": API_AUDIENCE, "client_id": "ci-viewer", "sub": "ci-viewer", "scope": "read",
              "iat": now, "nbf": now + 3600, "exp": now + 7200, "jti": "demo-nbf-probe"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": private["kid"], "typ": "at+jwt"})


def write_cli_credentials(idp: RunningIdp, path: Path) -> None:
    """What `enclii login` leaves behind: a real login's tokens, saved readable by everyone (the defect)."""
    login = run_authorization_code_flow(idp, scope="openid offline_access deploy",
                                        extra_params={"prompt": "consent", "resource": API_AUDIENCE})
    exp = jwt.decode(login["access_token"], options={"verify_signature": False})["exp"]
    document = {"access_token": login["access_token"], "refresh_token": login["refresh_token"], "token_type": "Bearer",
                "expires_at": datetime.fromtimestamp(exp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    os.chmod(path, 0o644)


def write_jamfmcp_env(jamf_url: str, path: Path) -> None:
    """JamfMCP's configuration, private as it should be, but with JAMF_URL ending in a slash (the defect)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(f"# JamfMCP\nJAMF_URL={jamf_url}/\nJAMF_AUTH_TYPE=client_credentials\n"
                    f"JAMF_CLIENT_ID={MCP_CLIENT_ID}\nJAMF_CLIENT_SECRET={MCP_CLIENT_SECRET}\n")
    os.chmod(path, 0o600)


class DemoWorld:
    """Starts everything on enter, stops everything on exit; ``env`` is what the policy's ${VAR}s need."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.env: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self._stack = ExitStack()

    def __enter__(self) -> DemoWorld:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        idps = self._stack.enter_context(IdpWorld(self.scratch / "idps"))
        sso = idps.start(sso_spec())
        legacy = idps.start(legacy_spec())
        jamf = self._stack.enter_context(JamfSimulator.from_trustme(jamf_tenant(), idps.ca))
        api = self._stack.enter_context(self._resource_api(idps, sso))
        home = self.scratch / "home"
        credentials = home / ".enclii" / "credentials.json"
        jamfmcp_env = home / ".config" / "jamfmcp" / ".env"
        write_cli_credentials(sso, credentials)
        write_jamfmcp_env(jamf.url, jamfmcp_env)
        self.addresses = {"sso": sso.issuer, "legacy": legacy.issuer, "jamf": jamf.url, "platform API": api.url}
        self.env = {
            "DEMO_CA_BUNDLE": str(idps.ca_pem_path), "DEMO_SSO_ISSUER": sso.issuer,
            "DEMO_LEGACY_ISSUER": legacy.issuer, "DEMO_DEPLOYER_SECRET": DEPLOYER_SECRET,
            "DEMO_PORTAL_SECRET": WEB_PORTAL_SECRET, "DEMO_TEST_PASSWORD": TEST_PASSWORD,
            "DEMO_JAMF_URL": jamf.url, "DEMO_JAMF_AUDIT_PASSWORD": AUDITOR_PASSWORD,
            "DEMO_JAMF_CLIENT_ID": MCP_CLIENT_ID, "DEMO_JAMF_CLIENT_SECRET": MCP_CLIENT_SECRET,
            "DEMO_JAMF_PASSWORD": BASIC_PASSWORD, "DEMO_JAMFMCP_ENV": str(jamfmcp_env),
            "DEMO_API_URL": api.url, "DEMO_API_CLIENT_SECRET": API_CLIENT_SECRET, "DEMO_READ_KEY": READ_KEY,
            "DEMO_OLD_KEY": OLD_KEY, "DEMO_NBF_TOKEN": not_yet_valid_token(sso),
            "DEMO_CREDENTIALS": str(credentials),
        }

    def _resource_api(self, idps: IdpWorld, sso: RunningIdp) -> ResourceApi:
        directory = self.scratch / "api-tls"
        directory.mkdir(mode=0o700)
        leaf = idps.ca.issue_cert("127.0.0.1")
        leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
        (directory / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        config = ApiConfig(issuer=sso.issuer, jwks_url=_jwks_url(sso), audience=API_AUDIENCE, ca_pem=sso.ca_pem_path,
                           role_of=dict(API_ROLES), defects={API_DEFECT}, leeway=1.0,
                           api_keys={READ_KEY: {"scopes": ["read"], "name": "read-key"},
                                     OLD_KEY: {"scopes": ["read"], "name": "old-key", "revoked": True}})
        return ResourceApi(config, directory / "cert.pem", directory / "key.pem")
