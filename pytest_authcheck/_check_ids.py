"""The check ids a run can produce, read from the source of the suites without importing them.

A waiver naming a check that does not exist would never match and only show up as stale at the end of a
run; the policy loader refuses it instead. Importing the suites (and a team's check folders) at policy
load would run their module code before pytest collects them (and before assertion rewriting), so the
``@check("id", ...)`` calls are read from the syntax tree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

# A check folder is source code, not data: these bounds only keep a wrong path (a home directory) cheap.
_MAX_FILES = 2000
_MAX_FILE_BYTES = 2 * 1024 * 1024


def shipped_suites_dir() -> Path:
    """The folder of the shipped suites (``pytest_authcheck.suites``)."""
    import pytest_authcheck.suites as suites

    return Path(suites.__file__).resolve().parent


def check_ids(folders: Iterable[Path]) -> tuple[set[str], bool]:
    """The ids declared with ``@check("id", ...)`` in the folders' Python files, and whether that is all.

    Test functions count as ``custom.NAME`` too, the id a test without ``@check`` reports under.

    Complete is False when some file could not be read or parsed, or declares a check whose id is not a
    literal: then an id missing from the set may still exist.
    """
    ids: set[str] = set()
    complete = True
    files = 0
    for folder in folders:
        if not folder.is_dir():
            complete = False
            continue
        for path in sorted(folder.rglob("*.py")):
            files += 1
            if files > _MAX_FILES:
                return ids, False
            found = _ids_in(path)
            if found is None:
                complete = False
            else:
                ids |= found[0]
                complete = complete and found[1]
    return ids, complete


def _ids_in(path: Path) -> tuple[frozenset[str], bool] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    if stat.st_size > _MAX_FILE_BYTES:
        return None
    return _parsed_ids(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _parsed_ids(path: str, mtime_ns: int, size: int) -> tuple[frozenset[str], bool] | None:
    # Keyed by modification time and size: a run loads the policy once per process, a test session many times.
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    ids: set[str] = set()
    literal = True
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            ids.add(f"custom.{node.name}")  # a test without @check reports as custom.NAME (see results/build.py)
        if not isinstance(node, ast.Call) or _called_name(node.func) != "check":
            continue
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "id"), None)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            ids.add(first.value)
        elif first is not None:
            literal = False
    return frozenset(ids), literal


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
