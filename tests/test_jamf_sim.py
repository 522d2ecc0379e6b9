"""Tests of the Jamf Pro simulator (tests/jamf_sim). Facts cited as "ref N" are sections of
/work/shared/reference/jamf-pro-auth.md."""

from __future__ import annotations

import re
import socket
import ssl
import time
from datetime import datetime, timezone

import httpx
import jwt
import pytest
import trustme

from tests.jamf_sim import (
    AUDITOR,
    AUDITOR_PRIVILEGES,
    BASIC_USER,
    BROKEN_PRESETS,
    ClientCredentials,
    CLASSIC_401,
    CLASSIC_403,
    JAMFMCP_DOC_MINIMUM_PRIVILEGES,
    JAMFMCP_MINIMUM_READ_PRIVILEGES,
    LONG_TOKEN_LIFETIME_SECONDS,
    MCP_CLIENT,
    MCP_ROLE_NAME,
    MCP_TOKEN_LIFETIME_SECONDS,
    MISSING_PRIVILEGE,
    PRESETS,
    PREVIOUS_ROLE_NAME,
    WRITE_PRIVILEGES,
    Behaviour,
    Clock,
    JamfSimulator,
    Tenant,
    endpoint_privileges,
    disabled_client_tenant,
    good_tenant,
    privilege_catalogue,
    read_privileges,
)

ADMIN = ("sim-admin", "sim-admin-pass")


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_ctx(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def serve(ca, client_ctx):
    """serve(tenant) -> (sim, httpx.Client); everything is stopped at teardown."""
    stack = []

    def _serve(tenant: Tenant):
        sim = JamfSimulator.from_trustme(tenant, ca).start()
        client = httpx.Client(base_url=sim.url, verify=client_ctx, timeout=5)
        stack.append((sim, client))
        return sim, client

    yield _serve
    for sim, client in stack:
        client.close()
        sim.stop()


@pytest.fixture
def good(serve):
    tenant = good_tenant()
    tenant.add_user(*ADMIN, privilege_set="ADMINISTRATOR")
    return serve(tenant)


def oauth(client, creds=MCP_CLIENT, path="/api/oauth/token", **extra):
    data = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret}
    data.update(extra)
    return client.post(path, data=data, headers={"Accept": "application/json"})


def client_token(client, **kw) -> str:
    r = oauth(client, **kw)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def user_token(client, username, password) -> str:
    r = client.post("/api/v1/auth/token", auth=(username, password))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_api_error(r: httpx.Response, status: int, code: str | None):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["httpStatus"] == status
    if code is None:
        assert body["errors"] == []
    else:
        assert [e["code"] for e in body["errors"]] == [code]
        assert set(body["errors"][0]) == {"code", "field", "description", "id"}
        if status in (401, 403):
            assert body["errors"][0]["field"] is None  # ref 0: null in real 401s


def assert_invalid_token(r):  # ref 1.7 [O]
    assert_api_error(r, 401, "INVALID_TOKEN")
    assert r.json()["errors"][0]["description"] == "Unauthorized"


# ---------------------------------------------------------------------------- server lifecycle
def test_starts_fast_on_loopback_and_stops_cleanly(ca, client_ctx):
    t0 = time.perf_counter()
    sim = JamfSimulator.from_trustme(good_tenant(), ca).start()
    try:
        assert time.perf_counter() - t0 < 0.5
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", sim.url) and sim.port > 0
        assert sim._server.server_address[0] == "127.0.0.1"
        r = httpx.get(sim.url + "/api/v1/jamf-pro-version", verify=client_ctx)
        assert r.status_code == 401
    finally:
        t1 = time.perf_counter()
        port = sim.port
        sim.stop()
        assert time.perf_counter() - t1 < 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def test_cert_and_key_files_constructor(ca, client_ctx, tmp_path):
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    with JamfSimulator(good_tenant(), cert, key) as sim:
        with httpx.Client(base_url=sim.url, verify=client_ctx) as c:
            assert oauth(c).status_code == 200
    # an untrusting client fails TLS verification
    with JamfSimulator(good_tenant(), cert, key) as sim:
        with pytest.raises(httpx.ConnectError):
            httpx.get(sim.url + "/api/v1/jamf-pro-version", verify=ssl.create_default_context())


