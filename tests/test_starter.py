"""``pytest --authcheck-init URL``: a starter policy from the real test IdP and the Jamf Pro simulator.

Each written policy must load (``load_policy``), hold no secret, and run: ``pytest --authcheck`` with it executes
and judges what it declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pytest_authcheck.policy.load import load_policy
from tests.hostile_idp import Answer, HostileIdp, json_answer
from tests.idp.world import DEPLOYER_SECRET
from tests.jamf_sim import (
    AUDITOR_PASSWORD,
    AUDITOR_USERNAME,
    JAMFMCP_MINIMUM_READ_PRIVILEGES,
    MCP_CLIENT_ID,
    MCP_CLIENT_SECRET,
    WRITE_PRIVILEGES,
    JamfSimulator,
    Tenant,
    good_tenant,
    write_privileges_tenant,
)

USAGE_ERROR = pytest.ExitCode.USAGE_ERROR


def _init(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--authcheck-init", *args)


def _results(pytester: pytest.Pytester) -> list[dict]:
    return json.loads((pytester.path / "reports" / "authcheck.json").read_text())["results"]


# ---- an OpenID Provider ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_idp(idp):
    return idp("good")


def test_an_issuer_gives_a_policy_that_loads_and_runs(pytester: pytest.Pytester, good_idp) -> None:
    result = _init(pytester, good_idp.served_issuer, "--authcheck-init-ca", str(good_idp.ca_pem_path))
    assert result.ret == 0, result.stderr.str()
    path = pytester.path / "authcheck.toml"
    assert f"wrote {path}" in result.stdout.str()
    text = path.read_text()
    policy = load_policy(path, environ={})
    provider = policy.data["providers"]["sso"]
    assert provider["issuer"] == good_idp.served_issuer
    assert provider["signing_algs"] == ["RS256", "ES256"]  # advertised for ID tokens; never none or HS*
    assert set(provider["features"]) >= {"revocation", "introspection", "iss_parameter"}
    assert policy.settings.ca_bundle == good_idp.ca_pem_path.resolve()
    assert not policy.section("clients")  # examples only, commented
    for kind in ("clients.deployer", "clients.cli", "clients.portal"):
        assert f"# [{kind}]" in text
    assert "# test_user = { username = \"${SSO_TEST_USER}\", password = \"${SSO_TEST_PASSWORD}\" }" in text
    assert len(re.findall(r"observed: review", text)) >= 4
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--authcheck")
    assert run.ret == 0, run.stdout.str()[-3000:]
    results = _results(pytester)
    passed = {r["check"] for r in results if r["status"] == "passed"}
    assert {"discovery.issuer-match", "discovery.signing-algs", "discovery.grant-types", "discovery.features",
            "discovery.token-auth-methods", "jwks.key-strength", "tls.chain-trusted"} <= passed
    assert [r for r in results if r["status"] in ("failed", "error")] == []


def test_an_uncommented_example_client_is_audited(pytester: pytest.Pytester, good_idp,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The first audit in minutes: uncomment the machine client, set its secret, run."""
    assert _init(pytester, good_idp.served_issuer, "--authcheck-init-ca", str(good_idp.ca_pem_path)).ret == 0
    path = pytester.path / "authcheck.toml"
    lines = path.read_text().splitlines()
    start = lines.index("# [clients.deployer]")
    end = lines.index("", start)
    lines[start:end] = [re.sub(r"^# ", "", line) for line in lines[start:end]]
    text = "\n".join(lines).replace('scopes = ["deploy", "read", "admin"]', 'scopes = ["deploy", "read"]')
    path.write_text(text)
    monkeypatch.setenv("DEPLOYER_CLIENT_SECRET", DEPLOYER_SECRET)
    assert load_policy(path).section("clients")["deployer"]["client_id"] == "ci-deployer"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--authcheck", "-m", "clients")
    by_check = {r["check"]: r for r in _results(pytester) if r.get("target") == "clients.deployer"}
    assert by_check["client-auth.secret-accepted"]["status"] == "passed", run.stdout.str()[-3000:]
    assert by_check["lifetimes.access-token"]["status"] == "passed"
    assert DEPLOYER_SECRET not in run.stdout.str() + (pytester.path / "reports" / "authcheck.json").read_text()


def test_an_existing_policy_is_never_overwritten_unless_forced(pytester: pytest.Pytester, good_idp) -> None:
    path = pytester.path / "authcheck.toml"
    path.write_text("# mine\n")
    result = _init(pytester, good_idp.served_issuer, "--authcheck-init-ca", str(good_idp.ca_pem_path))
    assert result.ret == USAGE_ERROR
    assert "exists; pytest --authcheck-init never overwrites a policy" in result.stderr.str()
    assert path.read_text() == "# mine\n"
    forced = _init(pytester, good_idp.served_issuer, "--authcheck-init-ca", str(good_idp.ca_pem_path),
                   "--authcheck-init-force")
    assert forced.ret == 0
    assert "[providers.sso]" in path.read_text()


