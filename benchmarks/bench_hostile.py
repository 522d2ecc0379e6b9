"""What a world of hostile issuers costs one ``pytest --authcheck`` run: wall time, peak RSS, report sizes.

Starts ``tests.hostile_world.HostileWorld`` (about fifty issuers, one fault class each) in this process,
writes its policy into a scratch folder and runs ``pytest --authcheck`` there in a child process; the
child's peak RSS comes from ``getrusage(RUSAGE_CHILDREN)`` (this process has no other children).

    python benchmarks/bench_hostile.py [--kill-after SECONDS] [--keep DIR] [-- extra pytest args]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile_world import SECRET_ENV, HostileWorld  # noqa: E402
from tests.idp.world import DEPLOYER_SECRET  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after", type=float, default=1800.0)
    parser.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()
    os.environ[SECRET_ENV] = DEPLOYER_SECRET
    ca = trustme.CA(organization_name="hostile world CA")
    with tempfile.TemporaryDirectory() as scratch, HostileWorld(ca, DEPLOYER_SECRET) as world:
        root = options.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        ca_pem = root / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_pem))
        (root / "authcheck.toml").write_text(world.policy(ca_pem))
        started = time.monotonic()
        with open(root / "output.txt", "wb") as output:
            child = subprocess.Popen([sys.executable, "-m", "pytest", "--authcheck", "-p", "no:cacheprovider", "-q",
                                      *options.pytest_args], cwd=root, stdout=output, stderr=subprocess.STDOUT)
            try:
                code = child.wait(timeout=options.kill_after)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
                print(f"killed after {options.kill_after:g}s")
        elapsed = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"issuers: {len(world.issuers)}; exit {code}; wall {elapsed:.1f}s; peak RSS {peak:.0f} MB")
        for path in sorted((root / "reports").glob("*")) + [root / "output.txt"]:
            print(f"  {path.name}: {path.stat().st_size / 1e6:.2f} MB")
        tail = (root / "output.txt").read_text(errors="replace").splitlines()[-6:]
        print("\n".join(tail))


if __name__ == "__main__":
    main()