# ---------------------------------------------------------------------------- basic-auth tokens
def test_user_token_happy_path(good):
    sim, c = good
    r = c.post("/api/v1/auth/token", auth=(BASIC_USER.username, BASIC_USER.password))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"token", "expires"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["expires"])  # ref 1.1
    expires = datetime.strptime(body["expires"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(expires.timestamp() - sim.tenant.clock.now() - 1800) < 5  # 30 minutes, ref 1.1
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS512"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["subject-type"] == "JSS_USER_ID" and claims["authentication-type"] == "JSS"
    assert claims["authenticated-app"] == "GENERIC" and claims["ldap-server-id"] == -1
    assert claims["sub"] == sim.tenant.users[BASIC_USER.username].id
    assert c.get("/api/v1/computers-inventory", headers=bearer(body["token"])).status_code == 200


def test_user_token_errors(good):
    sim, c = good
    assert_api_error(c.post("/api/v1/auth/token", auth=(BASIC_USER.username, "wrong")), 401, None)  # ref 1.1 [O]
    assert_api_error(c.post("/api/v1/auth/token", auth=("nobody", "x")), 401, None)
    assert_api_error(c.post("/api/v1/auth/token"), 401, None)
    sim.tenant.add_user("sso-only", "pw", sso_only=True)  # ref 0: API auth does not support SSO
    assert_api_error(c.post("/api/v1/auth/token", auth=("sso-only", "pw")), 401, None)
    sim.tenant.add_user("disabled", "pw", enabled=False)
    assert_api_error(c.post("/api/v1/auth/token", auth=("disabled", "pw")), 401, None)
    sim.tenant.add_user("forced", "pw", force_password_change=True)
    assert_api_error(c.post("/api/v1/auth/token", auth=("forced", "pw")), 401, "USER_EXPIRED_PASSWORD")
    # [U] switch: a separate "API access" flag on the account
    sim.tenant.add_user("no-api", "pw", api_access=False)
    assert c.post("/api/v1/auth/token", auth=("no-api", "pw")).status_code == 200
    sim.tenant.behaviour.require_user_api_access_flag = True
    assert_api_error(c.post("/api/v1/auth/token", auth=("no-api", "pw")), 401, None)
    # switch: bad-login body variant
    sim.tenant.behaviour.bad_login_body = "invalid_credentials"
    assert_api_error(c.post("/api/v1/auth/token", auth=("nobody", "x")), 401, "INVALID_CREDENTIALS")


def test_legacy_token_endpoints(good):
    sim, c = good
    r = c.post("/api/auth/tokens", auth=(BASIC_USER.username, BASIC_USER.password))
    assert r.status_code == 200 and isinstance(r.json()["expires"], int)  # ref 1.6: epoch ms
    tok = r.json()["token"]
    acc = c.get("/api/auth", headers=bearer(tok)).json()["account"]
    assert isinstance(acc["id"], int) and "isMultiSiteAdmin" in acc
    r2 = c.post("/api/auth/keepAlive", headers=bearer(tok))
    assert r2.status_code == 200 and isinstance(r2.json()["expires"], int)
    assert c.post("/api/auth/invalidateToken", headers=bearer(r2.json()["token"])).status_code == 204
    sim.tenant.behaviour.serve_legacy_auth_endpoints = False
    fresh = user_token(c, BASIC_USER.username, BASIC_USER.password)
    assert_api_error(c.post("/api/auth/tokens", headers=bearer(fresh)), 404, "NOT_FOUND")
    assert_api_error(c.get("/api/auth", headers=bearer(fresh)), 404, "NOT_FOUND")


# ---------------------------------------------------------------------------- keep-alive / invalidate
def test_keep_alive_replaces_user_token(good):
    sim, c = good
    old = user_token(c, BASIC_USER.username, BASIC_USER.password)
    sim.tenant.clock.advance(600)
    r = c.post("/api/v1/auth/keep-alive", headers=bearer(old))
    assert r.status_code == 200 and set(r.json()) == {"token", "expires"}
    new = r.json()["token"]
    assert new != old
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(old)))  # ref 1.2
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(new)).status_code == 200
    tok = sim.tenant.tokens[new]
    assert tok.expires_at - sim.tenant.clock.now() == pytest.approx(1800, abs=2)  # extended


def test_keep_alive_with_oauth_token_is_a_switch(good):
    sim, c = good
    tok = client_token(c)
    assert_invalid_token(c.post("/api/v1/auth/keep-alive", headers=bearer(tok)))  # [U] default: rejected
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(tok)).status_code == 200  # still alive
    sim.tenant.behaviour.oauth_keep_alive = "renew"
    r = c.post("/api/v1/auth/keep-alive", headers=bearer(tok))
    assert r.status_code == 200
    assert c.get("/api/v1/computers-inventory", headers=bearer(r.json()["token"])).status_code == 200


def test_invalidate_token(good):
    sim, c = good
    tok = user_token(c, BASIC_USER.username, BASIC_USER.password)
    r = c.post("/api/v1/auth/invalidate-token", headers=bearer(tok))
    assert r.status_code == 204 and r.content == b""  # ref 1.3
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(tok)))
    assert_invalid_token(c.post("/api/v1/auth/invalidate-token", headers=bearer(tok)))
    otok = client_token(c)
    assert c.post("/api/v1/auth/invalidate-token", headers=bearer(otok)).status_code == 204
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(otok)))
    sim.tenant.behaviour.oauth_invalidate_token = "ignore"  # [U] switch
    otok = client_token(c)
    assert c.post("/api/v1/auth/invalidate-token", headers=bearer(otok)).status_code == 204
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(otok)).status_code == 200


# ---------------------------------------------------------------------------- expiry (injectable clock)
def test_token_expiry_with_injected_clock(good):
    sim, c = good
    clock = sim.tenant.clock
    otok = client_token(c)
    utok = user_token(c, BASIC_USER.username, BASIC_USER.password)
    clock.advance(MCP_TOKEN_LIFETIME_SECONDS - 2)
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(otok)).status_code == 200
    clock.advance(2)
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(otok)))
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(utok)).status_code == 200
    clock.advance(1800 - MCP_TOKEN_LIFETIME_SECONDS)
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(utok)))
    assert_invalid_token(c.post("/api/v1/auth/keep-alive", headers=bearer(utok)))


