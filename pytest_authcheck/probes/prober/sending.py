"""The prober's end: the told tests' jobs planned and sent a stretch at a time, and what they taught handed back in
order; what the tests made themselves kept, what they have all read let go."""

from __future__ import annotations

import os
import pickle
import queue
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ..._confine import Confinement
from ..._redact import Redactor, reveal
from ..once import MISSING, Once
from ..prefetch import Job, Prefetcher
from ..readers import Readers
from .wire import encoded, read_batch, write_batch

# Tests whose jobs are reported done together: small enough that the first test waits a fraction of a second, large
# enough that a batch is worth a write
STRETCH = 100
# Stretches planned and queued at once ahead of the last one done: the provider never waits for the plan
AHEAD = 8
# Tests the prober may be ahead of the tests' process: what it hands back waits in both until the tests read it, and
# where the tests are slower (most client-credentials checks), an unbounded prober ran tens of thousands of tests
# ahead (at ten thousand clients 31,000, its memory growing by 200 MiB with them)
LEAD = 1500


class Progress:
    """How far the tests' process has come, as it tells the prober (``at``); ``ended`` once it tells nothing more."""

    def __init__(self) -> None:
        self._at = 0
        self._ended = False
        self._changed = threading.Condition()

    def at(self, position: int) -> None:
        with self._changed:
            self._at = max(self._at, position)
            self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_within(self, position: int, lead: int) -> None:
        """Wait until the tests are fewer than ``lead`` tests short of ``position``, or tell nothing more."""
        with self._changed:
            self._changed.wait_for(lambda: self._ended or position < self._at + lead)


def hear(fd: int, caches: dict[int, Once], readers: Readers, progress: Progress) -> None:
    """The prober keeps what the tests made themselves, lets go what they have all read, and learns where they are."""
    try:
        while (batch := read_batch(fd)) is not None:
            try:
                messages = pickle.loads(batch)
            except Exception:  # noqa: BLE001 - what it did not hear it sends again, or keeps
                continue
            for message in messages:
                if message[0] == "released":
                    readers.release(message[1])
                    continue
                if message[0] == "at":
                    progress.at(message[1])
                    continue
                _, cache_id, key, answer = message
                cache = caches.get(cache_id)
                if cache is not None:
                    cache.put(key, answer)
    except Exception:  # noqa: BLE001 - what it did not hear it sends again, or keeps
        return
    finally:
        progress.end()  # the tests have ended (or can no longer say where they are): nothing to wait for


class Probing:
    """The prober's work: the stretches of tests planned and sent in order, and what they taught handed back."""

    def __init__(self, fd: int, plan: Callable[[range], dict[str, list[Job]]], count: int, caches: dict[int, Once],
                 readers: Readers, redactor: Redactor, confinement: Confinement | None, per_host: int,
                 progress: Progress | None = None) -> None:
        self._fd = fd
        self._progress = progress
        self._plan = plan
        self._count = count
        self._caches = caches
        self._readers = readers
        self._outbox: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}  # stretch start -> its jobs not yet done
        self._done = threading.Condition(self._lock)
        self._writes: queue.SimpleQueue[list[tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._prefetcher = Prefetcher(per_host)
        self._tee(redactor, confinement)
        readers.listen(self._noted)

    def _tee(self, redactor: Redactor, confinement: Confinement | None) -> None:
        add = redactor.add

        def adding(*values: Any) -> None:
            # Most are known already (each token request registers its client's Basic pair): only news is sent. Under
            # the outbox's lock: a thread adding a value another has just added must not find it known before it
            # is queued, and hand back an answer holding it first.
            with self._lock:
                known = redactor.known
                add(*values)
                if redactor.known == known:
                    return
                texts = [text for text in map(reveal, values) if isinstance(text, str) and text]
                if texts:
                    self._outbox.append(("secrets", texts))
        redactor.add = adding  # type: ignore[method-assign]
        if confinement is not None:
            learn = confinement.learn

            def learning(values: Iterable[str], received_from: str) -> None:
                values = list(values)
                learn(values, received_from)
                with self._lock:
                    self._outbox.append(("issued", values, received_from))
            confinement.learn = learning  # type: ignore[method-assign]

    def _noted(self, signature: Hashable, cache: Once, key: Hashable, answer: Any) -> None:
        # Each note carries its answer, even one handed back before: this process may have let it go since (its
        # readers ran), and the note's readers would send it again. In one batch, pickle writes it once. The answer
        # comes with the note: looked up here, it may have been let go meanwhile (``hear`` releasing it).
        if id(cache) not in self._caches:
            return
        if answer is not MISSING:
            with self._lock:
                self._outbox.append(("answer", signature, id(cache), key, answer))

    def run(self) -> None:
        writer = threading.Thread(target=self._write, name="authcheck-prober-writer")
        writer.start()
        try:
            for start in range(0, self._count, STRETCH):
                with self._lock:
                    self._done.wait_for(lambda: len(self._open) < AHEAD)
                if self._progress is not None:
                    self._progress.wait_within(start, LEAD)
                self._queue(range(start, min(start + STRETCH, self._count)))
            with self._lock:
                self._done.wait_for(lambda: not self._open)
            self._prefetcher.stop()
        except BaseException as exc:
            with self._lock:
                self._outbox.append(("failed", f"{type(exc).__name__}: {exc}"))
            self._flush()
            raise
        finally:
            self._writes.put(None)
            writer.join()

    def _queue(self, stretch: range) -> None:
        # A job planned again under a signature a settling job has run for is left out: the tests' process holds its
        # answers until every test planning it has run (these among them), so running it would only hand them back
        # again (some 17,800 of 38,400 jobs at 1,000 clients)
        jobs = {provider: [job for job in provider_jobs if not self._readers.settled(job.signature)]
                for provider, provider_jobs in self._plan(stretch).items()}
        total = sum(len(j) for j in jobs.values())
        with self._lock:
            self._open[stretch.start] = total
        if not total:
            self._finish(stretch.start)
            return
        counted = {provider: [Job(job.signature, self._counting(job, stretch.start)) for job in provider_jobs]
                   for provider, provider_jobs in jobs.items()}
        self._prefetcher.add(counted)

    def _counting(self, job: Job, stretch: int) -> Callable[[], None]:
        def send() -> None:
            try:
                self._readers.run(job.signature, job.send)
                if job.settles:
                    self._readers.settle(job.signature)
            finally:
                self._finish(stretch, 1)
        return send

    def _finish(self, stretch: int, jobs: int = 0) -> None:
        # A stretch is handed back once it and every stretch before it are done: its answers, then how far the
        # prober has come, in one batch taken under the lock, so batches leave in the order of what they say.
        with self._lock:
            self._open[stretch] -= jobs
            ready = []
            for start in sorted(self._open):
                if self._open[start] > 0:
                    break
                ready.append(start)
            if not ready:
                return
            for start in ready:
                del self._open[start]
            self._done.notify_all()
            self._outbox.append(("reached", min(ready[-1] + STRETCH, self._count)))
            self._writes.put(self._outbox)
            self._outbox = []

    def _flush(self) -> None:
        with self._lock:
            messages, self._outbox = self._outbox, []
            self._writes.put(messages)

    def _write(self) -> None:
        try:
            while (messages := self._writes.get()) is not None:
                if messages:
                    write_batch(self._fd, encoded(messages))
        except OSError:  # the tests have ended and closed their end: nobody reads what is left
            os._exit(0)
        except BaseException:  # noqa: BLE001 - it cannot hand back: probing on would send requests nobody reads
            os._exit(1)
        finally:
            os.close(self._fd)
