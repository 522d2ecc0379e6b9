"""Re-run the FINDINGS.md analysis: ``python -m tests.dot_idp.analyse [--browser-origin] [--keep]`` from the repo root.

Starts the DOT provider, runs ``pytest --authcheck`` with the strict policy in a fresh directory, prints every
result that did not pass or skip, and compares the failures with the hand-checked TRUE list.
``--browser-origin`` adds an ``authcheck_login`` plug-in that sends the same-origin Referer a browser sends on
form POSTs (the login driver lacks it, so Django's CSRF check refuses the login; FINDINGS.md, Run B).
``--keep`` leaves the provider running until Enter is pressed, for requests by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.dot_idp.findings import TRUE_FINDINGS
from tests.dot_idp.policy import POLICY_ENV, dot_policy
from tests.dot_idp.world import DotWorld

BROWSER_ORIGIN_PLUGIN = '''\
import types

import pytest
from pytest_authcheck._client_fixtures import _default_login  # analysis aid: follows the stock driver


class _SameOriginPosts:
    def __init__(self, http):
        self._http = http

    def request(self, method, url, *, headers=None, **kwargs):
        headers = dict(headers or {})
        if method == "POST":
            headers.setdefault("Referer", url)
        return self._http.request(method, url, headers=headers, **kwargs)


@pytest.fixture(scope="session")
def authcheck_login(authcheck_run):
    return _default_login(types.SimpleNamespace(http=_SameOriginPosts(authcheck_run.http), policy=authcheck_run.policy))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser-origin", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dot-analysis-") as tmp, DotWorld(Path(tmp) / "world") as world:
        dot = world.start()
        print(f"DOT at {dot.issuer} (started in {dot.startup_seconds:.1f}s; log {dot.log_path})")
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        (run_dir / "authcheck.toml").write_text(dot_policy(dot))
        if args.browser_origin:
            (run_dir / "conftest.py").write_text(BROWSER_ORIGIN_PLUGIN)
        subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-p", "no:cacheprovider", "-q", "--no-header"],
                       cwd=run_dir, env={**os.environ, **POLICY_ENV}, stdout=subprocess.DEVNULL, check=False)
        results = json.loads((run_dir / "reports" / "authcheck.json").read_text())["results"]
        counts: dict[str, int] = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            if result["status"] not in ("passed", "skipped"):
                print(f"{result['status']:7} {result['check']} [{result['target']}]: {result.get('message', '')[:300]}")
        failed = {(r["check"], r["target"]) for r in results if r["status"] == "failed"}
        print(f"\n{counts}")
        print(f"false failures (not in the TRUE list): {len(failed - TRUE_FINDINGS)}")
        print(f"TRUE findings not failed: {sorted(TRUE_FINDINGS - failed)}")
        if args.keep:
            print(f"policy and reports in {run_dir}; CA {dot.ca_pem_path}")
            input("press Enter to stop the provider ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