def test_real_time_expiry_with_short_lifetime(good):
    sim, c = good
    sim.tenant.update_integration(1, access_token_lifetime_seconds=1)
    r = oauth(c)
    assert r.json()["expires_in"] == 0  # lifetime - 1, ref 1.5 [O]
    time.sleep(1.05)
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer(r.json()["access_token"])))


def test_missing_and_garbage_tokens(good):
    _, c = good
    assert_invalid_token(c.get("/api/v1/jamf-pro-version"))
    assert_invalid_token(c.get("/api/v1/jamf-pro-version", headers=bearer("eyJhbGciOiJIUzI1NiJ9.e30.x")))
    # Basic auth is only for POST /v1/auth/token (ref 0); elsewhere it is not a bearer token
    assert_invalid_token(c.get("/api/v1/computers-inventory", auth=(BASIC_USER.username, BASIC_USER.password)))
    # unknown /api path: authenticate first, then 404
    assert_invalid_token(c.get("/api/v1/no-such-thing"))


# ---------------------------------------------------------------------------- OAuth client credentials
@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/v1/oauth/token"])
def test_oauth_happy_path_both_paths(good, path):
    sim, c = good
    r = oauth(c, path=path)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "scope", "token_type", "expires_in"}  # ref 1.5 / 5.5
    assert body["token_type"] == "Bearer"
    role_id = sim.tenant.role_by_name(MCP_ROLE_NAME).id
    assert body["scope"] == f"api-role:{role_id}"
    assert body["expires_in"] == MCP_TOKEN_LIFETIME_SECONDS - 1
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == claims["aud"] == MCP_CLIENT.client_id
    assert claims["subject-type"] == "REGISTERED_CLIENT_ID"
    assert claims["authentication-type"] == "CLIENT_CREDENTIALS"
    assert claims["scope"] == [f"api-role:{role_id}"]
    assert claims["exp"] - claims["iat"] == MCP_TOKEN_LIFETIME_SECONDS
    sim.tenant.behaviour.oauth_expires_in_is_lifetime_minus_one = False
    assert oauth(c, path=path).json()["expires_in"] == MCP_TOKEN_LIFETIME_SECONDS


def assert_oauth_error(r, status, error):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and "error_description" in body
    assert body["error_uri"] == "https://datatracker.ietf.org/doc/html/rfc6749#section-5.2"


@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/v1/oauth/token"])
def test_oauth_errors(good, path):
    sim, c = good
    assert_oauth_error(oauth(c, path=path, client_secret="wrong"), 401, "invalid_client")
    assert_oauth_error(oauth(c, path=path, client_id="00000000-0000-0000-0000-000000000000"), 401, "invalid_client")
    assert_oauth_error(oauth(c, path=path, grant_type="password"), 400, "unsupported_grant_type")
    assert_oauth_error(c.post(path, data={"grant_type": "client_credentials", "client_id": MCP_CLIENT.client_id}),
                       400, "invalid_request")
    assert_oauth_error(c.post(path, data={"client_id": "x", "client_secret": "y"}), 400, "invalid_request")
    # JSON instead of a form body is not understood (form is required, ref 1.5)
    assert_oauth_error(c.post(path, json={"grant_type": "client_credentials", "client_id": MCP_CLIENT.client_id,
                                          "client_secret": MCP_CLIENT.client_secret}), 400, "invalid_request")
    assert_oauth_error(oauth(c, path=path, scope="api-role:99"), 400, "invalid_scope")
    assert_oauth_error(oauth(c, path=path, scope="Read Computers"), 400, "invalid_scope")
    # Basic client auth is not documented for Jamf [U] -> switch
    r = c.post(path, data={"grant_type": "client_credentials"}, auth=(MCP_CLIENT.client_id, MCP_CLIENT.client_secret))
    assert_oauth_error(r, 400, "invalid_request")
    sim.tenant.behaviour.oauth_accept_client_secret_basic = True
    r = c.post(path, data={"grant_type": "client_credentials"}, auth=(MCP_CLIENT.client_id, MCP_CLIENT.client_secret))
    assert r.status_code == 200


def test_oauth_scope_narrowing(good):
    sim, c = good
    t = sim.tenant
    t.add_role("Auditing", ["Read API Roles"])
    t.update_integration(1, roles=[MCP_ROLE_NAME, "Auditing"])
    t.rotate_client_secret(1, secret=MCP_CLIENT.client_secret)
    assert oauth(c).json()["scope"] == "api-role:1 api-role:2"
    r = oauth(c, scope="api-role:2")
    assert r.json()["scope"] == "api-role:2"
    h = bearer(r.json()["access_token"])
    assert c.get("/api/v1/api-roles", headers=h).status_code == 200
    assert c.get("/api/v1/computers-inventory", headers=h).status_code == 403


def test_disabled_client(serve):
    sim, c = serve(disabled_client_tenant())
    assert_oauth_error(oauth(c), 401, "invalid_client")  # [U] default
    sim.tenant.behaviour.disabled_client_token_response = "empty_token"
    r = oauth(c)
    assert r.status_code == 200 and r.json()["access_token"] == ""  # jamf-cli's "is it enabled?" case
    # secrets cannot be generated for a disabled client [T] -> 400 ApiError
    sim.tenant.add_user(*ADMIN, privilege_set="ADMINISTRATOR")
    admin = user_token(c, *ADMIN)
    assert_api_error(c.post("/api/v1/api-integrations/1/client-credentials", headers=bearer(admin)), 400,
                     "INVALID_FIELD")


