"""What a check costs beyond its own work: pytest alone vs ``--authcheck`` (JSON only) vs ``--authcheck`` with HTML.

Generates N trivial checks (each records an expected/observed pair and one fact, a fifth of them fail)
in a scratch folder and times three runs of them. The difference per test is the plugin's overhead
(result model, redaction, evidence, writers); the HTML column adds pytest-html's cost.

    python benchmarks/bench_overhead.py 20000
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKS = '''
import pytest
from pytest_authcheck import check

@check("bench.synthetic", title="synthetic", severity="low", area="custom", refs=["none"], remediation="none")
@pytest.mark.parametrize("n", range({n}))
def test_synthetic(n, authcheck_record):
    authcheck_record.fact("value", {{"n": n, "text": "x" * 40}})
    if n % 5 == 0:
        authcheck_record.fail(f"value {{n}} is divisible by five", expected="not divisible", observed=n)
'''

PLAIN = '''
import pytest

@pytest.mark.parametrize("n", range({n}))
def test_synthetic(n):
    facts = {{"value": {{"n": n, "text": "x" * 40}}}}
    if n % 5 == 0:
        pytest.fail(f"value {{n}} is divisible by five", pytrace=False)
'''


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", *args], cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "authcheck.toml").write_text('[settings]\nchecks = ["checks"]\n')
        (root / "checks").mkdir()
        (root / "checks" / "test_bench.py").write_text(CHECKS.format(n=n))
        (root / "plain").mkdir()
        (root / "plain" / "test_plain.py").write_text(PLAIN.format(n=n))
        plain = timed(["plain"], root)
        json_only = timed(["--authcheck", "-p", "no:html", "-p", "no:pytest_html", "checks"], root)
        with_html = timed(["--authcheck", "checks"], root)
        report = root / "reports" / "authcheck.json"
        size = report.stat().st_size if report.exists() else 0
    per = lambda seconds: seconds / n * 1000  # noqa: E731
    print(f"{n} checks")
    print(f"pytest alone              {plain:7.2f} s  {per(plain):6.3f} ms/test")
    print(f"--authcheck, JSON report  {json_only:7.2f} s  {per(json_only):6.3f} ms/test  "
          f"(plugin overhead {per(json_only - plain):.3f} ms/test; authcheck.json {size / 1e6:.1f} MB)")
    print(f"--authcheck, JSON + HTML  {with_html:7.2f} s  {per(with_html):6.3f} ms/test  "
          f"(pytest-html adds {per(with_html - json_only):.3f} ms/test)")


if __name__ == "__main__":
    main()
