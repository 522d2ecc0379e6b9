"""Start the demo world, run ``pytest --authcheck`` on it with the bundled policy, and say where the reports are.

The world (examples/demo/world.py) is two OpenID Providers (``sso`` configured well, ``legacy`` with
deliberate misconfigurations), a Jamf Pro server, the platform API, and a credentials file and a JamfMCP
``.env`` in a scratch folder; each has one or two deliberate defects. Everything listens on 127.0.0.1 and is
stopped when the run ends, also on Ctrl-C, SIGTERM or an error.

    python -m examples.demo.run [--reports DIR] [pytest arguments...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from examples.demo.world import DemoWorld

ROOT = Path(__file__).resolve().parents[2]
POLICY = Path(__file__).resolve().parent / "authcheck.toml"
REPORT_NAMES = ("authcheck.html", "authcheck.json", "authcheck.sarif", "authcheck.md", "junit.xml",
                "authcheck.sha256")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds the with-blocks, so the servers are stopped as on Ctrl-C.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo.run", description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="where the reports go")
    options, pytest_args = parser.parse_known_args(argv)
    reports = options.reports.resolve()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="authcheck-demo-") as scratch, DemoWorld(Path(scratch)) as world:
        print("demo world: " + ", ".join(f"{name} at {url}" for name, url in world.addresses.items()), flush=True)
        command = [sys.executable, "-m", "pytest", "--authcheck", "--authcheck-policy", str(POLICY),
                   "--authcheck-reports", str(reports), "--junitxml", str(reports / "junit.xml"),
                   "-p", "no:cacheprovider", "-q", "-rfE", *pytest_args]
        code = subprocess.call(command, cwd=ROOT, env={**os.environ, **world.env})
    print("\nreport: " + "\n        ".join(str(reports / name) for name in REPORT_NAMES))
    # Exit 1 means "the audit found problems", which is what the demo world is built to show.
    if code not in (0, 1):
        print(f"pytest --authcheck did not complete (exit status {code})", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # The demo world is already stopped: the with-blocks unwound on the way here.
        print("\ninterrupted; the demo world is stopped", file=sys.stderr)
        sys.exit(130)