def test_disabling_client_does_not_kill_live_tokens(good):
    sim, c = good
    tok = client_token(c)
    sim.tenant.update_integration(1, enabled=False)
    assert_oauth_error(oauth(c), 401, "invalid_client")
    assert c.get("/api/v1/computers-inventory", headers=bearer(tok)).status_code == 200  # ref 2.2 [T]
    sim.tenant.update_integration(1, enabled=True)
    tok2 = client_token(c)
    sim.tenant.behaviour.disable_revokes_live_tokens = True
    sim.tenant.delete_integration(1)
    assert_invalid_token(c.get("/api/v1/computers-inventory", headers=bearer(tok2)))


# ---------------------------------------------------------------------------- /api/v1/auth
def test_v1_auth_user_view(good):
    sim, c = good
    tok = user_token(c, AUDITOR.username, AUDITOR.password)
    r = c.get("/api/v1/auth", headers=bearer(tok))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"account", "accountGroups", "sites", "authenticationType"}
    assert body["authenticationType"] == "JSS"
    acc = body["account"]
    assert acc["username"] == AUDITOR.username and isinstance(acc["id"], str)
    assert acc["accessLevel"] == "FullAccess" and acc["privilegeSet"] == "CUSTOM"
    assert acc["privilegesBySite"] == {"-1": sorted(AUDITOR_PRIVILEGES)}
    sim.tenant.behaviour.full_access_site_key = "1"
    assert list(c.get("/api/v1/auth", headers=bearer(tok)).json()["account"]["privilegesBySite"]) == ["1"]


def test_v1_auth_site_access_and_privilege_sets(good):
    sim, c = good
    t = sim.tenant
    sid = t.add_site("Eau Claire")
    t.add_user("site-admin", "pw", privileges=["Read Computers"], site_id=sid)
    t.add_user("auditor2", "pw", privilege_set="AUDITOR")
    acc = c.get("/api/v1/auth", headers=bearer(user_token(c, "site-admin", "pw"))).json()
    assert acc["account"]["accessLevel"] == "SiteAccess"
    assert acc["account"]["privilegesBySite"] == {sid: ["Read Computers"]}
    assert acc["sites"] == [{"id": sid, "name": "Eau Claire"}]
    aud = c.get("/api/v1/auth", headers=bearer(user_token(c, "auditor2", "pw"))).json()["account"]
    assert aud["privilegeSet"] == "AUDITOR"
    assert set(aud["privilegesBySite"]["-1"]) == set(read_privileges())


def test_v1_auth_client_credentials_view_is_a_switch(good):
    sim, c = good
    tok = client_token(c)
    body = c.get("/api/v1/auth", headers=bearer(tok)).json()
    assert body["authenticationType"] == "CLIENT_CREDENTIALS"
    assert body["account"]["privilegesBySite"] == {}  # [U] default: no privileges listed
    sim.tenant.behaviour.v1_auth_for_client_credentials = "with_privileges"
    body = c.get("/api/v1/auth", headers=bearer(tok)).json()
    assert body["account"]["privilegesBySite"]["-1"] == sorted(JAMFMCP_MINIMUM_READ_PRIVILEGES)


# ---------------------------------------------------------------------------- version
def test_jamf_pro_version(good):
    _, c = good
    r = c.get("/api/v1/jamf-pro-version", headers=bearer(client_token(c)))
    assert r.status_code == 200 and re.fullmatch(r"11\.12\.\d+-t\d+", r.json()["version"])
    assert_invalid_token(c.get("/api/v1/jamf-pro-version"))


# ---------------------------------------------------------------------------- roles / integrations
def test_api_roles_listing_and_paging(good):
    sim, c = good
    t = sim.tenant
    for name in ["Zeta", "Alpha", "Mid"]:
        t.add_role(name, ["Read Sites"])
    h = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    body = c.get("/api/v1/api-roles", headers=h).json()
    assert body["totalCount"] == 4 and [r["id"] for r in body["results"]] == ["1", "2", "3", "4"]
    role = body["results"][0]
    assert role == {"id": "1", "displayName": MCP_ROLE_NAME, "privileges": list(JAMFMCP_MINIMUM_READ_PRIVILEGES)}
    p = c.get("/api/v1/api-roles", headers=h, params={"page": 1, "page-size": 3}).json()
    assert p["totalCount"] == 4 and [r["id"] for r in p["results"]] == ["4"]
    s = c.get("/api/v1/api-roles", headers=h, params={"sort": "displayName:desc"}).json()
    assert [r["displayName"] for r in s["results"]] == ["Zeta", "Mid", MCP_ROLE_NAME, "Alpha"]
    f = c.get("/api/v1/api-roles", headers=h, params={"filter": 'displayName=="*Jamf*"'}).json()
    assert f["totalCount"] == 1 and f["results"][0]["id"] == "1"
    f = c.get("/api/v1/api-roles", headers=h, params={"filter": "id=in=(2,4),displayName==Alpha"}).json()
    assert {r["id"] for r in f["results"]} == {"2", "3", "4"}
    assert c.get("/api/v1/api-roles/1", headers=h).json()["displayName"] == MCP_ROLE_NAME
    assert_api_error(c.get("/api/v1/api-roles/99", headers=h), 404, "NOT_FOUND")
    assert_api_error(c.get("/api/v1/api-roles", headers=h, params={"sort": "privileges:asc"}), 400, "INVALID_FIELD")


