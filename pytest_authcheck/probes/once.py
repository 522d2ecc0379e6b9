"""One answer per request, however many threads ask for it: a prefetch thread and a check asking at once share it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from .._errors import AuthcheckError


class Once:
    """``get(key, compute)``: ``compute()`` the first time ``key`` is asked, its answer every time after; askers that
    come while it is being made wait for it. A failure (an ``AuthcheckError``) is kept and raised again, unless
    ``keep_failures`` is False. A key's lock lives only while its answer is being made: a thousand clients make some
    twenty thousand, and any later asker finds the answer first."""

    def __init__(self, *, keep_failures: bool = True) -> None:
        self._answers: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._keep_failures = keep_failures

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key not in self._answers:
            with self._guard:
                lock = self._locks.setdefault(key, threading.Lock())
            try:
                with lock:
                    if key not in self._answers:
                        try:
                            self._answers[key] = compute()
                        except AuthcheckError as exc:
                            if not self._keep_failures:
                                raise
                            self._answers[key] = exc
            finally:
                with self._guard:
                    self._locks.pop(key, None)
        answer = self._answers[key]
        if isinstance(answer, AuthcheckError):
            raise answer.with_traceback(None)
        return answer