def test_it_writes_where_authcheck_policy_says(pytester: pytest.Pytester, good_idp) -> None:
    result = _init(pytester, good_idp.served_issuer, "--authcheck-init-ca", str(good_idp.ca_pem_path),
                   "--authcheck-policy", "audit/prod.toml")
    assert result.ret == 0, result.stderr.str()
    written = pytester.path / "audit" / "prod.toml"
    assert load_policy(written).settings.ca_bundle == good_idp.ca_pem_path.resolve()
    assert "--authcheck-policy" in result.stdout.str()
    assert not (pytester.path / "authcheck.toml").exists()


def test_an_unknown_ca_says_how_to_trust_it(pytester: pytest.Pytester, good_idp) -> None:
    result = _init(pytester, good_idp.served_issuer)
    assert result.ret == USAGE_ERROR
    assert "--authcheck-init-ca" in result.stderr.str()
    assert not (pytester.path / "authcheck.toml").exists()


def test_plain_http_elsewhere_than_loopback_is_refused(pytester: pytest.Pytester) -> None:
    result = _init(pytester, "http://auth.example.com")
    assert result.ret == USAGE_ERROR
    assert "plain http" in result.stderr.str()


def test_a_server_that_is_neither_is_named_so(pytester: pytest.Pytester, idp_world) -> None:
    with HostileIdp(ca=idp_world.ca) as server:
        result = _init(pytester, server.url, "--authcheck-init-ca", str(idp_world.ca_pem_path))
    assert result.ret == USAGE_ERROR
    assert "serves neither OpenID discovery" in result.stderr.str()


THROTTLED = Answer(status=429, body=b'{"error": "slow down"}', headers={"Retry-After": "3600"})


@pytest.mark.parametrize(("routes", "args", "said"), [
    ({"/.well-known/openid-configuration": THROTTLED}, (),
     "/.well-known/openid-configuration answered HTTP 429 (throttled, Retry-After 3600 s): the server asks to be asked "
     "later; try again later"),
    ({"/.well-known/openid-configuration": Answer(status=502, body=b"bad gateway", content_type="text/plain")}, (),
     "/.well-known/openid-configuration answered HTTP 502 (a server error): it says nothing about what the server is; "
     "try again later, or look at the server's logs for the cause"),
    ({"/api/v1/jamf-pro-version": Answer(status=503, body=b"", headers={"Retry-After": "3600"})}, (),
     "/api/v1/jamf-pro-version answered HTTP 503 (throttled, Retry-After 3600 s)"),
    ({"/.well-known/openid-configuration": Answer(status=500, body=b"oops", content_type="text/plain")},
     ("--authcheck-init-kind", "oidc"), "/.well-known/openid-configuration answered HTTP 500 (a server error)"),
], ids=["discovery throttled", "discovery server error", "jamf version throttled", "oidc told, server error"])
def test_a_throttle_or_server_error_is_named_never_read_as_the_wrong_kind(pytester: pytest.Pytester, idp_world,
                                                                         routes, args, said) -> None:
    """The answer says nothing of what the server is: the message says what it was, not "not an OpenID issuer"."""
    with HostileIdp(ca=idp_world.ca, routes=routes) as server:
        result = _init(pytester, server.url, "--authcheck-init-ca", str(idp_world.ca_pem_path), *args)
    assert result.ret == USAGE_ERROR
    error = result.stderr.str()
    assert said in error, error
    assert "serves neither" not in error and "not an OpenID" not in error and "jamf" not in error.lower().replace(
        "jamf-pro-version", ""), error
    assert not (pytester.path / "authcheck.toml").exists()


def test_a_hostile_discovery_document_cannot_write_the_policy(pytester: pytest.Pytester, idp_world) -> None:
    """Values are escaped TOML strings, odd ones are left out, comments are one printable line: nothing injected."""
    with HostileIdp(ca=idp_world.ca) as server:
        server.routes["/.well-known/openid-configuration"] = json_answer({
            "issuer": server.url, "authorization_endpoint": "https://login.elsewhere.test/authorize",
            "token_endpoint": server.url + "/token", "jwks_uri": server.url + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256\n[providers.evil]\nkind = \"oidc\"", "none", "HS256",
                                                      "ES256\"]\nx = [\"", "PS256"],
            "grant_types_supported": ["authorization_code", "password", "implicit", "x" * 500],
            "response_types_supported": ["code\n[settings]\nreports = \"/tmp\""],
            "scopes_supported": ["openid", "deploy\n[users.evil]"],
        })
        server.routes["/jwks"] = Answer(body=b'{"keys": []}')
        result = _init(pytester, server.url, "--authcheck-init-ca", str(idp_world.ca_pem_path))
    assert result.ret == 0, result.stderr.str()
    path = pytester.path / "authcheck.toml"
    policy = load_policy(path, environ={})
    assert list(policy.section("providers")) == ["sso"] and not policy.section("users")
    provider = policy.data["providers"]["sso"]
    assert provider["signing_algs"] == ["PS256"]
    assert provider["grant_types"] == ["authorization_code"]
    assert provider["allowed_hosts"] == ["login.elsewhere.test"]
    assert policy.settings.reports == Path("reports")
    text = path.read_text()
    assert "password, implicit left out (RFC 9700" in text
    assert all(line == "" or line.startswith(("#", "[", " ", "]")) or " = " in line for line in text.splitlines())