def test_api_roles_need_read_api_roles(good):
    _, c = good
    # the MCP client and the basic user do not hold Read API Roles -> documented 403 ApiError
    assert_api_error(c.get("/api/v1/api-roles", headers=bearer(client_token(c))), 403, "BAD_PERMISSIONS")
    r = c.get("/api/v1/api-integrations", headers=bearer(user_token(c, BASIC_USER.username, BASIC_USER.password)))
    assert_api_error(r, 403, "BAD_PERMISSIONS")
    assert r.json()["errors"][0]["description"] == "Insufficient privileges"


def test_api_integrations_listing(good):
    sim, c = good
    h = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    body = c.get("/api/v1/api-integrations", headers=h).json()
    assert body["totalCount"] == 1
    integ = body["results"][0]
    assert integ == {"id": 1, "authorizationScopes": [MCP_ROLE_NAME], "displayName": "JamfMCP Client",
                     "enabled": True, "accessTokenLifetimeSeconds": MCP_TOKEN_LIFETIME_SECONDS,
                     "appType": "CLIENT_CREDENTIALS", "clientId": MCP_CLIENT.client_id}
    assert MCP_CLIENT.client_secret not in c.get("/api/v1/api-integrations", headers=h).text  # never shown
    sim.tenant.add_integration("No secret yet", [MCP_ROLE_NAME], generate_secret=False)
    body = c.get("/api/v1/api-integrations", headers=h, params={"page-size": 1, "page": 1}).json()
    assert body["totalCount"] == 2 and body["results"][0]["appType"] == "NONE"
    assert c.get("/api/v1/api-integrations/1", headers=h).json()["id"] == 1
    assert_api_error(c.get("/api/v1/api-integrations/42", headers=h), 404, "NOT_FOUND")


def test_role_and_integration_crud(good):
    sim, c = good
    h = bearer(user_token(c, *ADMIN))
    r = c.post("/api/v1/api-roles", headers=h, json={"displayName": "New", "privileges": ["Read Sites"]})
    assert r.status_code == 200 and r.json()["id"] == "2"  # ref 2.1: 200 on create
    assert_api_error(c.post("/api/v1/api-roles", headers=h, json={"displayName": "Bad", "privileges": ["Read Computer Groups"]}),
                     400, "INVALID_PRIVILEGE")
    r = c.post("/api/v1/api-integrations", headers=h,
               json={"displayName": "New client", "authorizationScopes": ["New"], "enabled": True,
                     "accessTokenLifetimeSeconds": 120})
    assert r.status_code == 201 and r.json()["appType"] == "NONE"  # ref 2.2
    iid = r.json()["id"]
    assert_api_error(c.delete("/api/v1/api-roles/2", headers=h), 409, "ROLE_IN_USE")  # ref 2.1
    r = c.post(f"/api/v1/api-integrations/{iid}/client-credentials", headers=h)
    creds = r.json()
    assert r.status_code == 200 and set(creds) == {"clientId", "clientSecret"}
    r = oauth(c, creds=ClientCredentials(creds["clientId"], creds["clientSecret"], "New client"))
    assert r.json()["expires_in"] == 119 and r.json()["scope"] == "api-role:2"
    assert c.put("/api/v1/api-roles/2", headers=h, json={"displayName": "Renamed"}).status_code == 200
    assert c.get(f"/api/v1/api-integrations/{iid}", headers=h).json()["authorizationScopes"] == ["Renamed"]
    assert c.delete(f"/api/v1/api-integrations/{iid}", headers=h).status_code == 204
    assert c.delete("/api/v1/api-roles/2", headers=h).status_code == 204
    assert_api_error(c.delete("/api/v1/api-roles/2", headers=h), 404, "NOT_FOUND")


def test_api_role_privileges_catalogue(good):
    _, c = good
    h = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    privs = c.get("/api/v1/api-role-privileges", headers=h).json()["privileges"]
    assert len(privs) == 501 and privs == sorted(privs)
    hits = c.get("/api/v1/api-role-privileges/search", headers=h, params={"name": "Flush"}).json()["privileges"]
    assert hits and all("flush" in p.lower() for p in hits)
    assert c.get("/api/v1/api-role-privileges", headers=bearer(client_token(c))).status_code == 403


# ---------------------------------------------------------------------------- rotation semantics
def test_secret_rotation(good):
    sim, c = good
    h = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    # Create API Integrations is needed to rotate (ref 2.2), the auditor only reads
    assert_api_error(c.post("/api/v1/api-integrations/1/client-credentials", headers=h), 403, "BAD_PERMISSIONS")
    live = client_token(c)
    admin = bearer(user_token(c, *ADMIN))
    r = c.post("/api/v1/api-integrations/1/client-credentials", headers=admin)
    assert r.status_code == 200
    new = r.json()
    assert new["clientId"] == MCP_CLIENT.client_id and new["clientSecret"] != MCP_CLIENT.client_secret
    assert_oauth_error(oauth(c), 401, "invalid_client")  # old secret dead [C]
    assert oauth(c, creds=ClientCredentials(new["clientId"], new["clientSecret"], "")).status_code == 200
    assert c.get("/api/v1/computers-inventory", headers=bearer(live)).status_code == 200  # [U] default
    assert_api_error(c.post("/api/v1/api-integrations/77/client-credentials", headers=admin), 404, "NOT_FOUND")


