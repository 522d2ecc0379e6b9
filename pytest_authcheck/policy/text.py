"""From the policy file's bytes to a TOML document, with bounds: size, UTF-8, nesting, array length.

``tomllib`` recurses once per nested array or inline table, so 10,000 nested ``[`` exhaust the stack
inside it; the validator and the ``${VAR}`` resolution recurse over the document too. A policy is a few
kilobytes and a few levels deep, so anything far beyond that is refused with its line before it is
parsed, and the parsed document is measured (dotted keys nest without brackets) before anything walks it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .lines import KeyPath, dotted
from .problems import Problems

# A policy of 10,000 clients is about 2 MiB; the bound keeps a wrong file (a log, a dump) from being parsed.
MAX_POLICY_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 24  # tables, arrays and inline tables inside one another; the schema's deepest value is 7
MAX_ITEMS = 1000  # items of one array (the largest real ones, privilege lists, hold a few hundred)
_MAX_UTF8_REPORTS = 10

_TOKEN = re.compile(r'"""|\'\'\'|["\'#\[\]{}=\n]')
_BASIC_REST = re.compile(r'(?:[^"\\\n]|\\.)*"?')
_LITERAL_REST = re.compile(r"[^'\n]*'?")
_ML_BASIC_REST = re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*(?:"""|$)')
_ML_LITERAL_REST = re.compile(r"[\s\S]*?(?:'''|$)")
_LONG_NUMBER = re.compile(r"\d[\d_]{4000,}")


def read_policy(path: Path, problems: Problems) -> tuple[bytes, str, set[int]] | None:
    """The file's bytes, its text, and the lines that are not UTF-8 (reported; decoded with U+FFFD)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        problems.add(f"cannot read the policy: {exc.strerror}")
        return None
    if len(raw) > MAX_POLICY_BYTES:
        problems.add(f"the file is larger than {MAX_POLICY_BYTES // (1024 * 1024)} MiB; a policy of 10,000 clients is about 2 MiB "
                     "(is this the right file?)")
        return None
    bad_lines: set[int] = set()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        for number, line in enumerate(raw.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_lines.add(number)
                if len(bad_lines) <= _MAX_UTF8_REPORTS:
                    column = len(line[: exc.start].decode("utf-8", errors="replace")) + 1
                    problems.add(f"not UTF-8 text: byte 0x{line[exc.start]:02x} at column {column} (save the file as "
                                 "UTF-8)", line=number)
        if len(bad_lines) > _MAX_UTF8_REPORTS:
            problems.add(f"{len(bad_lines) - _MAX_UTF8_REPORTS} more lines are not UTF-8 text")
        text = raw.decode("utf-8", errors="replace")
    return raw, text, bad_lines


def parse_toml(text: str, problems: Problems, bad_lines: set[int]) -> dict[str, Any] | None:
    """The TOML document, or None with the problem recorded (a TOML error on a non-UTF-8 line is not repeated)."""
    deep = _too_deep_line(text)
    if deep is not None:
        problems.add(f"arrays or inline tables nested more than {MAX_DEPTH} levels deep; a policy needs a few",
                     line=deep)
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _error_line(str(exc))
        if line is None and "end of document" in str(exc):
            line = max(1, len(text.splitlines()))  # an array or string left open: the file's last line
        if line not in bad_lines:
            problems.add(f"not valid TOML: {exc}", line=line)
    except RecursionError:
        problems.add(f"nested more than {MAX_DEPTH} levels deep; a policy needs a few")
    except ValueError as exc:
        # An integer of thousands of digits: Python refuses to convert it (it is no duration or count anyway).
        long_number = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        problems.add(f"not valid TOML: {str(exc).split(';')[0]}", line=line)
    return None


def check_shape(document: dict[str, Any], problems: Problems) -> bool:
    """Refuse documents too deep (dotted keys nest without brackets) or with too long arrays; True when fine."""
    fine = True
    stack: list[tuple[KeyPath, Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.add(f"nested more than {MAX_DEPTH} levels deep; a policy needs a few", path,
                         key=dotted(path[:4]) + "...")
            fine = False
            continue
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            if len(value) > MAX_ITEMS:
                problems.add(f"{len(value)} items; a policy array holds at most {MAX_ITEMS}", path)
                fine = False
                continue
            stack.extend((path + (i,), v) for i, v in enumerate(value))
    return fine


def _too_deep_line(text: str) -> int | None:
    """The line where arrays and inline tables first nest deeper than ``MAX_DEPTH``, skipping strings and comments."""
    depth = 0
    line = 1
    header = after_equals = False
    position = 0
    while True:
        match = _TOKEN.search(text, position)
        if match is None:
            return None
        token, position = match.group(), match.end()
        if token == "\n":
            line += 1
            if depth == 0:
                header = after_equals = False
        elif token == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
        elif token in ('"""', "'''", '"', "'"):
            rest = {'"""': _ML_BASIC_REST, "'''": _ML_LITERAL_REST, '"': _BASIC_REST, "'": _LITERAL_REST}[token]
            skipped = rest.match(text, position)
            end = skipped.end() if skipped else position
            line += text.count("\n", position, end)
            position = end
        elif header:
            continue
        elif token == "=":
            after_equals = after_equals or depth == 0
        elif token in "[{":
            if depth == 0 and token == "[" and not after_equals:
                header = True  # a [table] or [[array]] header, not a value
                continue
            depth += 1
            if depth > MAX_DEPTH:
                return line
        else:
            depth = max(0, depth - 1)


def _error_line(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None
