"""revocation.refused-by-api against the real IdP and the real resource API.

The control API introspects opaque tokens (RFC 7662), so it refuses a revoked one. The other API validates JWT
access tokens locally; oidc-provider declines to revoke JWT access tokens (unsupported_token_type), so there the
check cannot tell whether the API would honour a revocation and says so (not evaluated), never a pass.
"""

from __future__ import annotations

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)

import json
import re
import ssl
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import oidc_policy
from tests.idp.world import IdpSpec, IdpWorld, RunningIdp, default_clients
from tests.resource_api import ApiConfig, ResourceApi

JWT_AUDIENCE = "https://api.test"
OPAQUE_AUDIENCE = "https://api.opaque.test"
SECRET = "rv_test_7Hk2Lm9Qp4Xw1Zc6Vb3Nd8Fg5Js0Ty"
CHECK = "revocation.refused-by-api"


def _client(client_id: str) -> dict:
    return {"client_id": client_id, "client_secret": SECRET, "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "read"}


@pytest.fixture(scope="module")
def world(idp_world: IdpWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningIdp, list[ResourceApi]]]:
    idp = idp_world.start(IdpSpec(
        # The API's own client introspects tokens issued to the other clients (RFC 7662 §2.1: a protected resource
        # asks about the tokens sent to it); the test IdP lets only clients flagged so do that.
        name="revocation-api", clients=[*default_clients(), _client("rev-jwt"), _client("rev-opaque"),
                                        {**_client("resource-api"), "authcheck_defects": ["introspects-others"]}],
        extra_config={"resource_servers": {OPAQUE_AUDIENCE: {"scope": "read", "access_token_format": "opaque"}}}))
    ctx = ssl.create_default_context(cafile=str(idp.ca_pem_path))
    with urllib.request.urlopen(idp.discovery_url, context=ctx) as response:  # noqa: S310 (loopback https)
        metadata = json.load(response)
    directory = tmp_path_factory.mktemp("revocation-api-tls")
    leaf = idp_world.ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    (directory / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    roles = {"rev-jwt": "viewer", "rev-opaque": "viewer"}
    local = ApiConfig(issuer=idp.issuer, jwks_url=metadata["jwks_uri"], audience=JWT_AUDIENCE, ca_pem=idp.ca_pem_path,
                      role_of=dict(roles))
    introspecting = ApiConfig(issuer=idp.issuer, jwks_url=metadata["jwks_uri"], audience=OPAQUE_AUDIENCE,
                              ca_pem=idp.ca_pem_path, role_of=dict(roles),
                              introspection={"url": metadata["introspection_endpoint"], "client_id": "resource-api",
                                             "client_secret": SECRET})
    apis = [ResourceApi(local, directory / "cert.pem", directory / "key.pem").start(),
            ResourceApi(introspecting, directory / "cert.pem", directory / "key.pem").start()]
    yield idp, apis
    for api in apis:
        api.stop()
    idp.stop()


def _api(name: str, url: str, audience: str, client: str) -> str:
    return f"""
        [clients.{client}]
        provider = "sso"
        client_id = "{client}"
        client_secret = "${{REV_SECRET}}"
        type = "confidential"
        application = "service"
        grant_types = ["client_credentials"]
        scopes = ["read"]

        [apis.{name}]
        base_url = "{url}"
        provider = "sso"
        audience = "{audience}"
        roles = ["viewer", "developer", "admin", "owner"]

        [apis.{name}.principals]
        service = {{ client = "{client}", role = "viewer" }}

        [[apis.{name}.rules]]
        request = "GET /v1/services"
        min_role = "viewer"
        """


@pytest.fixture(scope="module")
def run(world, tmp_path_factory) -> dict:
    import os
    import subprocess
    import sys

    from tests.idp.world import DEPLOYER_SECRET

    idp, (local, introspecting) = world
    policy = oidc_policy(idp, extra=_api("local-jwt", local.url, JWT_AUDIENCE, "rev-jwt")
                         + _api("introspecting", introspecting.url, OPAQUE_AUDIENCE, "rev-opaque"))
    folder = tmp_path_factory.mktemp("revocation-api-run")
    (folder / "authcheck.toml").write_text(policy)
    env = {**os.environ, "REV_SECRET": SECRET, "DEPLOYER_SECRET": DEPLOYER_SECRET}
    completed = subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-p", "no:cacheprovider", "-m", "clients",
                                "-k", "refused_by_api", "-q", "-rfE"], cwd=folder, env=env, capture_output=True,
                               text=True, timeout=300)
    report = json.loads((folder / "reports" / "authcheck.json").read_text())
    results = {r["target"]: r for r in report["results"] if r["check"] == CHECK}
    return {"results": results, "output": completed.stdout + completed.stderr, "report": report}


def test_an_api_that_introspects_refuses_the_revoked_token(run):
    result = run["results"]["clients.rev-opaque"]
    assert result["status"] == "passed", (result, run["output"][-3000:])
    where = "apis.introspecting GET /v1/services"
    assert (result["expected"][where], result["observed"][where]) == ({"after revocation": "refused"},
                                                                      {"after revocation": "refused"})
    assert result["evidence"]["facts"][where] == {
        "before revocation": "HTTP 200", "revocation": "HTTP 200", "after revocation": "HTTP 401"}


def test_an_api_that_validates_jwts_locally_cannot_be_judged_when_the_jwt_is_not_revoked(run):
    # oidc-provider declines to revoke JWT access tokens (RFC 7009 §2.2.1 unsupported_token_type): the API keeps
    # accepting a token that was never revoked, which says nothing about the API, so the check is not evaluated.
    result = run["results"]["clients.rev-jwt"]
    assert result["status"] == "error", (result, run["output"][-3000:])
    assert result["message"].startswith("not evaluated: the provider refused to revoke the access token (HTTP 400 "
                                        "unsupported_token_type), so whether apis.local-jwt GET /v1/services honours "
                                        "revocation cannot be seen"), result["message"]
    assert result["evidence"]["exchanges"]


def test_clients_without_an_api_skip_with_the_reason(run):
    result = run["results"]["clients.deployer"]
    assert result["status"] == "skipped"
    assert "no [apis.*] of providers.sso allows clients.deployer at a GET rule" in result["message"]


def test_no_secret_or_token_reaches_the_report(run):
    blob = run["output"] + json.dumps(run["report"])
    assert SECRET not in blob
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", blob)