def test_role_assignment_change_needs_rotation(good):
    sim, c = good
    t = sim.tenant
    t.add_role("Role reader", ["Read API Roles"])
    t.set_integration_roles(1, [MCP_ROLE_NAME, "Role reader"])
    assert t.pending_role_change(1)
    r = oauth(c)
    assert r.json()["scope"] == "api-role:1"  # unchanged until rotation [C]/[T] ref 2.2
    assert c.get("/api/v1/api-roles", headers=bearer(r.json()["access_token"])).status_code == 403
    admin = bearer(user_token(c, *ADMIN))
    shown = c.get("/api/v1/api-integrations/1", headers=admin).json()["authorizationScopes"]
    assert shown == [MCP_ROLE_NAME, "Role reader"]  # the API shows the configured roles
    secret = c.post("/api/v1/api-integrations/1/client-credentials", headers=admin).json()["clientSecret"]
    assert not t.pending_role_change(1)
    r = oauth(c, creds=ClientCredentials(MCP_CLIENT.client_id, secret, ""))
    assert r.json()["scope"] == "api-role:1 api-role:2"
    assert c.get("/api/v1/api-roles", headers=bearer(r.json()["access_token"])).status_code == 200
    # switch: role changes effective immediately
    t.behaviour.role_assignment_change_requires_rotation = False
    t.set_integration_roles(1, [MCP_ROLE_NAME])
    assert oauth(c, creds=ClientCredentials(MCP_CLIENT.client_id, secret, "")).json()["scope"] == "api-role:1"


def test_role_privilege_edit_applies_without_rotation(good):
    sim, c = good
    t = sim.tenant
    tok = client_token(c)
    assert c.get("/api/v1/api-roles", headers=bearer(tok)).status_code == 403
    t.update_role("1", privileges=list(JAMFMCP_MINIMUM_READ_PRIVILEGES) + ["Read API Roles"])
    assert c.get("/api/v1/api-roles", headers=bearer(tok)).status_code == 200  # live token, ref 2.2 [C]
    t.update_role("1", privileges=[p for p in JAMFMCP_MINIMUM_READ_PRIVILEGES if p != "Read Computers"])
    assert c.get("/api/v1/computers-inventory", headers=bearer(tok)).status_code == 403
    # switch: the other reading (privilege snapshot at rotation)
    t.behaviour.role_privilege_edit_requires_rotation = True
    t.rotate_client_secret(1, secret=MCP_CLIENT.client_secret)
    tok = client_token(c)
    t.update_role("1", privileges=list(JAMFMCP_MINIMUM_READ_PRIVILEGES))
    assert c.get("/api/v1/computers-inventory", headers=bearer(tok)).status_code == 403
    t.rotate_client_secret(1, secret=MCP_CLIENT.client_secret)
    assert c.get("/api/v1/computers-inventory", headers=bearer(client_token(c))).status_code == 200


# ---------------------------------------------------------------------------- endpoint-map enforcement
def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", template)


def test_every_get_endpoint_enforces_the_map(good):
    sim, c = good
    t = sim.tenant
    user = t.add_user("probe", "pw")
    tok = bearer(user_token(c, "probe", "pw"))
    renames = t.behaviour.privilege_renames
    catalogue = set(privilege_catalogue())
    checked = 0
    for key, meta in endpoint_privileges().items():
        method, template = key.split(" ", 1)
        if method != "GET":
            continue
        path = _concrete(template)
        required = set(meta["x-required-privileges"] or ())
        if meta["x-authentication-required"] is False:
            assert c.get(path).status_code == 200, key
            continue
        assert_invalid_token(c.get(path))
        user.privileges = frozenset(required)
        assert c.get(path, headers=tok).status_code == 200, key
        if required:
            user.privileges = frozenset(catalogue - required - {renames.get(p) for p in required})
            r = c.get(path, headers=tok)
            assert_api_error(r, 403, "BAD_PERMISSIONS")
        checked += 1
    assert checked > 280


def test_multi_privilege_rule_and_renames(good):
    sim, c = good
    t = sim.tenant
    user = t.add_user("probe", "pw", privileges=["Read Smart Computer Groups"])
    tok = bearer(user_token(c, "probe", "pw"))
    assert c.get("/api/v1/computer-groups", headers=tok).status_code == 403  # [I] all required
    t.behaviour.multi_privilege_rule = "any"
    assert c.get("/api/v1/computer-groups", headers=tok).status_code == 200
    # 11.7.1 names "Read Jamf Content Distribution Server Files"; 11.12 renamed it (ref 2.3)
    user.privileges = frozenset({"Read Jamf Cloud Distribution Service Files"})
    assert c.get("/api/v1/jcds/files", headers=tok).status_code == 200
    t.behaviour.privilege_renames = {}
    assert c.get("/api/v1/jcds/files", headers=tok).status_code == 403


def test_write_endpoints_enforced_and_wrong_method(good):
    sim, c = good
    tok = bearer(client_token(c))
    assert_api_error(c.delete("/api/v1/computers-inventory/1", headers=tok), 403, "BAD_PERMISSIONS")
    assert c.delete("/api/v1/computers-inventory/1", headers=bearer(user_token(c, *ADMIN))).status_code == 204
    assert_api_error(c.delete("/api/v1/jamf-pro-version", headers=tok), 405, "METHOD_NOT_ALLOWED")
    sim.tenant.behaviour.forbidden_error_code = "ACCESS_DENIED"  # [U] switch
    assert_api_error(c.delete("/api/v1/computers-inventory/1", headers=tok), 403, "ACCESS_DENIED")


