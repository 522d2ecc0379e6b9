"""Redaction of pytest's own reports: the last line of defence for tracebacks, locals and captured output.

Checks fail with pre-redacted messages, and the HTTP layer records redacted evidence; this catches the
rest (an unexpected exception with ``--showlocals``, a user's assert, captured stdout or logs) before
the terminal, JUnit XML, pytest-html or an xdist controller ever sees the report. The same texts are cut
to ``TEXT_LIMIT`` and their control characters escaped (``_bounds``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .._bounds import clip, printable
from .._redact import Redactor

# Tracebacks, captured output and logs are kept to this many characters each (head and tail).
TEXT_LIMIT = 64 * 1024


def _safe(text: str, redactor: Redactor) -> str:
    # Redacted first (a secret is found whole), then cut and escaped: no control character reaches a terminal.
    return printable(clip(redactor.text(text), TEXT_LIMIT, TEXT_LIMIT // 2))


class RedactedRepr:
    """A failure representation whose text has been redacted; duck-types pytest's longrepr."""

    def __init__(self, text: str, crash: Any) -> None:
        self.text = text
        self.reprcrash = crash

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line, red=line.startswith("E "), bold=line.startswith("E "))

    def __str__(self) -> str:
        return self.text


def redact_report(report: Any, redactor: Redactor) -> None:
    """Redact ``longrepr`` and captured sections of a test or collect report in place."""
    longrepr = report.longrepr
    if longrepr is not None:
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            report.longrepr = (longrepr[0], longrepr[1], _safe(str(longrepr[2]), redactor))
        elif isinstance(longrepr, str):
            report.longrepr = _safe(longrepr, redactor)
        else:
            crash = getattr(longrepr, "reprcrash", None)
            safe_crash = None
            if crash is not None:
                safe_crash = SimpleNamespace(message=_safe(str(getattr(crash, "message", "")), redactor),
                                             path=getattr(crash, "path", ""), lineno=getattr(crash, "lineno", 0))
            report.longrepr = RedactedRepr(_safe(str(longrepr), redactor), safe_crash)
    if report.sections:
        report.sections = [(title, _safe(content, redactor)) for title, content in report.sections]
