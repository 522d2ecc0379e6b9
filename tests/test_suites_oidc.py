import httpcore  # noqa: F401
import json, pytest
from tests.conftest import oidc_policy
from tests.idp.world import VARIANTS

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_explore(idp, run_authcheck, variant):
    i = idp(variant)
    extra = 'signing_algs = ["RS256","ES256","ES384","PS512"]' if variant == "missing-signing-key" else ""
    policy = oidc_policy(i)
    if extra:
        policy = policy.replace('signing_algs = ["RS256", "ES256"]', extra)
    run = run_authcheck(policy)
    with open(f"/tmp/explore-{variant}.json", "w") as f:
        json.dump(run.report, f, indent=1)
    print("\n=== ", variant, run.result.ret)
    for r in run.report["results"]:
        print(f"  {r['check']:35} {r['status']:8} {(r.get('message') or '')[:250]}")