# ---- a Jamf Pro server ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jamf_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("jamf-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture
def jamf(jamf_ca) -> Iterator[callable]:
    started: list[JamfSimulator] = []

    def start(tenant: Tenant) -> JamfSimulator:
        sim = JamfSimulator.from_trustme(tenant, jamf_ca[0]).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def auditor_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"JAMF_AUDIT_USER": AUDITOR_USERNAME, "JAMF_AUDIT_PASSWORD": AUDITOR_PASSWORD}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_a_jamf_server_gives_clients_and_privilege_sets(pytester: pytest.Pytester, jamf, jamf_ca, auditor_env) -> None:
    sim = jamf(good_tenant())
    result = _init(pytester, sim.url + "/", "--authcheck-init-ca", str(jamf_ca[1]))  # detected, not told
    assert result.ret == 0, result.stderr.str()
    path = pytester.path / "authcheck.toml"
    text = path.read_text()
    output = result.stdout.str() + result.stderr.str()
    for secret in (AUDITOR_PASSWORD, AUDITOR_USERNAME, MCP_CLIENT_SECRET):
        assert secret not in text and secret not in output
    policy = load_policy(path, environ=auditor_env)
    provider = policy.data["providers"]["jamf"]
    assert provider["url"] == sim.url and provider["version"] == "11.12"
    assert "${JAMF_AUDIT_USER}" in text and "${JAMF_AUDIT_PASSWORD}" in text
    (name, client), = policy.section("clients").items()
    assert client["client_id"] == MCP_CLIENT_ID and client["access_token_max"] == "5m"
    assert "client_secret" not in client  # Jamf Pro never shows a secret again: a commented reference
    privileges = policy.section("privileges")[name]
    assert sorted(privileges["require"]) == sorted(JAMFMCP_MINIMUM_READ_PRIVILEGES)
    assert privileges["forbid"] == ["Create *", "Update *", "Delete *", "Send *"]
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--authcheck")
    assert run.ret == 0, run.stdout.str()[-3000:]
    passed = {r["check"] for r in _results(pytester) if r["status"] == "passed"}
    assert {"jamf.auditor-login", "jamf.client-enabled", "jamf.client-token-lifetime", "privileges.names-known",
            "privileges.required-granted", "privileges.none-forbidden", "privileges.excess"} <= passed


def test_write_privileges_are_required_as_observed_and_flagged_for_review(pytester: pytest.Pytester, jamf, jamf_ca,
                                                                         auditor_env) -> None:
    sim = jamf(write_privileges_tenant())
    result = _init(pytester, sim.url, "--authcheck-init-kind", "jamf", "--authcheck-init-ca", str(jamf_ca[1]))
    assert result.ret == 0, result.stderr.str()
    text = (pytester.path / "authcheck.toml").read_text()
    policy = load_policy(pytester.path / "authcheck.toml", environ=auditor_env)
    (privileges,) = policy.section("privileges").values()
    assert set(WRITE_PRIVILEGES) <= set(privileges["require"])
    assert privileges["forbid"] == ["Send *"]
    assert "the roles grant Create ..., Update ..., Delete ... privileges today: review" in text


def test_a_jamf_server_without_auditor_variables_names_them(pytester: pytest.Pytester, jamf, jamf_ca,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAMF_AUDIT_USER", raising=False)
    monkeypatch.setenv("AUDITOR_PW", AUDITOR_PASSWORD)
    sim = jamf(good_tenant())
    result = _init(pytester, sim.url, "--authcheck-init-ca", str(jamf_ca[1]), "--authcheck-init-password-var",
                   "AUDITOR_PW")
    assert result.ret == USAGE_ERROR
    assert "JAMF_AUDIT_USER not set" in result.stderr.str()
    assert AUDITOR_PASSWORD not in result.stdout.str() + result.stderr.str()


def test_server_text_cannot_leave_its_comment() -> None:
    # A role name or version string with a line break would otherwise end the comment and write policy lines.
    from pytest_authcheck.starter.common import Policy

    policy = Policy()
    policy.comment('role "admins"\n[clients.evil]\nclient_secret = "x"')
    policy.key("version", "11.12", 'said "11.12\nkind = 1"', observed=True)
    assert all(line.startswith("#") or line.startswith("version = ") for line in policy.text().splitlines() if line)
