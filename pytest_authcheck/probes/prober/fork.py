"""Forking the prober, where a fork is safe, and what it is told once the tests are collected."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..._confine import Confinement
from ..._redact import Redactor
from ..once import Once
from ..prefetch import Job
from ..readers import Readers
from .receiving import Prober
from .sending import Probing, Progress, hear
from .wire import read_batch


class Planned(Protocol):
    """The prober's plan of the tests it is told (``run_plan.RunPlan``; its readers are not counted)."""

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
    fds: list[int] = []
    try:
        fds += os.pipe()
        fds += os.pipe()
        pid = os.fork()
    except OSError:  # no descriptors or process to be had (a limit, memory): the probes go from this one
        for fd in fds:
            os.close(fd)
        return None
    read_fd, write_fd, told_fd, tell_fd = fds
    if pid == 0:  # the prober
        code = 1
        try:
            os.close(read_fd)
            os.close(tell_fd)
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            gc.freeze()  # the inherited objects' pages stay shared: the collector never walks them
            reset()
            first = read_batch(told_fd)
            if first is not None:  # else the run has no planned probes, or ended before its tests
                instructions: Instructions = pickle.loads(first)
                plan = prepare(instructions)
                progress = Progress()
                threading.Thread(target=hear, args=(told_fd, by_id, plan.readers, progress),
                                 name="authcheck-prober-told", daemon=True).start()
                Probing(write_fd, plan.jobs, len(plan.pairs), by_id, plan.readers, redactor, confinement,
                         instructions.per_host, progress).run()
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    os.close(told_fd)
    return Prober(pid, read_fd, tell_fd, by_id, redactor, confinement)
