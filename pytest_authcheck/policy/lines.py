"""Where each key of a TOML policy is written, so errors can name the line.

``tomllib`` keeps no positions, so this reads the text once more and follows table headers
(``[a.b]``, ``[[a.b]]``) and ``key = value`` lines. Inline tables map to the line of their key;
dotted keys and quoted keys are understood. It only needs to be right for well-formed files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=""")
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|$)""")


def _split_key(text: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(text)]


def key_lines(text: str, prefix: KeyPath = ()) -> dict[KeyPath, int]:
    """Map every key path (tuples; array-of-table items by index) to its 1-based line number."""
    lines: dict[KeyPath, int] = {}
    array_counts: dict[KeyPath, int] = {}
    table: KeyPath = prefix
    in_multiline = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                in_multiline = False
            continue
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            path: KeyPath = tuple(_split_key(header.group(2)))
            if prefix and path[: len(prefix)] != prefix:
                table = ("__outside__",) + path
                continue
            if header.group(1) == "[[":
                index = array_counts.get(path, 0)
                array_counts[path] = index + 1
                table = path + (index,)
                lines.setdefault(path, number)
            else:
                table = path
            lines[table] = number
            for depth in range(1, len(path)):
                lines.setdefault(path[:depth], number)
            continue
        key = _KEY.match(raw)
        if key:
            path = table + tuple(_split_key(key.group(1)))
            for depth in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:depth], number)
            if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                in_multiline = True
    return lines


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest written ancestor."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def dotted(path: KeyPath) -> str:
    """``clients.cli.redirect_uris[0]``: a key path as the policy's author would write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
