"""Which planned readers each shared probe answer still waits for, so that it goes once none is left.

The prefetch plan (``prefetch.PLANS``) says which probes each collected (check, client) test reads. Each job carries
a *signature* (the probe and its values, for one client), and every test whose plan has the job counts as one of
its readers (``expect``). While a job runs, the answers it reads or makes (``Once.get``) are noted under its
signature. When a test has run (``finished``) its signatures lose a reader, and an answer none of whose signatures
has a reader left is forgotten (``Once.forget``). At a thousand clients the probe answers were a quarter of what a
run held at its end (33.7 of 140 MiB traced), most of them read by one test.

The plans name what each check reads: a test reading an answer its plan does not name would send it again once it
is forgotten. A job none of whose readers is left (they ran before the prefetch reached it, or while it ran) sends
nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from .once import MISSING, NobodyWaits, Once, noting


class Readers:
    """The reader ledger of a run's prefetched answers (one per process).

    Not ``counted``, it counts no readers: every job is wanted and each answer is kept until the signatures noting
    it are ``release``d (the prober's, told by the tests' process which signatures its tests have all read)."""

    def __init__(self, *, counted: bool = True) -> None:
        self._lock = threading.Lock()
        self._counted = counted
        self._left: dict[Hashable, int] = {}  # signature -> tests planned to read it that have not run yet
        self._noted: dict[Hashable, list[tuple[Once, Hashable]]] = {}  # signature -> the answers its jobs read
        self._holders: dict[tuple[int, Hashable], int] = {}  # (cache, key) -> signatures holding it
        self._settled: set[Hashable] = set()  # signatures a settling job has run for, until released
        self.forgotten = 0
        self._listener: Callable[[Hashable, Once, Hashable, Any], None] | None = None
        self._on_released: Callable[[list[Hashable]], None] | None = None

    def listen(self, listener: Callable[[Hashable, Once, Hashable, Any], None]) -> None:
        """Also tell ``listener`` of every answer a job reads or makes, with the answer (the prober hands them back)."""
        self._listener = listener

    def on_released(self, hear: Callable[[list[Hashable]], None]) -> None:
        """Also tell ``hear`` the signatures whose readers have all run (the prober lets their answers go too)."""
        self._on_released = hear

    def expect(self, signatures: Iterable[Hashable]) -> None:
        """A test that will read each of ``signatures`` (once per time it names one)."""
        with self._lock:
            for signature in signatures:
                self._left[signature] = self._left.get(signature, 0) + 1

    def _wanted(self, signature: Hashable) -> bool:
        return not self._counted or self._left.get(signature, 0) > 0

    def run(self, signature: Hashable, job: Callable[[], object]) -> None:
        """Run ``job`` noting what it reads under ``signature``, until every test that planned it has run."""
        if not self._wanted(signature):
            return
        try:
            with noting(lambda once, key, answer: self.note(signature, once, key, answer),
                        lambda: self._wanted(signature)):
                job()
        except NobodyWaits:
            pass

    def note(self, signature: Hashable, once: Once, key: Hashable, answer: Any = MISSING) -> None:
        """A job under ``signature`` read or made ``once``'s answer for ``key`` (``answer``): it goes when
        ``signature``'s readers have all run."""
        if self._listener is not None:
            self._listener(signature, once, key, answer)
        with self._lock:
            if not self._wanted(signature):
                return  # its readers ran while the job did: the answer is held only by whoever else noted it
            noted = self._noted.setdefault(signature, [])
            if any(cache is once and known == key for cache, known in noted):
                return
            noted.append((once, key))
            holder = (id(once), key)
            self._holders[holder] = self._holders.get(holder, 0) + 1

    def settle(self, signature: Hashable) -> None:
        """A job that ``settles`` has run under ``signature``: its answers are all made (and noted)."""
        with self._lock:
            self._settled.add(signature)

    def settled(self, signature: Hashable) -> bool:
        """Whether a settling job has run under ``signature`` since it was last released."""
        with self._lock:
            return signature in self._settled

    def finished(self, signatures: Iterable[Hashable]) -> None:
        """A test that planned ``signatures`` has run: forget the answers nobody else is waiting for."""
        released: list[Hashable] = []
        with self._lock:
            for signature in signatures:
                left = self._left.get(signature, 0) - 1
                if left > 0:
                    self._left[signature] = left
                    continue
                self._left.pop(signature, None)
                released.append(signature)
        self.release(released)
        if released and self._on_released is not None:
            self._on_released(released)

    def release(self, signatures: Iterable[Hashable]) -> None:
        """Nobody is left to read the answers noted under ``signatures``: forget those no other signature holds."""
        forget: list[tuple[Once, Hashable]] = []
        with self._lock:
            for signature in signatures:
                self._settled.discard(signature)
                for once, key in self._noted.pop(signature, ()):
                    holder = (id(once), key)
                    holders = self._holders.get(holder, 1) - 1
                    if holders > 0:
                        self._holders[holder] = holders
                    else:
                        self._holders.pop(holder, None)
                        forget.append((once, key))
        for once, key in forget:
            once.forget(key)
        self.forgotten += len(forget)
