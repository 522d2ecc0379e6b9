"""Start the demo world, run ``pytest --authcheck`` on it with the bundled policy, and say where the report is.

The world is the project's test IdP (oidc-provider over TLS, see tests/idp): ``sso`` configured well,
``legacy`` with deliberate misconfigurations (a certificate about to expire, a 1024-bit key in its JWKS,
'none' advertised as an ID token signing algorithm, its clock 10 minutes fast). ``sso`` also registers a few
clients more permissively than the policy declares (prefix-matched redirect URIs, 8-hour tokens, no refresh
rotation, a removed client still registered).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.idp.world import (DEPLOYER_SECRET, VARIANTS, WEB_PORTAL_SECRET, IdpSpec, IdpWorld, client_matrix_clients,
                             default_signing_keys, public_jwks, weak_rsa_jwk)

ROOT = Path(__file__).resolve().parents[2]
POLICY = Path(__file__).resolve().parent / "authcheck.toml"


def legacy_spec():
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


def main(argv: list[str]) -> int:
    reports = ROOT / "reports"
    with tempfile.TemporaryDirectory(prefix="authcheck-demo-") as scratch, IdpWorld(Path(scratch)) as world:
        # the good IdP, plus the test world's broken clients (each with one defect) beside the good ones
        sso = world.start(IdpSpec(name="sso", clients=[c for c in client_matrix_clients()
                                                       if c["client_id"] != "web-portal-implicit"]))
        legacy = world.start(legacy_spec())
        env = dict(os.environ, DEMO_CA_BUNDLE=str(world.ca_pem_path), DEMO_SSO_ISSUER=sso.issuer,
                   DEMO_LEGACY_ISSUER=legacy.issuer, DEMO_DEPLOYER_SECRET=DEPLOYER_SECRET,
                   DEMO_PORTAL_SECRET=WEB_PORTAL_SECRET, DEMO_TEST_PASSWORD="demo-alice-password")
        print(f"demo world: sso at {sso.issuer}, legacy at {legacy.issuer}", flush=True)
        command = [sys.executable, "-m", "pytest", "--authcheck", "--authcheck-policy", str(POLICY),
                   "--authcheck-reports", str(reports), "--junitxml", str(reports / "junit.xml"),
                   "-p", "no:cacheprovider", "-q", "-rfE", *argv]
        code = subprocess.call(command, cwd=ROOT, env=env)
    names = ("authcheck.html", "authcheck.json", "authcheck.sarif", "authcheck.md", "junit.xml", "authcheck.sha256")
    print("\nreport: " + "\n        ".join(str(reports / name) for name in names))
    # Exit 1 means "the audit found problems", which is what the demo world is built to show.
    if code not in (0, 1):
        print(f"pytest --authcheck did not complete (exit status {code})", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
