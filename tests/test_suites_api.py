"""The API suites (authorization matrix, token validation) against the real resource API and real IdPs.

The resource API (Starlette + uvicorn over TLS) validates RS256 access tokens from the test oidc-provider.
Every check passes on the correct instance; each instance with one defect fails exactly the checks
(and matrix cells) that defect breaks, with a message naming what was due and what was observed.
"""

from __future__ import annotations

import json
import re
import ssl
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# See test_suites_oidc.py: pin one httpcore for pytester's in-process runs.
import httpcore  # noqa: F401
import jwt
import pytest
import trustme
from jwt.algorithms import RSAAlgorithm

from pytest_authcheck._api import ALLOW, DENY_401, DENY_403, Expectation, matrix_finding, refusal_problem
from tests.conftest import invariant_breaches, oidc_policy, unstated_verdicts
from tests.html_report import readable
from tests.hostile_idp import Answer, HostileIdp, json_answer
from tests.idp.world import IdpSpec, IdpWorld, RunningIdp, default_clients, default_signing_keys
from tests.resource_api import DEFECTS, ApiConfig, ResourceApi

AUDIENCE = "https://api.test"
OTHER_AUDIENCE = "https://billing.test"
CLIENT_SECRET = "cs_test_4Jq8Zr2Wn6Xb1Ty5Pv9Lm3Hd7Kf0Sg"
READ_KEY = "ek_test_read_5m2q9x7w1c"
OLD_KEY = "ek_test_old_8p4r6t2y0u"
# The probe clients get a role too, so a token the API should refuse for its claims would otherwise be let in.
ROLE_OF = {"ci-viewer": "viewer", "ci-deployer": "developer", "ci-admin": "admin", "billing": "viewer",
           "expiry-probe": "viewer", "staging-cli": "viewer",
           # users logged in through enclii-cli (not in this map): their role comes from sub, the username
           "alice": "viewer", "bob": "developer"}
MATRIX = "api.authorization-matrix"
# The test IdP's dev login accepts any password; these are canaries that must never reach an output.
ALICE_PASSWORD = "pw-alice-Qz7Rk2Vn9Tb4"
BOB_PASSWORD = "pw-bob-Lm5Hx8Wc3Jd6"
# Users logged in through the native CLI client (authorization code + PKCE), with the API's audience as resource.
USERS = """
    [clients.cli-api]
    provider = "sso"
    client_id = "enclii-cli"
    type = "public"
    application = "native"
    grant_types = ["authorization_code"]
    redirect_uris = ["http://127.0.0.1/callback"]
    scopes = ["openid", "read"]

    [users.alice]
    provider = "sso"
    username = "alice"
    password = "${ALICE_PASSWORD}"

    [users.bob]
    provider = "sso"
    username = "bob"
    password = "${BOB_PASSWORD}"

    [apis.platform.principals.alice]
    user = "alice"
    client = "cli-api"
    role = "viewer"

    [apis.platform.principals.bob]
    user = "bob"
    client = "cli-api"
    role = "developer"
"""
USER_PRINCIPALS = ("alice", "bob")
TOKEN_CHECKS = {"api.no-credential", "api.malformed-token", "api.altered-signature", "api.alg-none",
                "api.key-confusion", "api.other-audience", "api.other-issuer", "api.expired-token",
                "api.not-yet-valid", "api.unknown-api-key", "api.revoked-api-key"}
ME, SERVICES, MEMBERS, DEPLOY = ("GET /v1/users/me", "GET /v1/services", "GET /v1/orgs/madfam/members",
                                 "POST /v1/services/demo/deploy")
PRINCIPALS = ("viewer", "developer", "admin", "read-key", "old-key", "anonymous")
# The cells where the correct API answers 403 (authenticated, not allowed).
FORBIDDEN_CELLS = {(MEMBERS, "viewer"), (DEPLOY, "viewer"), (MEMBERS, "developer"), (SERVICES, "read-key"),
                   (MEMBERS, "read-key"), (DEPLOY, "read-key")}