def test_computers_inventory_sections(good):
    _, c = good
    h = bearer(client_token(c))
    rec = c.get("/api/v1/computers-inventory", headers=h, params={"section": "HARDWARE"}).json()["results"][0]
    assert rec["general"] is None and rec["hardware"]["serialNumber"]


# ---------------------------------------------------------------------------- Classic API
def test_classic_api(good):
    sim, c = good
    assert c.get("/JSSResource/computers").status_code == 401
    r = c.get("/JSSResource/computers", headers=bearer("nope"))
    assert r.status_code == 401 and r.text == CLASSIC_401 and r.headers["content-type"].startswith("text/html")
    assert "The request requires user authentication" in r.text
    tok = bearer(client_token(c))
    for res in ["computers", "policies", "scripts", "packages", "buildings", "departments", "sites"]:
        r = c.get(f"/JSSResource/{res}", headers=tok)
        assert r.status_code == 200 and r.text.startswith("<?xml") and f"<{res}>" in r.text, res
    assert c.get("/JSSResource/computers/id/1", headers={**tok, "Accept": "application/json"}).json()["computer"]
    assert c.get("/JSSResource/packages", headers={**tok, "Accept": "application/json"}).json()["packages"]
    r = c.get("/JSSResource/webhooks", headers=tok)
    assert r.status_code == 403 and r.text == CLASSIC_403
    assert "refusing to fulfill" in r.text
    assert c.post("/JSSResource/policies/id/0", headers=tok, content="<policy/>").status_code == 403
    assert c.get("/JSSResource/nonsense", headers=tok).status_code == 404
    # the Classic table is [I] (ref 5.7) and per-tenant configurable
    sim.tenant.behaviour.classic_read_privileges["scripts"] = ("Read Webhooks",)
    assert c.get("/JSSResource/scripts", headers=tok).status_code == 403
    # Classic Basic auth: off by default (ref 1.1 [T]), a switch turns it on
    basic = (BASIC_USER.username, BASIC_USER.password)
    assert c.get("/JSSResource/computers", auth=basic).status_code == 401
    sim.tenant.behaviour.classic_api_basic_auth_enabled = True
    assert c.get("/JSSResource/computers", auth=basic).status_code == 200
    assert c.get("/JSSResource/computers", auth=(BASIC_USER.username, "bad")).status_code == 401


def test_request_log_records_principals(good):
    sim, c = good
    c.get("/api/v1/computers-inventory", headers=bearer(client_token(c)))
    assert sim.tenant.request_log[-2:] == [
        {"method": "POST", "path": "/api/oauth/token", "status": 200, "principal": ""},
        {"method": "GET", "path": "/api/v1/computers-inventory", "status": 200, "principal": "client:1"},
    ]


# ---------------------------------------------------------------------------- presets
def test_jamfmcp_minimum_privileges_exist():
    assert "Read Computer Groups" in JAMFMCP_DOC_MINIMUM_PRIVILEGES
    assert "Read Computer Groups" not in JAMFMCP_MINIMUM_READ_PRIVILEGES  # ref 2.5
    assert len(JAMFMCP_MINIMUM_READ_PRIVILEGES) == 10
    assert set(JAMFMCP_MINIMUM_READ_PRIVILEGES) <= set(privilege_catalogue())
    assert len(privilege_catalogue()) == 501 and len(read_privileges()) == 127


def _summary(t: Tenant) -> dict:
    integ = t.integration_by_client_id(MCP_CLIENT.client_id)
    return {
        "role_privileges": sorted(t.role_by_name(MCP_ROLE_NAME).privileges),
        "roles": sorted(r.display_name for r in t.roles.values()),
        "client_enabled": integ.enabled,
        "client_lifetime": integ.access_token_lifetime_seconds,
        "client_scopes": integ.authorization_scopes,
        "client_effective_role_ids": integ.effective_role_ids,
        "users": {u.username: (u.enabled, u.password_expired, sorted(u.effective_privileges()))
                  for u in t.users.values()},
        "behaviour": vars(t.behaviour),
    }


EXPECTED_DIFF = {
    "write_privileges": {"role_privileges"},
    "missing_read_privilege": {"role_privileges"},
    "disabled_client": {"client_enabled"},
    "long_token_lifetime": {"client_lifetime"},
    "expired_password": {"users"},
    "invalidated_token_still_accepted": {"behaviour"},
    "pending_role_change": {"roles", "client_effective_role_ids"},
    "excess_privileges": {"role_privileges"},
}


@pytest.mark.parametrize("name", sorted(BROKEN_PRESETS))
def test_each_preset_differs_from_good_only_in_its_defect(name):
    good_s, bad_s = _summary(good_tenant()), _summary(PRESETS[name]())
    assert {k for k in good_s if good_s[k] != bad_s[k]} == EXPECTED_DIFF[name]


