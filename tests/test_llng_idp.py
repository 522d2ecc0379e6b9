"""pytest-authcheck against a real, independently written IdP: LemonLDAP::NG's OpenID Connect provider.

The portal comes from Debian's packages (scripts/setup installs them) and runs over TLS on 127.0.0.1
(tests/llng_idp/world.py). A strict policy (tests/llng_idp/policy.py) is audited with every suite, and the
run is held to the hand-checked list of findings (tests/llng_idp/findings.py, explained in
tests/llng_idp/FINDINGS.md): each one shown again by independent requests, and no other failure.
"""

from __future__ import annotations

import os

# pins one httpcore for pytester's in-process runs (see tests/test_suites_oidc.py)
import httpcore  # noqa: F401
import pytest

from tests.llng_idp import world
from tests.llng_idp.findings import FALSE_FAILURES, NOT_EVALUATED, NOTED, TRUE_FINDINGS
from tests.llng_idp.policy import ENV, llng_policy
from tests.llng_idp.probes import Probe

_ABSENT = world.missing()
if _ABSENT and not os.environ.get("CI"):
    # Under CI the tests run and fail with the hint instead: CI's setup must have installed LemonLDAP::NG.
    pytestmark = pytest.mark.skip(reason=f"{world.INSTALL_HINT}; missing: {', '.join(_ABSENT)}")


@pytest.fixture(scope="module")
def llng(tmp_path_factory: pytest.TempPathFactory):
    portal = world.start(tmp_path_factory.mktemp("llng"))
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture
def probe(llng):
    with Probe(llng) as p:
        yield p


def test_portal_serves_discovery_jwks_and_logs_the_test_user_in(llng, probe):
    assert llng.issuer.startswith("https://127.0.0.1:")
    discovery = probe.get(llng.discovery_url)
    assert discovery.status == 200, discovery.quote()
    document = discovery.json()
    assert document["issuer"] == llng.issuer
    assert document["token_endpoint"] == llng.issuer + "/oauth2/token"
    jwks = probe.get(document["jwks_uri"])
    assert jwks.status == 200, jwks.quote()
    [key] = jwks.json()["keys"]
    assert (key["kty"], key["kid"]) == ("RSA", "llng-rsa-1") and "d" not in key

    # the three RPs work as declared: client credentials, and a code flow with PKCE for the native RP
    granted = probe.token({"grant_type": "client_credentials", "scope": "deploy read"},
                          auth=("ci-deployer", world.DEPLOYER_SECRET))
    assert granted.status == 200 and granted.json()["token_type"] == "Bearer", granted.quote()
    tokens = probe.native_tokens()
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    refused = probe.token({"grant_type": "client_credentials"}, auth=("ci-deployer", "not-the-secret"))
    assert refused.status == 401 and refused.json() == {"error": "invalid_client"}, refused.quote()


def test_hand_checked_answers_hold(probe):
    """Every TRUE finding is shown again by independent requests, and every FALSE failure refuted."""
    for key, finding in {**TRUE_FINDINGS, **NOTED, **FALSE_FAILURES}.items():
        try:
            finding.verify(probe)
        except AssertionError as exc:
            raise AssertionError(f"{key}: {finding.why}: not what LemonLDAP::NG answers now: {exc}") from exc


def test_strict_policy_run_fails_exactly_the_hand_checked_findings(llng, probe, run_authcheck):
    run = run_authcheck(llng_policy(llng), clients=True, env=ENV)
    assert run.report.get("results"), run.output()[-3000:]
    for finding in TRUE_FINDINGS.values():
        finding.verify(probe)
    results = run.report["results"]
    failed = {(r["check"], r["target"]) for r in results if r["status"] == "failed"}
    errors = {(r["check"], r["target"]): r["message"] for r in results if r["status"] == "error"}
    assert failed == set(TRUE_FINDINGS), (f"false failures: {sorted(failed - set(TRUE_FINDINGS))}; "
                                          f"missed: {sorted(set(TRUE_FINDINGS) - failed)}")
    assert set(errors) == set(NOT_EVALUATED), f"not evaluated: {errors}"
    for key, words in NOT_EVALUATED.items():
        assert errors[key].startswith("not evaluated: ") and words in errors[key], errors[key]
