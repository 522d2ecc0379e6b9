"""The client suites against a real oidc-provider IdP: control clients pass, each broken client fails its check.

The "clients" IdP (``tests.idp.world.client_matrix_spec``) registers the good clients and, beside them, one
broken client per check that differs from its control only in its defect. One ``pytest --authcheck`` run
over a policy listing them all gives the whole matrix.
"""

from __future__ import annotations

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)

import re
import textwrap

import pytest

from tests.conftest import oidc_policy
from tests.idp.world import WEB_PORTAL_SECRET, client_matrix_spec

STALE_SECRET = "dpl_stale_0000000000000000000000000000000000"
TEST_PASSWORD = "alice-test-password-1234"


def client(name: str, client_id: str, **keys: object) -> str:
    lines = [f"[clients.{name}]", 'provider = "sso"', f'client_id = "{client_id}"']
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{key} = [" + ", ".join(f'"{v}"' for v in value) + "]")
        else:
            lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n\n"


def cc(name: str, client_id: str, **keys: object) -> str:
    return client(name, client_id, client_secret="${DEPLOYER_SECRET}", type="confidential", application="service",
                  grant_types=["client_credentials"], scopes=["deploy", "read"], **keys)


def native(name: str, client_id: str, **keys: object) -> str:
    return client(name, client_id, type="public", application="native",
                  grant_types=["authorization_code", "refresh_token"], redirect_uris=["http://127.0.0.1/callback"],
                  scopes=["openid", "profile", "email"], pkce="S256", refresh_token_rotation=True, **keys)


def web(name: str, client_id: str, *, refresh: bool = False, **keys: object) -> str:
    grants = ["authorization_code", "refresh_token"] if refresh else ["authorization_code"]
    scopes = ["openid", "profile", "email"] if refresh else ["openid", "profile", "email", "read"]
    return client(name, client_id, client_secret="${WEB_PORTAL_SECRET}", type="confidential", application="web",
                  grant_types=grants, redirect_uris=["https://app.test/auth/callback"], scopes=scopes, **keys)


CONTROLS = (cc("deployer", "ci-deployer", access_token_max="15m") + native("cli", "enclii-cli")
            + web("portal", "web-portal") + web("portal-rt", "web-portal-rt", refresh=True)
            + client("retired", "retired-app", state="removed", redirect_uris=["https://app.test/auth/callback"]))
BROKEN = (cc("stale-secret", "ci-deployer", access_token_max="15m").replace("${DEPLOYER_SECRET}", "${STALE_SECRET}")
          + client("legacy", "legacy-portal", state="removed", redirect_uris=["https://app.test/auth/callback"])
          + client("portal-as-public", "web-portal", type="public", application="web", grant_types=["authorization_code"],
                   redirect_uris=["https://app.test/auth/callback"], scopes=["openid", "profile", "email", "read"])
          + web("portal-moved", "web-portal").replace("https://app.test/auth/callback", "https://app.test/callback")
          + cc("deployer-wide", "ci-deployer-wide")
          + cc("deployer-long", "ci-deployer-long", access_token_max="1h")
          + cc("deployer-8h", "ci-deployer-8h", access_token_max="1h")
          + web("portal-cc", "web-portal-cc") + web("portal-implicit", "web-portal-implicit")
          + web("portal-prefix", "web-portal-prefix") + web("portal-norevoke", "web-portal-norevoke", refresh=True)
          + native("cli-pkce-optional", "cli-pkce-optional") + native("cli-exact-port", "cli-exact-port")
          + native("cli-no-rotation", "cli-no-rotation") + native("ghost-cli", "unregistered-cli"))


def matrix_policy(idp, *, clients: str = CONTROLS + BROKEN, test_user: bool = True) -> str:
    provider = 'test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }' if test_user else ""
    head = oidc_policy(idp, provider=provider)
    return head[:head.index("[clients.deployer]")] + textwrap.dedent(clients)


ENV = {"WEB_PORTAL_SECRET": WEB_PORTAL_SECRET, "STALE_SECRET": STALE_SECRET, "SSO_TEST_PASSWORD": TEST_PASSWORD}


@pytest.fixture(scope="module")
def clients_idp(idp_world):
    return idp_world.start(client_matrix_spec())


def results_by_target(run) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for result in run.report["results"]:
        out.setdefault(result["target"], {})[result["check"]] = result
    return out
