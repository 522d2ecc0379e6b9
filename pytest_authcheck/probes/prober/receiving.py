"""The tests' end of the prober: what it hands back goes into this process's caches, redactor and ledger; a test
waits for its stretch; what a test made itself, and which signatures the tests have all read, are told to it."""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ..._confine import Confinement
from ..._redact import Redactor
from ..once import Once
from ..readers import Readers
from .wire import read_batch, write_batch

if TYPE_CHECKING:
    from .fork import Instructions

# Signatures whose readers have all run, told the prober together
RELEASED_BATCH = 500
# Tests between two reports of where the tests are
AT_EVERY = 100


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
        self._told_at = 0  # the position last told the prober
        self._reached = 0  # every job of the tests before this position has been sent and handed back
        self._count: int | None = None  # the tests it was told (``begin``)
        self._ended = False
        self._stopping = False
        self.failure: str | None = None
        self.unreadable = 0  # batches that did not load
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
        """Take in what the prober hands back, noting its answers in ``readers`` (counted by now: the prober planned
        the same tests meanwhile)."""
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
                write_batch(self._tell_fd, batch)
            except OSError:  # the prober has ended
                os.close(self._tell_fd)
                self._tell_fd = None

    def wait_for(self, position: int) -> None:
        """Wait until the prober has handed back every answer the test at ``position`` planned to read (telling it,
        every ``AT_EVERY`` tests, where the tests are: it keeps within ``sending.LEAD`` of them)."""
        if position >= self._told_at + AT_EVERY:
            self._told_at = position
            self._send(pickle.dumps([("at", position)], protocol=pickle.HIGHEST_PROTOCOL))
        with self._progress:
            self._progress.wait_for(lambda: self._ended or self._reached > position)

    def stop(self) -> None:
        """End the prober (its remaining jobs are for tests that will not run) and wait for it."""
        self._stopping = True
        self._listening.set()  # a run that ended before ``listen`` must not leave the receiver waiting for it
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
                batch = read_batch(self._fd)
                if batch is None:
                    return
                self._listening.wait()
                try:
                    messages = pickle.loads(batch)
                except Exception as exc:  # noqa: BLE001 - the tests send what it did not hand back themselves
                    # A lost batch may hold secrets that a later answer carries (each secret is told once): nothing
                    # more is taken from the prober, as if it had ended here.
                    self.unreadable += 1
                    self.failure = self.failure or f"a batch it handed back did not load ({type(exc).__name__}: {exc})"
                    return
                self._apply(messages)
        except Exception as exc:  # noqa: BLE001 - the tests then send what they read themselves
            if not self._stopping:  # stopped (the run ended early), it may have left mid-batch
                self.failure = f"its answers stopped arriving ({type(exc).__name__}: {exc})"
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
                    # noted first: a test finishing meanwhile may release the answer's other holder, and would let it
                    # go before this signature held it (put then keeps it again)
                    self._readers.note(signature, cache, key)
                    cache.put(key, answer)
            elif kind == "reached":
                with self._progress:
                    self._reached = max(self._reached, message[1])
                    self._progress.notify_all()
            elif kind == "failed":
                self.failure = f"it stopped ({message[1]})"
