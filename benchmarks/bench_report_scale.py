"""Report sizes and the HTML's opening time at scale: N clients x 20 checks, no network.

Runs ``pytest --authcheck`` on the synthetic world of ``tests/scale_world.py`` (one provider, N clients,
20 generated checks each, shared HTTP exchanges, a few waivers), prints the size of every report, and
opens ``authcheck.html`` in the system's headless Chromium: time to the load event, time until the
findings are drawn, and the time a search over every result takes.

    python benchmarks/bench_report_scale.py 1000        # 20,000 results
    python benchmarks/bench_report_scale.py 10000 --keep /tmp/scale10k
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, chromium_path  # noqa: E402
from tests.scale_world import write_project  # noqa: E402


def opening(html: Path) -> dict[str, float]:
    """Seconds to the load event, to the first drawn page of findings, and for one search."""
    executable = chromium_path()
    if executable is None:
        return {}
    browser = Browser(executable, timeout=300)
    try:
        started = time.monotonic()
        browser.open(html.resolve().as_uri())
        loaded = time.monotonic() - started
        drawn = float(browser.evaluate("Number(document.documentElement.dataset.acReady)")) / 1000
        search = browser.evaluate("""(() => {
            const box = document.getElementById('ac-search'), t = performance.now();
            box.value = 'c00042';
            box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
            return (performance.now() - t) / 1000;
        })()""")
        problems = browser.problems()
        if problems:
            print("page problems:", problems)
        return {"load event": loaded, "findings drawn": drawn, "search": float(search)}
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", type=int, nargs="?", default=1000)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="authcheck-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    write_project(folder, args.targets)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-q", "-p", "no:cacheprovider", "--tb=no"],
                   cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{args.targets} clients: pytest --authcheck took {time.monotonic() - started:.1f} s")
    for path in sorted((folder / "reports").iterdir()):
        print(f"  {path.name:28} {path.stat().st_size / 1e6:9.2f} MB")
    for what, seconds in opening(folder / "reports" / "authcheck.html").items():
        print(f"  chromium: {what:16} {seconds:7.2f} s")
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
