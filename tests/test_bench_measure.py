"""The scale benchmark's measured run (``benchmarks/_scale_proc.py``) states each command's own memory."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import benchmark_module

MB = 1_000_000


def test_the_largest_process_is_the_commands_own_not_the_benchmarks(tmp_path: Path) -> None:
    # Linux hands a parent's high-water mark to the child it execs (wait4's ru_maxrss): a benchmark holding a large
    # report must not state its own size for the next command
    held = b"x" * (300 * MB)
    child = f"import time; kept = b'x' * {60 * MB}; time.sleep(0.6)"
    with benchmark_module("_scale_proc") as proc:
        measured = proc.run_measured([sys.executable, "-c", child], cwd=tmp_path, env={}, out_dir=tmp_path, name="c",
                                     timeout=60)
    assert len(held) == 300 * MB
    assert measured.returncode == 0
    assert 60 * MB <= measured.peak_process_rss < 200 * MB, measured.peak_process_rss
    assert 60 * MB <= measured.peak_tree_rss < 200 * MB, measured.peak_tree_rss
    assert 60 * MB <= measured.peak_tree_pss <= measured.peak_tree_rss, measured.peak_tree_pss
