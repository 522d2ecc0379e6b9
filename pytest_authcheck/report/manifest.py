"""The integrity manifest: the sha256 of every artifact the run wrote.

Two forms of the same facts: ``authcheck.sha256`` (``sha256sum -c authcheck.sha256`` in the report folder
checks every file) and ``authcheck.manifest.json`` (with the run id, sizes and the policy's hash), so an
auditor can tell that the report they hold is the one the run produced.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._run import AuthcheckRun

SUMS = "authcheck.sha256"
MANIFEST = "authcheck.manifest.json"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entries(paths: Iterable[Path], base: Path) -> list[dict[str, Any]]:
    """One entry per existing file, named relative to ``base`` (``../junit.xml`` when outside it)."""
    out = []
    for path in paths:
        if path.is_file():
            name = os.path.relpath(path.resolve(), base.resolve())
            out.append({"path": Path(name).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size})
    return out


def write(run: AuthcheckRun, artifacts: Iterable[Path]) -> list[Path]:
    """Write both manifest files into the report folder; returns their paths."""
    base = Path(run.reports_dir)
    files = entries(artifacts, base)
    sums = base / SUMS
    sums.write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in files), encoding="utf-8")
    manifest = base / MANIFEST
    manifest.write_text(json.dumps({
        "run_id": run.run_id,
        "finished": run.finished.isoformat(timespec="seconds") if run.finished else None,
        "policy": {"path": str(run.policy.path), "sha256": run.policy.sha256},
        "algorithm": "sha256",
        "files": files,
    }, indent=1), encoding="utf-8")
    return [sums, manifest]
