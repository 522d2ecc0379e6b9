"""Collecting what is wrong with a policy, so one run reports every problem, in file order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from .._errors import PolicyError, PolicyErrors
from .lines import KeyPath, dotted, line_of


class Problems:
    """The problems found so far, each one ``file:line: key.path: what is wrong``.

    ``lines`` maps key paths to lines (filled once the text is read); ``prefix`` is ``("tool", "authcheck")``
    in a pyproject.toml. A later pass asks ``flagged(path)`` to skip a value already reported, so one
    mistake is reported once (a missing variable is not also "not an https URL").
    """

    def __init__(self, shown: str, prefix: KeyPath = ()) -> None:
        self.shown = shown
        self.prefix = prefix
        self.lines: Mapping[KeyPath, int] = {}
        self._errors: list[PolicyError] = []
        self._flagged: set[KeyPath] = set()

    def add(self, message: str, path: KeyPath = (), *, line: int | None = None, key: str | None = None) -> None:
        """Record one problem at ``path`` (its line is looked up unless given)."""
        if line is None and path:
            line = line_of(self.lines, self.prefix + path)
        self._errors.append(PolicyError(message, path=self.shown, line=line, key=key or dotted(path) or None))
        self._flagged.add(path)

    def flagged(self, path: KeyPath) -> bool:
        """A problem was already recorded at exactly this key path."""
        return path in self._flagged

    def __bool__(self) -> bool:
        return bool(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    def raise_if_any(self) -> None:
        """Raise ``PolicyErrors`` with every problem, in file order (problems of the whole file last)."""
        if not self._errors:
            return
        unique = list({str(e): e for e in self._errors}.values())
        raise PolicyErrors(sorted(unique, key=lambda e: e.line if e.line else float("inf")))

    def fail(self) -> NoReturn:
        """Raise what was found so far (at least one problem: the caller recorded why it cannot go on)."""
        self.raise_if_any()
        raise AssertionError("Problems.fail() without a recorded problem")
