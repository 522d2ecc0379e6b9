"""One answer per request, however many threads ask for it: a prefetch thread and a check asking at once share it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from .._errors import AuthcheckError

# What the job running on this thread does with each answer it reads or makes (``noting``): the prefetch's reader
# ledger (``probes.readers``) notes them under the job's signature, and stops a job nobody waits for any more before
# it sends anything.
_reading = threading.local()
MISSING = object()  # what ``peek`` answers for a key without an answer


class NobodyWaits(BaseException):  # noqa: N818 - a signal, not an error: no "except Exception" may take it
    """Raised before a job makes an answer when no test planning the job is left to read it."""


@contextlib.contextmanager
def noting(note: Callable[[Once, Hashable, Any], None], wanted: Callable[[], bool]) -> Iterator[None]:
    """Call ``note(once, key, answer)`` for every answer this thread reads or makes inside the block; before making
    one, raise ``NobodyWaits`` unless ``wanted()``."""
    previous = getattr(_reading, "job", None)
    _reading.job = (note, wanted)
    try:
        yield
    finally:
        _reading.job = previous


class Once:
    """``get(key, compute)``: ``compute()`` the first time ``key`` is asked, its answer every time after; askers that
    come while it is being made wait for it. A failure (an ``AuthcheckError``) is kept and raised again, unless
    ``keep_failures`` is False. A key's lock lives only while its answer is being made: a thousand clients make some
    twenty thousand, and any later asker finds the answer first. ``forget(key)`` lets an answer go once nobody
    planned to read it is left (``probes.readers``)."""

    def __init__(self, *, keep_failures: bool = True) -> None:
        self._answers: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._keep_failures = keep_failures
        # hears each answer made here (not those ``put``): the prober's parent tells the prober what it sent itself
        self.on_made: Callable[[Hashable, Any], None] | None = None

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        answer = self._answers.get(key, MISSING)
        while answer is MISSING:  # made here, or forgotten between being made and read
            with self._guard:
                lock = self._locks.setdefault(key, threading.Lock())
            try:
                with lock:
                    if key not in self._answers:
                        job = getattr(_reading, "job", None)
                        if job is not None and not job[1]():
                            # its readers ran while it did (one may have made and let go this very answer)
                            raise NobodyWaits
                        try:
                            self._answers[key] = compute()
                        except AuthcheckError as exc:
                            if not self._keep_failures:
                                raise
                            self._answers[key] = exc
                        if self.on_made is not None:
                            self.on_made(key, self._answers[key])
            finally:
                with self._guard:
                    self._locks.pop(key, None)
            answer = self._answers.get(key, MISSING)
        job = getattr(_reading, "job", None)
        if job is not None:
            job[0](self, key, answer)
        if isinstance(answer, AuthcheckError):
            raise answer.with_traceback(None)
        return answer

    def peek(self, key: Hashable) -> Any:
        """``key``'s answer as kept (a kept failure included), or ``MISSING``; nobody is noted reading it."""
        return self._answers.get(key, MISSING)

    def put(self, key: Hashable, answer: Any) -> None:
        """Keep ``answer`` for ``key`` as if ``get`` had made it, unless it has one already."""
        self._answers.setdefault(key, answer)

    def forget(self, key: Hashable) -> None:
        """Let ``key``'s answer go: an asker after this makes it again."""
        self._answers.pop(key, None)
