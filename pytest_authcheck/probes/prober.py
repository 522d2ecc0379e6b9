"""A serial run's planned probes sent from a process of their own, while this one runs the tests
(``--authcheck-probe-process``).

In one process the probes and the tests take turns at the one interpreter lock (``prefetch.sent_in_turns``): at a
thousand clients on two cores, some 13 s of sending, then some 12 s of testing. The prober is forked before
collection, while this process is small, and told the collected tests after it (``Instructions``: each test's
(check, client) pair and each client's state, nonce and PKCE challenge). It plans the same jobs
(``run_plan.RunPlan``, the same ``Prefetcher``), a stretch of tests at a time a few stretches ahead, and hands back,
in order, what this process would have learnt sending them:

- the secrets it learnt (tokens and codes received, basic credentials sent), for this process's redactor, and where
  each token came from, for its confinement, before any answer that holds them;
- every answer its jobs made or read (``Once.get``), with each job that reads it, put into the same cache here
  (``Once.put``) and noted for the same readers (``probes.readers``);
- how far it has come: a test starts once the prober has handed back every job of the tests up to it (``wait_for``),
  and reads its answers as if it had sent them itself. A probe the plans do not name is sent here, as before, and
  its answer told to the prober (``Once.on_made``), which would otherwise send it again.

The prober counts no readers: it keeps an answer until this process says the signatures holding it have all been
read (``Readers.on_released``). Documents both processes read (discovery, JWKS) are fetched once, through the run's
shared folder, as between xdist workers. The prober writes nowhere but its pipe and leaves with ``os._exit``: pytest's
hooks, reports and exit handlers stay this process's. If it dies, the tests stop waiting for it and send what they
read themselves; the terminal says so.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._confine import Confinement
from .._redact import Redactor
from .once import MISSING, Once
from .prefetch import Job, Prefetcher
from .readers import Readers

# Tests whose jobs are reported done together: small enough that the first test waits a fraction of a second, large
# enough that a batch is worth a write
STRETCH = 100
# Stretches planned and queued at once ahead of the last one done: the provider never waits for the plan
AHEAD = 8
_HEADER = 8
# Signatures whose readers have all run, told the prober together
RELEASED_BATCH = 500


class Prober:
    """This process's end of the prober: what it has handed back, and how far it has come."""

    def __init__(self, pid: int, read_fd: int, tell_fd: int, caches: dict[int, Once], redactor: Redactor,
                 confinement: Confinement | None) -> None:
        self.pid = pid
        self._fd = read_fd
        self._tell_fd: int | None = tell_fd
        self._telling = threading.Lock()
        self._releasing: list[Hashable] = []
        self._caches = caches
        self._readers = Readers()  # this process's ledger (``listen``)
        self._listening = threading.Event()
        self._redactor = redactor
        self._confinement = confinement
        self._reached = 0  # every job of the tests before this position has been sent and handed back
        self._count: int | None = None  # the tests it was told (``begin``)
        self._ended = False
        self._stopping = False
        self.failure: str | None = None
        self._progress = threading.Condition()
        self._receiver = threading.Thread(target=self._receive, name="authcheck-prober-answers", daemon=True)
        self._receiver.start()
        for cache_id, cache in caches.items():
            cache.on_made = lambda key, answer, cache_id=cache_id: self._tell(cache_id, key, answer)

    def begin(self, instructions: Instructions) -> None:
        """Tell the prober which tests will run: it plans and sends their probes from now on (``listen``)."""
        self._count = len(instructions.pairs)
        self._send(pickle.dumps(instructions, protocol=pickle.HIGHEST_PROTOCOL))

    def listen(self, readers: Readers) -> None:
        """Take in what the prober hands back, noting its answers in ``readers``: counted by now, the prober having
        planned and counted the same tests meanwhile."""
        self._readers = readers
        readers.on_released(self._released)
        self._listening.set()

    def _released(self, signatures: list[Hashable]) -> None:
        # The prober keeps an answer as long as this process does: its jobs may read it again. Told in batches.
        with self._telling:
            self._releasing += signatures
            if len(self._releasing) < RELEASED_BATCH:
                return
            signatures, self._releasing = self._releasing, []
        self._send(pickle.dumps([("released", signatures)], protocol=pickle.HIGHEST_PROTOCOL))

    def _tell(self, cache_id: int, key: Hashable, answer: Any) -> None:
        # An answer a test made here, its probe not planned for it (another check plans it later): the prober keeps
        # it rather than sending the request again.
        try:
            batch = pickle.dumps([("made", cache_id, key, answer)], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - the prober then sends it again, as the test would have
            return
        self._send(batch)

    def _send(self, batch: bytes) -> None:
        with self._telling:
            if self._tell_fd is None:
                return
            try:
                _write_batch(self._tell_fd, batch)
            except OSError:  # the prober has ended
                os.close(self._tell_fd)
                self._tell_fd = None

    def wait_for(self, position: int) -> None:
        """Wait until the prober has handed back every answer the test at ``position`` planned to read."""
        with self._progress:
            self._progress.wait_for(lambda: self._ended or self._reached > position)

    def stop(self) -> None:
        """End the prober (its remaining jobs are for tests that will not run) and wait for it."""
        self._stopping = True
        for cache in self._caches.values():
            cache.on_made = None
        with self._telling:
            if self._tell_fd is not None:
                os.close(self._tell_fd)
                self._tell_fd = None
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self._receiver.join()

    def _receive(self) -> None:
        try:
            while True:
                batch = _read_batch(self._fd)
                if batch is None:
                    return
                self._listening.wait()
                self._apply(pickle.loads(batch))
        except Exception as exc:  # noqa: BLE001 - the tests then send what they read themselves
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            if self.failure is None and not self._stopping and self._count is not None \
                    and self._reached < self._count:
                self.failure = f"it ended after handing back {self._reached} of {self._count} tests' probes"
            os.close(self._fd)
            with self._progress:
                self._ended = True
                self._progress.notify_all()

    def _apply(self, messages: list[tuple[Any, ...]]) -> None:
        for message in messages:
            kind = message[0]
            if kind == "secrets":
                self._redactor.add(*message[1])
            elif kind == "issued":
                if self._confinement is not None:
                    self._confinement.learn(message[1], message[2])
            elif kind == "answer":
                _, signature, cache_id, key, answer = message
                cache = self._caches.get(cache_id)
                if cache is not None:
                    cache.put(key, answer)
                    self._readers.note(signature, cache, key)
            elif kind == "reached":
                with self._progress:
                    self._reached = max(self._reached, message[1])
                    self._progress.notify_all()
            elif kind == "failed":
                self.failure = message[1]


class Planned(Protocol):
    """The prober's plan of the tests it is told (``run_plan.RunPlan``), readers counted."""

    @property
    def pairs(self) -> Sequence[object]: ...

    @property
    def readers(self) -> Readers: ...

    def jobs(self, positions: Iterable[int]) -> dict[str, list[Job]]: ...


# What the prober needs to plan the run's probes as the tests' process does
Prepare = Callable[["Instructions"], Planned]


@dataclass(frozen=True)
class Instructions:
    """What the tests' process tells the prober once the tests are collected."""

    pairs: list[tuple[str, str] | None]  # by test position: (check id, client name), None for a test planning nothing
    fixed: dict[str, tuple[str, str, str]]  # client name -> its state, nonce and PKCE challenge (the same everywhere)
    per_host: int


def unsafe() -> str | None:
    """Why this process cannot fork a prober, or None."""
    # A thread holding a lock at the fork would leave it held in the prober for good; macOS's system libraries are
    # not safe to use after a fork (CPython spawns its processes there for that reason).
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return f"no safe fork on {sys.platform}"
    if threading.active_count() > 1:
        names = ", ".join(sorted(t.name for t in threading.enumerate() if t is not threading.current_thread()))
        return f"other threads run in this process ({names[:200]}), which a fork would leave behind"
    return None


def start(*, caches: Iterable[Once], redactor: Redactor, confinement: Confinement | None, prepare: Prepare,
          reset: Callable[[], None]) -> Prober | None:
    """Fork the prober, before collection, to wait for its ``Instructions`` (``Prober.begin``); None where a fork is not
    safe.

    Before collection the process is small: forked after it, the prober kept the whole collection (its pages, shared at
    first, became its own as this process let go of each test it ran): at 10,000 clients 0.8 GB more."""
    if unsafe() is not None:
        return None
    by_id = {id(cache): cache for cache in caches}
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the prober
        code = 1
        try:
            os.close(read_fd)
            os.close(tell_fd)
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            gc.freeze()  # the inherited objects' pages stay shared: the collector never walks them
            reset()
            first = _read_batch(told_fd)
            if first is not None:  # else the run has no planned probes, or ended before its tests
                instructions: Instructions = pickle.loads(first)
                plan = prepare(instructions)
                threading.Thread(target=_hear, args=(told_fd, by_id, plan.readers), name="authcheck-prober-told",
                                 daemon=True).start()
                _Probing(write_fd, plan.jobs, len(plan.pairs), by_id, plan.readers, redactor, confinement,
                         instructions.per_host).run()
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    os.close(told_fd)
    return Prober(pid, read_fd, tell_fd, by_id, redactor, confinement)


def _hear(fd: int, caches: dict[int, Once], readers: Readers) -> None:
    """The prober keeps what the tests made themselves, and lets go what they have all read."""
    try:
        while (batch := _read_batch(fd)) is not None:
            for message in pickle.loads(batch):
                if message[0] == "released":
                    readers.release(message[1])
                    continue
                _, cache_id, key, answer = message
                cache = caches.get(cache_id)
                if cache is not None:
                    cache.put(key, answer)
    except Exception:  # noqa: BLE001 - what it did not hear it sends again, or keeps
        return


class _Probing:
    """The prober's work: the stretches of tests planned and sent in order, and what they taught handed back."""

    def __init__(self, fd: int, plan: Callable[[range], dict[str, list[Job]]], count: int, caches: dict[int, Once],
                 readers: Readers, redactor: Redactor, confinement: Confinement | None, per_host: int) -> None:
        self._fd = fd
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
            add(*values)
            texts = [v for v in values if isinstance(v, str) and v]
            if texts:
                with self._lock:
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

    def _noted(self, signature: Hashable, cache: Once, key: Hashable) -> None:
        # Each note carries its answer, even one handed back before: this process may have let it go since (its
        # readers ran), and the note's readers would send it again. In one batch, pickle writes it once.
        if id(cache) not in self._caches:
            return
        answer = cache.peek(key)
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
        jobs = self._plan(stretch)
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
                    _write_batch(self._fd, _encoded(messages))
        except OSError:  # the tests have ended and closed their end: nobody reads what is left
            os._exit(0)
        finally:
            os.close(self._fd)


def _encoded(messages: list[tuple[Any, ...]]) -> bytes:
    try:
        return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an answer that does not pickle is sent again by the test that reads it
        kept = []
        for message in messages:
            try:
                pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001
                continue
            kept.append(message)
        return pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)


def _write_batch(fd: int, batch: bytes) -> None:
    view = memoryview(len(batch).to_bytes(_HEADER, "big") + batch)
    while view:
        view = view[os.write(fd, view):]


def _read_batch(fd: int) -> bytes | None:
    header = _read_exactly(fd, _HEADER)
    if header is None:
        return None
    body = _read_exactly(fd, int.from_bytes(header, "big"))
    if body is None:
        raise EOFError("the prober's pipe closed inside a batch")
    return body


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = []
    while size:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
