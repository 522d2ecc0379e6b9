"""The provider suites never trip the result model's invariants, on the good IdP or any broken one.

A check that passes states what it expected and what it observed, and the two match (pytest_authcheck/_expect.py);
otherwise the result model turns the pass into an error saying "passed against its own evidence" or "passed
without stating". Every variant of the test IdP (good and each broken one), plus the policies that declare every
option and the IdPs that only a policy tolerates (plain http on loopback, RFC 8414 under an issuer with a path),
is run through the four provider suites; no result may carry those errors, and every pass states both sides.
"""

from __future__ import annotations

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)
import pytest

from tests.conftest import oidc_policy
from tests.idp.world import VARIANTS, IdpSpec

INVARIANT_ERRORS = ("passed against its own evidence", "without stating")
PROVIDER_AREAS = "discovery or jwks or tls or clock"


def provider_check_count() -> int:
    """Every shipped check of those areas (each must reach a result: passed, failed, not evaluated or not applicable)."""
    import warnings

    from pytest_authcheck._checks import shipped_checks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)  # the suites' marks exist only with --authcheck
        return len([c for c in shipped_checks() if c.area in ("discovery", "jwks", "tls", "clock")])
EVERY_OPTION = """
    grant_types = ["authorization_code", "refresh_token", "client_credentials"]
    response_types = ["code"]
    token_endpoint_auth_methods = ["client_secret_basic", "client_secret_jwt", "client_secret_post", "private_key_jwt", "none"]
    features = ["revocation", "introspection"]
    allowed_hosts = ["localhost"]
    rfc8414 = true
    """

# name -> (IdpSpec, provider keys added to the test policy)
SPECIAL = {
    "good-every-option": (IdpSpec(name="good"), EVERY_OPTION),
    "plain-http-allowed": (IdpSpec(name="plain-http", plain_http=True), "allow_http_loopback = true"),
    "path-issuer-rfc8414": (IdpSpec(name="path", issuer_path="/realms/test",
                                    openid_metadata_overrides={"revocation_endpoint": None, "introspection_endpoint": None}),
                            'rfc8414 = true\nfeatures = ["revocation", "introspection"]'),
    "openid-discovery-only": (IdpSpec(name="openid-only", serve_rfc8414=False), "rfc8414 = true"),
}
CASES = {name: (name, "") for name in VARIANTS} | SPECIAL


@pytest.fixture(scope="module")
def started(idp_world):
    cache = {}

    def get(spec: IdpSpec):
        key = repr(spec)
        if key not in cache:
            cache[key] = idp_world.start(spec)
        return cache[key]

    return get


@pytest.mark.parametrize("case", list(CASES))
def test_no_provider_check_passes_against_its_own_evidence(case, started, run_authcheck):
    spec, provider = CASES[case]
    running = started(VARIANTS[spec] if isinstance(spec, str) else spec)
    run = run_authcheck(oidc_policy(running, provider=provider), "-m", PROVIDER_AREAS, "--tb=no")
    results = [r for r in run.report["results"] if "[no-" not in r["nodeid"]]
    assert len({r["check"] for r in results}) == provider_check_count(), run.output()
    broken = {r["check"]: r["message"] for r in results
              if any(text in (r["message"] or "") for text in INVARIANT_ERRORS)}
    assert not broken, broken
    for result in results:
        if result["status"] == "passed":
            assert "expected" in result and "observed" in result, result
    # a pass is not the only outcome these runs see: the broken variants fail, so the matcher paths are exercised
    if case not in ("good", "good-every-option", "plain-http-allowed", "path-issuer-rfc8414"):
        assert any(r["status"] in ("failed", "error") for r in results), case
