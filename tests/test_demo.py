"""The demo (`scripts/demo`): its launcher starts the whole demo world, runs the bundled policy on it, and the
report shows every area with exactly the deliberate findings, nothing else failing, and every artifact written.

The launcher runs as a subprocess, as `scripts/demo` runs it, so what is tested is what a user sees.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from examples.demo.world import API_CLIENT_SECRET, OLD_KEY, READ_KEY, TEST_PASSWORD
from pytest_authcheck._checks import AREAS
from tests.idp.world import DEPLOYER_SECRET, WEB_PORTAL_SECRET
from tests.jamf_sim.presets import AUDITOR_PASSWORD, BASIC_PASSWORD, MCP_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ("authcheck.html", "authcheck.json", "authcheck.sarif", "authcheck.md", "junit.xml", "authcheck.sha256")
# (check, target) -> how many results fail (the matrix check fails once per disguised 403 cell)
DELIBERATE_FINDINGS = {
    # legacy IdP: certificate about to expire, 1024-bit key, 'none' advertised, clock 10 minutes fast
    ("tls.cert-lifetime", "providers.legacy"): 1,
    ("jwks.key-strength", "providers.legacy"): 1,
    ("discovery.signing-algs", "providers.legacy"): 1,
    ("clock.token-iat", "providers.legacy"): 1,
    ("lifetimes.access-token", "clients.legacy-deployer"): 1,  # the fast clock again: iat in the future
    # sso's clients registered more permissively than declared
    ("client-auth.removed-client-refused", "clients.retired"): 1,
    ("redirect-uri.exact-match", "clients.portal"): 1,
    ("lifetimes.access-token", "clients.nightly"): 1,
    ("refresh.rotation", "clients.mobile"): 1,
    # Jamf Pro: a Delete privilege in the client's role, day-long client tokens
    ("privileges.none-forbidden", "privileges.jamfmcp"): 1,
    ("privileges.excess", "privileges.jamfmcp"): 1,
    ("jamf.client-token-lifetime", "clients.jamfmcp"): 1,
    # the platform API answers 404 where 403 is due (viewer, developer, read-key on the admin-only request)
    ("api.authorization-matrix", "apis.platform"): 3,
    # ... and, validating JWTs locally, keeps accepting a revoked access token until its exp
    ("revocation.refused-by-api", "clients.viewer"): 1,
    ("revocation.refused-by-api", "clients.deployer"): 1,
    ("revocation.refused-by-api", "clients.admin"): 1,
    # this machine: a world-readable credentials file, a JAMF_URL with a trailing slash
    ("credentials.file-mode", "credentials.cli"): 1,
    ("credentials.env-url-form", "clients.jamfmcp"): 1,
}
SECRETS = (DEPLOYER_SECRET, WEB_PORTAL_SECRET, TEST_PASSWORD, API_CLIENT_SECRET, READ_KEY, OLD_KEY,
           AUDITOR_PASSWORD, BASIC_PASSWORD, MCP_CLIENT_SECRET)

Demo = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    reports = tmp_path_factory.mktemp("demo-reports")
    # The launcher's pytest must not think it is one of this run's xdist workers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "examples.demo.run", "--reports", str(reports)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return done, reports


def _report(demo: Demo) -> dict[str, Any]:
    done, reports = demo
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report: dict[str, Any] = json.loads((reports / "authcheck.json").read_text())
    return report


def test_every_area_has_results(demo: Demo) -> None:
    report = _report(demo)
    ran = {report["checks"][r["check"]]["area"] for r in report["results"] if r["status"] in ("passed", "failed")}
    assert ran == set(AREAS) - {"custom"}, ran


def test_exactly_the_deliberate_findings_fail(demo: Demo) -> None:
    report = _report(demo)
    failed: dict[tuple[str, str], int] = {}
    for result in report["results"]:
        assert result["status"] != "error", (result["nodeid"], result["message"])
        if result["status"] == "failed":
            key = (result["check"], result["target"])
            failed[key] = failed.get(key, 0) + 1
    assert failed == DELIBERATE_FINDINGS
    assert [(w["check"], w["target"]) for w in report["waivers"]["applied"]] == [("clock.date-header", "providers.legacy")]
    assert [(w["check"], w["target"]) for w in report["waivers"]["stale"]] == [("discovery.issuer-match", "providers.sso")]
    messages = {r["check"]: r["message"] for r in report["results"] if r["status"] == "failed"}
    assert "'Delete Computers'" in messages["privileges.none-forbidden"]
    assert "answered HTTP 404 where 403 is due" in messages["api.authorization-matrix"]
    assert "has mode 0644" in messages["credentials.file-mode"]
    assert re.search(r"JAMF_URL 'https://127\.0\.0\.1:\d+/' ends with a slash", messages["credentials.env-url-form"])


def test_every_report_is_written_and_no_secret_shown(demo: Demo) -> None:
    done, reports = demo
    _report(demo)
    for name in REPORTS:
        assert (reports / name).stat().st_size > 0, name
        assert str(reports / name) in done.stdout, f"the launcher does not say where {name} is"
    texts = [done.stdout, done.stderr, *((reports / name).read_text(errors="replace") for name in REPORTS)]
    for secret in SECRETS:
        assert not any(secret in text for text in texts)


def test_the_demo_world_is_stopped_afterwards(demo: Demo) -> None:
    done, _ = demo
    first = done.stdout.splitlines()[0]
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", first)]
    assert len(ports) == 4, first  # sso, legacy, jamf, platform API
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is still served"