def _client(client_id: str, **extra: object) -> dict:
    return {"client_id": client_id, "client_secret": CLIENT_SECRET, "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "read admin deploy", **extra}


@dataclass
class ApiWorld:
    sso: RunningIdp
    staging: RunningIdp
    jwks_url: str
    cert_pem: Path
    key_pem: Path
    nbf_token: str

    def api(self, *defects: str, jwks_url: str | None = None) -> ResourceApi:
        config = ApiConfig(issuer=self.sso.issuer, jwks_url=jwks_url or self.jwks_url, audience=AUDIENCE,
                           ca_pem=self.sso.ca_pem_path, role_of=dict(ROLE_OF), defects=set(defects), leeway=1.0,
                           api_keys={READ_KEY: {"scopes": ["read"], "name": "read-key"},
                                     OLD_KEY: {"scopes": ["read", "deploy"], "name": "old-key", "revoked": True}})
        return ResourceApi(config, self.cert_pem, self.key_pem)

    def policy(self, api: ResourceApi, *, mutating: bool = True, extra: str = "") -> str:
        return oidc_policy(self.sso, extra=f"""
            [providers.staging]
            kind = "oidc"
            issuer = "{self.staging.served_issuer}"

            [clients.viewer]
            provider = "sso"
            client_id = "ci-viewer"
            client_secret = "${{API_CLIENT_SECRET}}"
            grant_types = ["client_credentials"]
            scopes = ["read"]

            [clients.admin]
            provider = "sso"
            client_id = "ci-admin"
            client_secret = "${{API_CLIENT_SECRET}}"
            grant_types = ["client_credentials"]
            scopes = ["read", "admin"]

            [clients.billing]
            provider = "sso"
            client_id = "billing"
            client_secret = "${{API_CLIENT_SECRET}}"
            grant_types = ["client_credentials"]
            resource = "{OTHER_AUDIENCE}"

            [clients.expiry-probe]
            provider = "sso"
            client_id = "expiry-probe"
            client_secret = "${{API_CLIENT_SECRET}}"
            grant_types = ["client_credentials"]

            [clients.staging-cli]
            provider = "staging"
            client_id = "staging-cli"
            client_secret = "${{API_CLIENT_SECRET}}"
            grant_types = ["client_credentials"]

            [apis.platform]
            base_url = "{api.url}"
            provider = "sso"
            audience = "{AUDIENCE}"
            roles = ["viewer", "developer", "admin", "owner"]
            leeway = "1s"

            [apis.platform.principals]
            viewer = {{ client = "viewer", role = "viewer" }}
            developer = {{ client = "deployer", role = "developer" }}
            admin = {{ client = "admin", role = "admin" }}
            read-key = {{ header = "X-API-Key", value = "${{READ_KEY}}" }}
            old-key = {{ header = "X-API-Key", value = "${{OLD_KEY}}", revoked = true }}

            [apis.platform.probes]
            other_audience = {{ client = "billing" }}
            other_issuer = {{ client = "staging-cli" }}
            short_lived = {{ client = "expiry-probe" }}
            not_yet_valid = {{ bearer = "${{NBF_TOKEN}}" }}

            [[apis.platform.rules]]
            request = "{ME}"
            min_role = "viewer"
            allow = ["read-key"]

            [[apis.platform.rules]]
            request = "{SERVICES}"
            min_role = "viewer"

            [[apis.platform.rules]]
            request = "{MEMBERS}"
            min_role = "admin"

            [[apis.platform.rules]]
            request = "{DEPLOY}"
            min_role = "developer"
            deny = ["read-key"]
            mutating = {str(mutating).lower()}
            {extra}
            """)

    def env(self) -> dict[str, str]:
        return {"API_CLIENT_SECRET": CLIENT_SECRET, "READ_KEY": READ_KEY, "OLD_KEY": OLD_KEY, "NBF_TOKEN": self.nbf_token,
                "ALICE_PASSWORD": ALICE_PASSWORD, "BOB_PASSWORD": BOB_PASSWORD}


def _nbf_token(idp: RunningIdp) -> str:
    """A real token signed with the IdP's own key whose nbf is an hour ahead (no IdP issues such tokens)."""
    private = next(k for k in default_signing_keys() if k["kty"] == "RSA")
    key = RSAAlgorithm.from_jwk(json.dumps(private))
    now = int(time.time())
    claims = {"iss": idp.issuer, "aud": AUDIENCE, "client_id": "ci-viewer", "sub": "ci-viewer", "scope": "read",
              "iat": now, "nbf": now + 3600, "exp": now + 7200, "jti": "nbf-probe"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": private["kid"], "typ": "at+jwt"})


@pytest.fixture(scope="module")
def api_world(idp_world: IdpWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    sso = idp_world.start(IdpSpec(
        name="api-sso",
        clients=[*default_clients(), _client("ci-viewer"), _client("ci-admin"), _client("billing"),
                 _client("expiry-probe", access_token_ttl=3)],
        extra_config={"resource_servers": {OTHER_AUDIENCE: {"scope": "read"}}}))
    staging = idp_world.start(IdpSpec(name="api-staging", clients=[_client("staging-cli")]))
    ctx = ssl.create_default_context(cafile=str(sso.ca_pem_path))
    with urllib.request.urlopen(sso.discovery_url, context=ctx) as response:  # noqa: S310 (loopback https)
        jwks_url = json.load(response)["jwks_uri"]
    directory = tmp_path_factory.mktemp("resource-api-tls")
    leaf = idp_world.ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    (directory / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    yield ApiWorld(sso=sso, staging=staging, jwks_url=jwks_url, cert_pem=directory / "cert.pem",
                   key_pem=directory / "key.pem", nbf_token=_nbf_token(sso))
    sso.stop()
    staging.stop()


@pytest.fixture
def audit(api_world: ApiWorld, run_authcheck: Callable[..., object]) -> Callable[..., object]:
    """``audit(*defects, mutating=True, args=())``: run the API checks against a resource API with those defects."""

    def run(*defects: str, mutating: bool = True, args: tuple[str, ...] = (), subprocess: bool = False,
            extra: str = "", jwks_url: str | None = None) -> object:
        with api_world.api(*defects, jwks_url=jwks_url) as api:
            policy = api_world.policy(api, mutating=mutating, extra=extra)
            flags = ("--authcheck-allow-mutations",) if mutating else ()
            result = run_authcheck(policy, "-m", "api", *flags, *args, subprocess=subprocess, env=api_world.env())
            result.deployments = list(api.state.deployments)  # type: ignore[attr-defined]
        # every run, good or broken: no verdict contradicts its own evidence, none rests on nothing stated
        assert invariant_breaches(result.report) == {}, result.output()
        assert unstated_verdicts(result.report, {"api"}) == {}
        return result

    return run


def _cell(result: dict) -> tuple[str, str] | None:
    match = re.search(r"\[platform\|(.+)\|([\w.-]+)\]$", result["nodeid"])
    return (match.group(1), match.group(2)) if match else None


def _outcomes(run) -> tuple[dict[str, str], dict[tuple[str, str], dict]]:
    """Token checks by id, and matrix cells by (request, principal)."""
    checks, cells = {}, {}
    for result in run.report["results"]:
        if result["check"] == MATRIX:
            cells[_cell(result)] = result
        else:
            checks[result["check"]] = result
    return checks, cells


def _assert_complete(run) -> None:
    checks, cells = _outcomes(run)
    assert set(checks) == TOKEN_CHECKS, run.output()
    assert set(cells) == {(r, p) for r in (ME, SERVICES, MEMBERS, DEPLOY) for p in PRINCIPALS}, sorted(cells)
    for result in run.report["results"]:
        assert result["target"] == "apis.platform", result
        assert CLIENT_SECRET not in json.dumps(result) and READ_KEY not in json.dumps(result)


def _failed(run) -> tuple[set[str], set[tuple[str, str]]]:
    checks, cells = _outcomes(run)
    errors = {k: r["message"] for k, r in checks.items() if r["status"] == "error"}
    errors |= {str(k): r["message"] for k, r in cells.items() if r["status"] == "error"}
    assert not errors, errors
    return ({k for k, r in checks.items() if r["status"] == "failed"},
            {k for k, r in cells.items() if r["status"] == "failed"})


# ---------------------------------------------------------------------------------------------------
# pure parts


def test_matrix_findings_name_due_and_observed() -> None:
    allow, forbid, unauth = (Expectation(ALLOW, "r"), Expectation(DENY_403, "r"), Expectation(DENY_401, "r"))
    assert matrix_finding(allow, "viewer", 200) is None and matrix_finding(allow, "viewer", 404) is None
    assert "refused with HTTP 403 where the policy allows" in matrix_finding(allow, "viewer", 403)
    assert matrix_finding(forbid, "viewer", 403) is None and matrix_finding(unauth, "anonymous", 401) is None
    assert "HTTP 404 where 403 is due" in matrix_finding(forbid, "viewer", 404)
    assert "HTTP 200 where 403 is due" in matrix_finding(forbid, "viewer", 200)
    assert "HTTP 401 where 403 is due" in matrix_finding(forbid, "viewer", 401)
    assert "HTTP 403 where 401 is due" in matrix_finding(unauth, "old-key", 403)
    assert refusal_problem(401) is None and refusal_problem(400, malformed=True) is None
    assert refusal_problem(400) == "HTTP 400 instead of 401" and refusal_problem(200) == "accepted (HTTP 200)"


def test_matrix_answers_that_decide_a_cell_and_those_that_do_not() -> None:
    from pytest_authcheck._api_answers import expected_word, matrix_undecided, word
    from pytest_authcheck.observations import Kind, Observation

    def answer(kind: Kind, status: int) -> Observation:
        return Observation(kind, f"HTTP {status}", status=status)

    allow, forbid, unauth = (Expectation(ALLOW, "r"), Expectation(DENY_403, "r"), Expectation(DENY_401, "r"))
    assert [expected_word(e) for e in (allow, forbid, unauth)] == ["allowed", "refused (403)", "refused (401)"]
    for expectation in (allow, forbid, unauth):
        for decisive in (answer(Kind.ACCEPTED, 200), answer(Kind.REFUSED, 401), answer(Kind.REFUSED, 403)):
            assert matrix_undecided(expectation, decisive) is None
    assert word(answer(Kind.ACCEPTED, 202), accepted="allowed") == "allowed"
    assert word(answer(Kind.UNREADABLE, 404)) == "not found (404)"
    assert matrix_undecided(forbid, answer(Kind.UNREADABLE, 404)) is None  # the disguised refusal stays a finding
    assert "cannot be told apart" in matrix_undecided(allow, answer(Kind.UNREADABLE, 404))
    assert "says neither allowed nor refused" in matrix_undecided(allow, answer(Kind.UNREADABLE, 405))
    assert "says neither allowed nor refused" in matrix_undecided(forbid, answer(Kind.REFUSED, 422))
    assert "throttled" in matrix_undecided(forbid, answer(Kind.THROTTLED, 429))
    assert "cannot be read" in matrix_undecided(allow, answer(Kind.UNREADABLE, 302))


# ---------------------------------------------------------------------------------------------------
# the correct instance


def test_correct_api_passes_every_check(audit) -> None:
    run = audit()
    _assert_complete(run)
    assert _failed(run) == (set(), set()), run.output()
    checks, cells = _outcomes(run)
    assert {k for k, r in checks.items() if r["status"] != "passed"} == set(), checks
    assert all(r["status"] == "passed" for r in cells.values()), {k: r["message"] for k, r in cells.items()}
    assert run.result.ret == 0
    # the allowed mutations really happened, the refused ones did not
    assert sorted(run.deployments) == [("demo", "ci-admin"), ("demo", "ci-deployer")]
    cell = cells[(MEMBERS, "viewer")]
    assert cell["evidence"]["facts"]["matrix cell"] == {
        "api": "platform", "rule": 2, "request": MEMBERS, "principal": "viewer", "expected": "403",
        "reason": "role viewer < admin", "observed": 403}
    probes = checks["api.alg-none"]["evidence"]["facts"]["probes"]["outcomes"]
    assert [o["status"] for o in probes] == [401, 401, 401, 401]
    html = (run.reports_dir / "authcheck.html").read_text()
    assert "Authorization matrix: apis.platform" in html and 'class="ac-cell-failed"' not in html
    assert html.count('class="ac-cell-passed"') == 4 * len(PRINCIPALS)


def test_mutations_are_skipped_visibly_without_the_option(audit) -> None:
    run = audit(mutating=False)
    _, cells = _outcomes(run)
    deploy = {p: cells[(DEPLOY, p)] for p in PRINCIPALS}
    assert {r["status"] for r in deploy.values()} == {"skipped"}
    assert all("POST has side effects and the rule does not say mutating = true" in r["message"]
               for r in deploy.values())
    assert run.deployments == []


def test_mutating_rule_needs_the_option(api_world: ApiWorld, run_authcheck) -> None:
    with api_world.api() as api:
        run = run_authcheck(api_world.policy(api, mutating=True), "-m", "api", env=api_world.env())
        assert api.state.deployments == []
    _, cells = _outcomes(run)
    assert {cells[(DEPLOY, p)]["message"] for p in PRINCIPALS} == {
        "mutating request: probed only with --authcheck-allow-mutations"}


# ---------------------------------------------------------------------------------------------------
# one defect at a time

EXPECTED_FAILURES: dict[str, tuple[dict[str, str], dict[tuple[str, str], str]]] = {
    "accept-alg-none": ({"api.alg-none": r"4 of 4 unsigned tokens not refused: alg='none'.*accepted \(HTTP 200\)"}, {}),
    "skip-signature": ({"api.altered-signature": r"3 of 3 tokens with an altered signature not refused: real token, one signature bit flipped: accepted"}, {}),
    "key-confusion": ({"api.key-confusion": r"HS256 tokens keyed with the public key not refused: PEM"}, {}),
    "skip-exp": ({"api.expired-token": r"1 of 1 expired tokens not refused: real token from clients.expiry-probe"}, {}),
    "skip-nbf": ({"api.not-yet-valid": r"1 of 1 not-yet-valid tokens not refused.*accepted \(HTTP 200\)"}, {}),
    "ignore-aud": ({"api.other-audience": r"tokens for another audience not refused.*clients.billing.*accepted"}, {}),
    "any-issuer": ({"api.other-issuer": r"tokens from another issuer not refused.*clients.staging-cli.*accepted"}, {}),
    "viewer-can-deploy": ({}, {(DEPLOY, "viewer"): r"answered HTTP 202 where 403 is due: viewer was let through"}),
    "accept-revoked-key": (
        {"api.revoked-api-key": r"1 of 1 revoked credentials not refused: old-key: accepted \(HTTP 200\)"},
        {(ME, "old-key"): r"answered HTTP 200 where 401 is due",
         (SERVICES, "old-key"): r"answered HTTP 403 where 401 is due: the credential was accepted",
         (MEMBERS, "old-key"): r"answered HTTP 403 where 401 is due",
         (DEPLOY, "old-key"): r"answered HTTP 202 where 401 is due"}),
    "404-instead-of-403": ({}, {cell: r"answered HTTP 404 where 403 is due: the refusal is disguised"
                                for cell in FORBIDDEN_CELLS}),
    "200-instead-of-403": ({}, {cell: r"answered HTTP 200 where 403 is due" for cell in FORBIDDEN_CELLS}),
    "no-www-authenticate": ({"api.no-credential": r"answered 401 without a WWW-Authenticate: Bearer challenge"}, {}),
}


# Defects no check of area api can see: tokens.query-refused (area clients) judges them, in test_suites_responses.py.
OTHER_AREAS_DEFECTS = {"query-token"}


def test_every_defect_has_expectations() -> None:
    assert set(EXPECTED_FAILURES) == set(DEFECTS) - OTHER_AREAS_DEFECTS


@pytest.mark.parametrize("defect", sorted(EXPECTED_FAILURES))
def test_each_defect_fails_exactly_its_checks(audit, defect: str) -> None:
    run = audit(defect)
    _assert_complete(run)
    checks_due, cells_due = EXPECTED_FAILURES[defect]
    failed_checks, failed_cells = _failed(run)
    assert (failed_checks, failed_cells) == (set(checks_due), set(cells_due)), run.output()
    checks, cells = _outcomes(run)
    for check_id, pattern in checks_due.items():
        assert re.search(pattern, checks[check_id]["message"]), (pattern, checks[check_id]["message"])
        assert checks[check_id]["expected"] and checks[check_id]["observed"]
    for cell, pattern in cells_due.items():
        assert re.search(pattern, cells[cell]["message"]), (cell, pattern, cells[cell]["message"])
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    if cells_due:
        html = (run.reports_dir / "authcheck.html").read_text()
        assert html.count('class="ac-cell-failed"') == len(cells_due)


@pytest.mark.parametrize("defects", [(), ("404-instead-of-403", "accept-revoked-key", "accept-alg-none")],
                         ids=["correct", "broken"])
def test_verdicts_keep_the_result_model_invariants(audit, defects: tuple[str, ...]) -> None:
    # Each passed or failed cell and check states what it expected and observed in the same words: a pass matches
    # them, a failure does not (the result model turns a pass against its own evidence into an error).
    run = audit(*defects, extra=USERS)
    checks, cells = _outcomes(run)
    results = [*checks.values(), *cells.values()]
    assert invariant_breaches(run.report) == {} and unstated_verdicts(run.report, {"api"}) == {}
    passed = [r for r in results if r["status"] == "passed"]
    assert len(passed) >= 20, {r["nodeid"]: r["status"] for r in results}
    cell = cells[(ME, "viewer")]
    assert (cell["expected"], cell["observed"]) == ("allowed", "allowed")
    assert (cells[(MEMBERS, "anonymous")]["expected"], cells[(MEMBERS, "anonymous")]["observed"]) == \
        ("refused (401)", "refused (401)")
    members = cells[(MEMBERS, "viewer")]
    assert members["expected"] == "refused (403)"
    assert members["observed"] == ("not found (404)" if defects else "refused (403)")
    assert members["status"] == ("failed" if defects else "passed")
    alg_none = checks["api.alg-none"]
    assert set(alg_none["expected"].values()) == {"refused (401)"}
    assert set(alg_none["observed"].values()) == ({"accepted"} if defects else {"refused (401)"})
    # cell by cell: the words match exactly where the cell passed
    for result in cells.values():
        if result["status"] in ("passed", "failed"):
            assert (result["expected"] == result["observed"]) == (result["status"] == "passed"), result


def test_answers_that_say_neither_leave_cells_not_evaluated(audit, api_world: ApiWorld) -> None:
    # The API cannot fetch the provider's keys: it answers 503 to every signed token (and still 401 to no
    # credential, 200/403 to API keys). A server error shows neither an acceptance nor a refusal, so those cells
    # and the checks that need an accepted real token are not evaluated, never failed and never passed.
    run = audit(jwks_url=api_world.jwks_url + "/missing")
    checks, cells = _outcomes(run)
    token_holders = {"viewer", "developer", "admin"}
    for (request, principal), result in cells.items():
        if principal in token_holders:
            assert result["status"] == "error", result
            # its 503 says temporarily_unavailable: read as "not now", never as a refusal
            assert result["message"].startswith(f"not evaluated: {request} as {principal}: the provider throttled the "
                                                "probe: HTTP 503 temporarily_unavailable"), result["message"]
        else:
            assert result["status"] == "passed", result
    assert {k for k, r in checks.items() if r["status"] == "passed"} == {
        "api.no-credential", "api.unknown-api-key", "api.revoked-api-key"}, checks
    baseline = checks["api.alg-none"]
    assert baseline["status"] == "error" and baseline["message"].startswith(
        "not evaluated: the real token of viewer got HTTP 503 at GET /v1/users/me"), baseline["message"]
    assert not [r for r in run.report["results"] if r["status"] == "failed"]


# An edge in front of the API with a tight header limit: a credential longer than this is refused for its size.
EDGE_KEY = "k-short"
EDGE_HEADER_LIMIT = 40


@pytest.mark.parametrize("status", [413, 431, 401], ids=["413", "431", "401 (control)"])
def test_a_refusal_of_the_requests_size_decides_nothing(idp, idp_world, run_authcheck, status: int) -> None:
    """413/431 to a credential probe say the request was too large, not whether its credential is good: the probe is
    not evaluated with that reason, never failed as "HTTP 431 instead of 401" (the control: 401 passes)."""

    def me(request):
        key = request.header("X-API-Key")
        if key is None:
            return Answer(status=401, body=b'{"error": "unauthorized"}', headers={"WWW-Authenticate": 'Bearer realm="edge"'})
        if len(key) > EDGE_HEADER_LIMIT:
            return Answer(status=status, body=b'{"error": "too large"}')
        return json_answer({"sub": "read-key"})

    with HostileIdp(ca=idp_world.ca, routes={"/v1/users/me": Answer(body=me)}) as edge:
        policy = oidc_policy(idp("good"), extra=f"""
            [apis.edge]
            base_url = "{edge.url}"
            provider = "sso"
            roles = ["viewer"]

            [apis.edge.principals]
            read-key = {{ header = "X-API-Key", value = "${{EDGE_KEY}}" }}

            [[apis.edge.rules]]
            request = "GET /v1/users/me"
            allow = ["read-key"]
            """)
        run = run_authcheck(policy, "-m", "api", "-k", "unknown_api_key or no_credential", env={"EDGE_KEY": EDGE_KEY})
        sent = [r.header("X-API-Key") for r in edge.requests if r.header("X-API-Key")]
    results = {r["check"]: r for r in run.report["results"]}
    assert results["api.no-credential"]["status"] == "passed", results["api.no-credential"]
    probe = results["api.unknown-api-key"]
    assert sent and all(len(key) > EDGE_HEADER_LIMIT for key in sent)  # the probe did exceed the edge's limit
    if status == 401:
        assert probe["status"] == "passed", probe
        return
    reason = {413: "content too large", 431: "request header fields too large"}[status]
    assert probe["status"] == "error", probe
    assert probe["message"] == (f"not evaluated: random key in X-API-Key: HTTP {status} ({reason}): the request's size "
                                "was refused, which says nothing about how its credential is judged"), probe["message"]


# ---------------------------------------------------------------------------------------------------
# xdist and policy errors


def test_xdist_gives_the_same_results(audit) -> None:
    serial = audit("404-instead-of-403")
    parallel = audit("404-instead-of-403", args=("-n", "2", "--authcheck-worker-targets", "0"), subprocess=True)
    assert {r["nodeid"]: r["status"] for r in parallel.report["results"]} == \
        {r["nodeid"]: r["status"] for r in serial.report["results"]}
    assert len(parallel.report["results"]) == len(TOKEN_CHECKS) + 4 * len(PRINCIPALS)


@pytest.mark.parametrize(("extra", "message"), [
    ('[apis.platform.principals.anonymous]\nbearer = "x"\n', r"apis.platform.principals.anonymous: 'anonymous' is reserved"),
    ('[[apis.platform.rules]]\nrequest = "GET /x"\nmin_role = "boss"\n',
     r"apis.platform.rules\[4\].min_role: min_role 'boss' is not one of the API's roles"),
    ('[[apis.platform.rules]]\nrequest = "GET /x"\nallow = ["nobody"]\n',
     r"apis.platform.rules\[4\].allow: no principal named 'nobody'"),
    ('[[apis.platform.rules]]\nrequest = "GET /v1/services"\n', r"apis.platform.rules: more than one rule for GET /v1/services"),
    ('[[apis.platform.rules]]\nrequest = "FETCH /x"\n', r"apis.platform.rules\[4\].request: .*does not have the expected form"),
], ids=["anonymous-reserved", "unknown-min-role", "unknown-principal", "duplicate-rule", "bad-method"])
def test_policy_errors_name_key_and_line(api_world: ApiWorld, run_authcheck, extra: str, message: str) -> None:
    with api_world.api() as api:
        run = run_authcheck(api_world.policy(api, extra=extra), env=api_world.env())
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"authcheck.toml:\d+: " + message, run.output()), run.output()


def test_the_guide_example_policy_loads_and_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The complete policy of docs/guide.md (its first TOML block) loads, and its API matrix is what the page says."""
    from pytest_authcheck._api import api_spec, cell_id, matrix_cells
    from pytest_authcheck.policy.load import load_policy

    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    block = re.search(r"```toml\n(.*?)```", guide, re.S).group(1)
    for name in set(re.findall(r"\$\{(\w+)\}", block)):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "corp-ca.pem"))  # a ca_bundle must hold a certificate
    for folder in re.findall(r'^checks = \["([^"]+)"\]', block, re.M):
        (tmp_path / folder).mkdir()
    (tmp_path / "authcheck.toml").write_text(block)
    policy = load_policy(tmp_path / "authcheck.toml")
    ids = [cell_id(policy, c) for c in matrix_cells(policy)]
    assert "platform|POST /v1/services/demo/deploy|read-key" in ids and "platform|GET /v1/users/me|anonymous" in ids
    spec = api_spec(policy, "platform")
    deploy = spec.rules[1]
    assert {n: spec.expectation(deploy, p).label for n, p in spec.principals.items()} == {
        "developer": "allowed", "alice": "403", "ci": "403", "read-key": "403", "old-key": "401", "anonymous": "401"}
    alice = spec.principals["alice"]
    assert (alice.kind, alice.user, alice.client) == ("user", "alice", "cli")


def test_html_matrix_escapes_and_highlights(tmp_path: Path) -> None:
    from pytest_authcheck.policy.load import load_policy
    from pytest_authcheck.report.matrix import render_matrices

    (tmp_path / "authcheck.toml").write_text(textwrap.dedent("""\
        [apis.x]
        base_url = "https://api.invalid/<b>"
        roles = ["viewer"]
        principals = { v = { bearer = "tok-123456", role = "viewer" } }
        [[apis.x.rules]]
        request = "GET /<script>alert(1)</script>"
        min_role = "viewer"
        """))
    policy = load_policy(tmp_path / "authcheck.toml")
    results = [{"check": "api.authorization-matrix", "status": "failed", "message": "<img src=x onerror=1>",
                "evidence": {"facts": {"matrix cell": {"api": "x", "rule": 0, "principal": "v", "observed": 404}}}}]
    html = render_matrices(policy, results)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and 'class="ac-cell-failed"' in html and "allowed / HTTP 404" in html
    assert "401 / not run" in html  # the anonymous cell did not run
    assert "tok-123456" not in html


# ---------------------------------------------------------------------------------------------------
# user principals: logged in through the login driver (authorization code + PKCE, RFC 8707 resource)

FAILING_LOGIN = '''
import pytest
import trustme

class LoginRefused(Exception):
    pass

@pytest.fixture(scope="session")
def authcheck_login():
    def login(flow):
        if flow.user is not None and flow.user.name == "alice":
            raise LoginRefused("account locked for " + flow.user.username)
        raise AssertionError("only alice logs in here")
    return login
'''


def _user_cells(run) -> dict[tuple[str, str], dict]:
    _, cells = _outcomes(run)
    return {k: r for k, r in cells.items() if k[1] in USER_PRINCIPALS}


def _assert_no_secret(run, *texts: str) -> None:
    blobs = {"terminal": run.output(), "json": (run.reports_dir / "authcheck.json").read_text(),
             "html": readable(run.reports_dir / "authcheck.html"), **dict(enumerate(texts))}
    for name, blob in blobs.items():
        for secret in (ALICE_PASSWORD, BOB_PASSWORD, CLIENT_SECRET):
            assert secret not in blob, f"a password or secret leaked into {name}"
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", blob), f"a raw JWT reached {name}"
        # the authorization code and PKCE verifier go out in the token request: only redacted
        assert not re.search(r"\bcode=(?!\[REDACTED|%5BREDACTED)[A-Za-z0-9_-]{16,}", blob), f"a code reached {name}"


def test_user_principals_get_their_roles_through_a_login(audit) -> None:
    run = audit(extra=USERS, args=("-rA", "--showlocals"))
    checks, cells = _outcomes(run)
    assert set(cells) == {(r, p) for r in (ME, SERVICES, MEMBERS, DEPLOY) for p in (*PRINCIPALS, *USER_PRINCIPALS)}
    assert _failed(run) == (set(), set()), run.output()
    users = _user_cells(run)
    assert {k: r["status"] for k, r in users.items()} == {k: "passed" for k in users}, run.output()
    facts = {k: r["evidence"]["facts"]["matrix cell"] for k, r in users.items()}
    assert {k: (f["expected"], f["observed"]) for k, f in facts.items()} == {
        (ME, "alice"): ("allowed", 200), (SERVICES, "alice"): ("allowed", 200), (MEMBERS, "alice"): ("403", 403),
        (DEPLOY, "alice"): ("403", 403), (ME, "bob"): ("allowed", 200), (SERVICES, "bob"): ("allowed", 200),
        (MEMBERS, "bob"): ("403", 403), (DEPLOY, "bob"): ("allowed", 202)}
    assert users[(ME, "alice")]["evidence"]["facts"]["credential"] == (
        "access token of users.alice logged in through clients.cli-api (authorization code + PKCE)")
    # one login per (user, client) per run, asking for the API's audience (RFC 8707); code and verifier redacted
    redemptions = [x for x in run.report["exchanges"].values()
                   if "grant_type=authorization_code" in (x.get("request_body") or "")]
    assert len(redemptions) == 2, redemptions
    assert all("resource=https%3A%2F%2Fapi.test" in x["request_body"] and "code=[REDACTED]" in x["request_body"]
               and "code_verifier=[REDACTED]" in x["request_body"] for x in redemptions)
    # bob (developer) deployed as himself; alice (viewer) was refused
    assert ("demo", "bob") in run.deployments and ("demo", "alice") not in run.deployments
    assert all(r["status"] == "passed" for r in checks.values() if r["status"] != "skipped"), checks
    _assert_no_secret(run)


def test_user_principal_cell_fails_when_the_api_lets_a_viewer_deploy(audit) -> None:
    run = audit("viewer-can-deploy", extra=USERS)
    _, failed_cells = _failed(run)
    assert failed_cells == {(DEPLOY, "viewer"), (DEPLOY, "alice")}, run.output()
    assert re.search(r"answered HTTP 202 where 403 is due: alice was let through",
                     _user_cells(run)[(DEPLOY, "alice")]["message"])
    assert ("demo", "alice") in run.deployments


def test_failed_user_login_is_an_error_never_a_pass(audit, pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAILING_LOGIN)
    run = audit(extra=USERS)
    users = _user_cells(run)
    assert {k: r["status"] for k, r in users.items()} == {k: "error" for k in users}, run.output()
    alice = users[(ME, "alice")]["message"]
    assert "no token for users.alice through clients.cli-api" in alice and "LoginRefused: account locked for alice" in alice
    assert "no token for users.bob through clients.cli-api" in users[(ME, "bob")]["message"]
    _, cells = _outcomes(run)
    assert all(r["status"] == "passed" for k, r in cells.items() if k[1] not in USER_PRINCIPALS)
    assert not any(user == "alice" for _, user in run.deployments)
    assert run.result.ret != 0
    _assert_no_secret(run)


def test_user_principals_under_xdist(audit) -> None:
    serial = audit("viewer-can-deploy", extra=USERS)
    parallel = audit("viewer-can-deploy", extra=USERS, args=("-n", "2", "--authcheck-worker-targets", "0"),
                     subprocess=True)
    assert {r["nodeid"]: r["status"] for r in parallel.report["results"]} == \
        {r["nodeid"]: r["status"] for r in serial.report["results"]}
    assert {k: r["status"] for k, r in _user_cells(parallel).items()} == {
        (ME, "alice"): "passed", (SERVICES, "alice"): "passed", (MEMBERS, "alice"): "passed",
        (DEPLOY, "alice"): "failed", (ME, "bob"): "passed", (SERVICES, "bob"): "passed",
        (MEMBERS, "bob"): "passed", (DEPLOY, "bob"): "passed"}
    _assert_no_secret(parallel)


_ALICE = '[users.alice]\nprovider = "sso"\nusername = "alice"\npassword = "x"\n'


@pytest.mark.parametrize(("extra", "message"), [
    (_ALICE + '[apis.platform.principals.alice]\nuser = "alice"\nrole = "viewer"\n',
     r"apis.platform.principals.alice: a user principal needs client = NAME"),
    (_ALICE + '[apis.platform.principals.alice]\nuser = "alice"\nclient = "deployer"\n',
     r"apis.platform.principals.alice.client: clients.deployer declares no authorization_code grant"),
    ('[users.alice]\nprovider = "sso"\nusername = "alice"\n[apis.platform.principals.alice]\nuser = "alice"\nclient = "cli"\n',
     r"apis.platform.principals.alice.user: users.alice has no password"),
    ('[users.alice]\nprovider = "staging"\nusername = "alice"\npassword = "x"\n'
     '[apis.platform.principals.alice]\nuser = "alice"\nclient = "cli"\n',
     r"apis.platform.principals.alice.user: users.alice belongs to provider 'staging', not the API's provider 'sso'"),
    (_ALICE + '[apis.platform.principals.alice]\nuser = "alice"\nclient = "cli"\nrevoked = true\n',
     r"apis.platform.principals.alice.revoked: revoked applies to API keys"),
    (_ALICE + '[apis.platform.principals.alice]\nuser = "alice"\nclient = "cli"\nbearer = "t"\n',
     r"apis.platform.principals.alice: a principal needs exactly one of .*, not user, bearer"),
], ids=["user-without-client", "client-without-code-grant", "no-password", "other-provider", "revoked-user", "two-kinds"])
def test_user_principal_policy_errors(api_world: ApiWorld, run_authcheck, extra: str, message: str) -> None:
    with api_world.api() as api:
        run = run_authcheck(api_world.policy(api, extra=extra), env=api_world.env())
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"authcheck.toml:\d+: " + message, run.output()), run.output()


def test_user_login_refused_by_the_provider_is_an_error(audit) -> None:
    # A real refusal by the IdP through the default login driver: the client's redirect URI is not registered.
    extra = USERS.replace('redirect_uris = ["http://127.0.0.1/callback"]', 'redirect_uris = ["http://127.0.0.1/elsewhere"]')
    run = audit(extra=extra)
    users = _user_cells(run)
    assert {r["status"] for r in users.values()} == {"error"}, run.output()
    message = users[(DEPLOY, "bob")]["message"]
    assert "no token for users.bob through clients.cli-api: the login stopped at step 1: HTTP 400" in message, message
    assert not any(user in ("alice", "bob") for _, user in run.deployments)
    _assert_no_secret(run)