def test_preset_good(serve):
    sim, c = serve(good_tenant())
    otok = bearer(client_token(c))
    assert c.get("/api/v1/computers-inventory", headers=otok).status_code == 200
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    roles = c.get("/api/v1/api-roles", headers=aud).json()["results"]
    assert [r["privileges"] for r in roles] == [list(JAMFMCP_MINIMUM_READ_PRIVILEGES)]
    assert all(p.startswith("Read ") for p in roles[0]["privileges"])
    integ = c.get("/api/v1/api-integrations", headers=aud).json()["results"][0]
    assert integ["enabled"] and integ["accessTokenLifetimeSeconds"] == MCP_TOKEN_LIFETIME_SECONDS
    r = c.post("/api/v1/auth/token", auth=(BASIC_USER.username, BASIC_USER.password))
    assert r.status_code == 200
    assert sim.tenant.tokens[r.json()["token"]].expires_at - sim.tenant.tokens[r.json()["token"]].issued_at == 1800
    tok = user_token(c, BASIC_USER.username, BASIC_USER.password)
    c.post("/api/v1/auth/invalidate-token", headers=bearer(tok))
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(tok)).status_code == 401
    assert oauth(c).json()["scope"] == "api-role:1"


def test_preset_write_privileges(serve):
    sim, c = serve(PRESETS["write_privileges"]())
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    privs = c.get("/api/v1/api-roles/1", headers=aud).json()["privileges"]
    assert set(WRITE_PRIVILEGES) <= set(privs)
    assert c.delete("/api/v1/computers-inventory/1", headers=bearer(client_token(c))).status_code == 204


def test_preset_missing_read_privilege(serve):
    sim, c = serve(PRESETS["missing_read_privilege"]())
    tok = bearer(client_token(c))
    assert_api_error(c.get("/api/v1/computers-inventory", headers=tok), 403, "BAD_PERMISSIONS")
    assert c.get("/api/v1/packages", headers=tok).status_code == 200
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    assert MISSING_PRIVILEGE not in c.get("/api/v1/api-roles/1", headers=aud).json()["privileges"]


def test_preset_disabled_client(serve):
    sim, c = serve(PRESETS["disabled_client"]())
    assert_oauth_error(oauth(c), 401, "invalid_client")
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    assert c.get("/api/v1/api-integrations/1", headers=aud).json()["enabled"] is False


def test_preset_long_token_lifetime(serve):
    sim, c = serve(PRESETS["long_token_lifetime"]())
    r = oauth(c)
    assert r.json()["expires_in"] == LONG_TOKEN_LIFETIME_SECONDS - 1
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    assert c.get("/api/v1/api-integrations/1", headers=aud).json()["accessTokenLifetimeSeconds"] == 86400
    sim.tenant.clock.advance(86400 - 10)
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(r.json()["access_token"])).status_code == 200


def test_preset_expired_password(serve):
    sim, c = serve(PRESETS["expired_password"]())
    r = c.post("/api/v1/auth/token", auth=(BASIC_USER.username, BASIC_USER.password))
    assert_api_error(r, 401, "USER_EXPIRED_PASSWORD")
    assert c.post("/api/v1/auth/token", auth=(AUDITOR.username, AUDITOR.password)).status_code == 200


def test_preset_invalidated_token_still_accepted(serve):
    sim, c = serve(PRESETS["invalidated_token_still_accepted"]())
    tok = user_token(c, BASIC_USER.username, BASIC_USER.password)
    assert c.post("/api/v1/auth/invalidate-token", headers=bearer(tok)).status_code == 204
    assert c.get("/api/v1/jamf-pro-version", headers=bearer(tok)).status_code == 200  # the defect


def test_preset_pending_role_change(serve):
    sim, c = serve(PRESETS["pending_role_change"]())
    t = sim.tenant
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    integ = c.get("/api/v1/api-integrations/1", headers=aud).json()
    assert integ["authorizationScopes"] == [MCP_ROLE_NAME]  # looks least-privilege ...
    r = oauth(c)
    prev_id = t.role_by_name(PREVIOUS_ROLE_NAME).id
    assert r.json()["scope"] == f"api-role:{prev_id}"  # ... but tokens still get the old role
    assert c.delete("/api/v1/computers-inventory/1", headers=bearer(r.json()["access_token"])).status_code == 204
    assert t.pending_role_change(1)
    t.rotate_client_secret(1, secret=MCP_CLIENT.client_secret)
    r = oauth(c)
    assert r.json()["scope"] == "api-role:1"
    assert c.delete("/api/v1/computers-inventory/1", headers=bearer(r.json()["access_token"])).status_code == 403


def test_preset_excess_privileges(serve):
    sim, c = serve(PRESETS["excess_privileges"]())
    aud = bearer(user_token(c, AUDITOR.username, AUDITOR.password))
    privs = c.get("/api/v1/api-roles/1", headers=aud).json()["privileges"]
    assert len(privs) == 127 and all(p.startswith("Read ") for p in privs)
    assert len(set(privs) - set(JAMFMCP_MINIMUM_READ_PRIVILEGES)) == 117
    assert c.get("/api/v1/api-roles", headers=bearer(client_token(c))).status_code == 200  # not needed


def test_clock_is_injectable():
    clock = Clock(start=1_700_000_000)
    t = good_tenant(clock=clock)
    tok = t.issue_client_token(MCP_CLIENT.client_id, MCP_CLIENT.client_secret)
    assert tok.issued_at == pytest.approx(1_700_000_000, abs=5)
    clock.advance(MCP_TOKEN_LIFETIME_SECONDS)
    with pytest.raises(Exception):
        t.authenticate(tok.token)
    assert Behaviour().user_token_lifetime_seconds == 1800
