"""Sending the collected checks' probes ahead of them: concurrently, a bounded number at a time per provider.

After collection the run knows which (check, client) pairs will run. Their token probes and pre-login
authorization probes are values (``probes.variations``, ``probes.client_auth``), so they can be sent before the
checks ask: a pool of threads sends them in the order the checks will read them, at most ``per_host`` at a time to
one provider, a window of tests at a time while those tests wait (``sent_in_turns``; against a provider slower than
this process, while they run). A check that asks for a probe in flight waits for it; one that
asks for a probe not planned sends it itself. Nothing here judges or records: the checks attach the exchanges
they read, so results and evidence are what they would be without it, only sooner. Each job has a signature (the
probe, its values and the client): the tests planning it are its readers (``probes.readers``), and its answers go
once they have all run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .._clients import PolicyClient, has_code_flow, uses_secret
from .authorization import ORDINARY, AuthorizationProbes, Variation
from .client_auth import (
    declared,
    other_method,
    undeclared_grant,
    undeclared_grant_undecided,
    unknown_client,
    unknown_grant,
    unknown_public,
    with_scope,
    without_scope,
    wrong_secret,
)
from .readers import Readers
from .token import TokenProbes
from .variations import (
    INJECTION_VARIATIONS,
    PLAIN_PKCE,
    PROMPT_NONE,
    UNDECLARED_GRANT_PROBES,
    UNKNOWN_RESPONSE_TYPE,
    UNREGISTERED,
    WITHOUT_PKCE,
    WITHOUT_SCOPE,
    exact_match_variations,
    moved_port,
    native_loopback,
    response_type_variations,
    scope_candidates,
    scope_variation,
    unknown_client_variation,
)

DEFAULT_PER_HOST = 8
MAX_THREADS = 32
# How many tests a serial run's probes are planned and sent for at a time: a second or two of work for the provider.
# Sent in turns, a whole window's answers are held at once (2,000 tests: 25 MiB more at the peak of 2,000 clients)
PLAN_WINDOW = 1_000
# A serial run sends a window's probes while its tests wait, unless this process was busy for less than this share
# of the wait (then the provider is what it waited for, and sending while the tests run hides that wait)
BUSY_SHARE = 0.5
# A wait for the window is judged once it has lasted this long (a provider's first answers can be slow), then again
# every WAIT_SLICE seconds
JUDGED_AFTER = 0.3
WAIT_SLICE = 0.1


@dataclass(frozen=True, slots=True)
class Job:
    """One planned probe (or a few that depend on each other's answers), named by what it sends for which client."""

    signature: Hashable
    send: Callable[[], object]
    # Having run, it leaves every answer of its signature made: a job planned again under it has nothing to send
    # (False for a job that may leave its signature's request unsent, as the made-up code's second opinion does).
    settles: bool = True

    def __call__(self) -> object:
        return self.send()


class _RequestKeys:
    """TokenProbes for planning: ``send`` answers with the key of the request it would send, and sends nothing."""

    def __init__(self, tokens: TokenProbes) -> None:
        self.send = tokens.key_of


@dataclass
class Plan:
    """What one client's checks will send."""

    client: PolicyClient
    tokens: TokenProbes
    authz: AuthorizationProbes
    metadata: Callable[[], dict[str, Any]]
    # introspects the client's own held client-credentials token at an endpoint (token_state.introspect_held)
    introspect_held: Callable[[PolicyClient, str], object] | None = None

    def token(self, probe: Callable[..., object], *args: Any) -> Job:
        # Named by the request it sends: a public client's request "by method none" is its declared one, and the
        # answer has the readers of both.
        try:
            signature: Hashable = ("token", probe(_RequestKeys(self.tokens), self.client, *args))
        except Exception:  # noqa: BLE001 - planning never stops a run; the check meets whatever the probe raises
            signature = ("token", probe.__name__, self.client.name, args)
        return Job(signature, lambda: probe(self.tokens, self.client, *args))

    def control(self) -> Job:
        return Job(("authorization", self.client.name, ORDINARY), lambda: self.authz.control(self.client))

    def pre_login(self, *variations: Variation) -> list[Job]:
        return [self.control(), *(self._variation(v) for v in variations)]

    def _variation(self, variation: Variation) -> Job:
        return Job(("authorization", self.client.name, variation), lambda: self.authz.pre_login(self.client, variation))

    def job(self, name: str, send: Callable[[], object]) -> Job:
        """A job of several probes, one per client under ``name``."""
        return Job((name, self.client.name), send)


def _secret_jobs(p: Plan) -> list[Job]:
    return [p.token(declared), p.token(wrong_secret)] if uses_secret(p.client) else []


def _scopes(p: Plan) -> list[Job]:
    # the candidates come from the metadata: read in the pool, as planning sends nothing
    if p.client.mints_own_tokens:
        def candidates() -> None:
            for scope in scope_candidates(p.client, p.metadata()):
                with_scope(p.tokens, p.client, scope)
        return [p.token(declared), p.job("out-of-policy scopes", candidates)]
    if p.client.uses_login:
        def variations() -> None:
            for scope in scope_candidates(p.client, p.metadata()):
                p.authz.pre_login(p.client, scope_variation(p.client, scope))
        return [p.control(), p.job("out-of-policy scope variations", variations)]
    return []


def _grants(p: Plan) -> list[Job]:
    undeclared = [g for g in UNDECLARED_GRANT_PROBES if not p.client.declares(g)]
    jobs = [*_secret_jobs(p), p.token(unknown_grant), *(p.token(undeclared_grant, g) for g in undeclared)]
    if "authorization_code" in undeclared:
        # the check's second opinion on a made-up code's ambiguous refusal: is a code issued to the client at all?
        def code_issued() -> None:
            if undeclared_grant_undecided(p.tokens, p.client, "authorization_code"):
                p.authz.control(p.client)
        # sent only when needed, but this test may read the ordinary request's answer: it is one of its readers
        jobs.append(Job(p.control().signature, code_issued, settles=False))
    return jobs


def _redirects(p: Plan, *variations: Variation) -> list[Job]:
    return p.pre_login(UNREGISTERED, *variations) if has_code_flow(p.client) else []


def _revoked_inactive(p: Plan) -> list[Job]:
    # without a login the check first asks whether introspection shows the client's own held token active
    held = p.introspect_held
    if held is None or p.client.uses_login or not p.client.mints_own_tokens:
        return []

    def control() -> None:
        metadata = p.metadata()
        endpoint = metadata.get("introspection_endpoint")
        if isinstance(endpoint, str) and isinstance(metadata.get("revocation_endpoint"), str):
            held(p.client, endpoint)
    return [p.token(declared), p.job("held token introspected", control)]


# check id -> the probes its (check, client) pair reads; the checks call the same functions with the same values
PLANS: dict[str, Callable[[Plan], Iterable[Job]]] = {
    "client-auth.secret-accepted": _secret_jobs,
    "client-auth.wrong-secret-refused": _secret_jobs,
    "client-auth.unknown-client-refused": lambda p: [p.token(unknown_client), p.token(declared)] + (
        p.pre_login(unknown_client_variation(p.client)) if p.client.redirect_uris else []),
    "client-auth.removed-client-refused": lambda p: [p.token(other_method, "none"), p.token(unknown_public),
                                                     *p.pre_login(unknown_client_variation(p.client))],
    "client-auth.public-client-known": lambda p: p.pre_login(unknown_client_variation(p.client)),
    "client-auth.auth-method": lambda p: [*_secret_jobs(p), p.token(other_method, "none")] + (
        [p.token(other_method, "client_secret_post" if p.client.auth_method == "client_secret_basic"
                 else "client_secret_basic")] if uses_secret(p.client) else [p.token(unknown_public)]),
    "grants.declared-work": _secret_jobs,
    "grants.undeclared-refused": _grants,
    "grants.response-types": lambda p: p.pre_login(*response_type_variations(p.client)),
    "redirect-uri.registered-accepted": lambda p: _redirects(p),
    "redirect-uri.unregistered-refused": lambda p: _redirects(p),
    "redirect-uri.exact-match": lambda p: _redirects(p, *exact_match_variations(p.client)),
    "redirect-uri.loopback-any-port": lambda p: _redirects(
        p, *(moved_port(u) for u in p.client.redirect_uris if native_loopback(p.client, u))),
    "redirect.params-not-injectable": lambda p: p.pre_login(*INJECTION_VARIATIONS),
    "pkce.required": lambda p: p.pre_login(WITHOUT_PKCE),
    "pkce.plain-refused": lambda p: p.pre_login(PLAIN_PKCE),
    "scopes.out-of-policy-refused": _scopes,
    "scopes.omitted-scope-bounded": lambda p: [p.token(declared), p.token(without_scope)]
    if p.client.mints_own_tokens
    else p.pre_login(WITHOUT_SCOPE) if p.client.uses_login else [],
    "errors.rfc6749-format": lambda p: ([*_secret_jobs(p), p.token(unknown_client)] if uses_secret(p.client) else
                                        [p.token(unknown_public)] if p.client.redirect_uris else []) + (
        p.pre_login(UNKNOWN_RESPONSE_TYPE, *response_type_variations(p.client)) if has_code_flow(p.client) else []),
    "prompt-none.login-required": lambda p: p.pre_login(PROMPT_NONE),
    "authz-response.iss": lambda p: p.pre_login(UNKNOWN_RESPONSE_TYPE, PROMPT_NONE),
    "revocation.revoked-inactive": _revoked_inactive,
}


def plan_jobs(items: Iterable[tuple[str, PolicyClient]], *, tokens: TokenProbes, authz: AuthorizationProbes,
              providers: dict[str, Any], introspect_held: Callable[[PolicyClient, str], object] | None = None,
              planned: Callable[[int, tuple[Hashable, ...]], None] | None = None) -> dict[str, list[Job]]:
    """The jobs of (check id, client) pairs in the order given, by provider name; planning itself sends nothing
    (a provider that does not answer must cost the run no more than it would without the prefetch). ``planned``
    hears each planned pair's position among ``items`` and its jobs' signatures."""
    out: dict[str, list[Job]] = {}
    for position, (check_id, client) in enumerate(items):
        make = PLANS.get(check_id)
        provider = providers.get(client.provider)
        if make is None or provider is None:
            continue
        plan = Plan(client, tokens, authz, provider.metadata, introspect_held)
        jobs = list(make(plan))
        out.setdefault(client.provider, []).extend(jobs)
        if planned is not None:
            planned(position, tuple(job.signature for job in jobs))
    return out


class Prefetcher:
    """A pool of threads sending planned probes in order, ``per_host`` at a time to one provider.

    Jobs may be added while it runs (an xdist worker learns its tests in batches): each provider's are sent in
    the order they were added."""

    def __init__(self, per_host: int = DEFAULT_PER_HOST, readers: Readers | None = None) -> None:
        self.per_host = max(1, per_host)
        self._readers = readers
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queues: dict[str, deque[Job]] = {}
        self._draining: dict[str, int] = {}

    def add(self, jobs_by_provider: dict[str, list[Job]]) -> None:
        """Queue jobs behind those already queued for their provider: each provider's are sent in order, on
        ``per_host`` threads of its own."""
        with self._lock:
            if self._stop.is_set():
                return
            for provider, jobs in jobs_by_provider.items():
                queue = self._queues.setdefault(provider, deque())
                queue.extend(jobs)
                more = min(self.per_host - self._draining.get(provider, 0), len(queue))
                for _ in range(more):
                    self._draining[provider] = self._draining.get(provider, 0) + 1
                    self._executor().submit(self._drain, provider)

    def _executor(self) -> ThreadPoolExecutor:
        # many providers share a bounded pool: their drains queue behind each other rather than each taking threads
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="authcheck-prefetch")
        return self._pool

    def _drain(self, provider: str) -> None:
        # Each thread takes the next job of its provider: the provider never has more than per_host in flight.
        while True:
            with self._lock:
                queue = self._queues[provider]
                if not queue or self._stop.is_set():
                    self._draining[provider] -= 1
                    if not any(self._draining.values()):
                        self._idle.notify_all()
                    return
                job = queue.popleft()
            try:
                if self._readers is not None:
                    self._readers.run(job.signature, job.send)
                else:
                    job()
            except BaseException:  # noqa: BLE001 - a failed probe is cached or retried by the check that reads it
                continue

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Whether every job added so far has been sent (or the prefetch stopped), waiting up to ``timeout`` for it."""
        with self._lock:
            return self._idle.wait_for(lambda: self._stop.is_set() or not any(self._draining.values()), timeout)

    def stop(self) -> None:
        """Stop taking new jobs and wait for the ones in flight (each bounded by the HTTP layer's deadline)."""
        with self._lock:
            self._stop.set()
            self._idle.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


Clocks = tuple[Callable[[], float], Callable[[], float]]  # wall, this process's CPU
CLOCKS: Clocks = (time.monotonic, time.process_time)


def sent_in_turns(prefetcher: Prefetcher, clocks: Clocks = CLOCKS, busy_share: float = BUSY_SHARE) -> bool:
    """Wait while the prefetch sends the jobs added so far; False if the wait stopped short, this process having
    been busy for less than ``busy_share`` of it (the provider, slower than the process, was what it waited for).

    The tests wait while their probes are sent, then run with the prefetch idle: sent while the tests ran, the
    probes only took turns with them at the one interpreter lock all the same, and taking turns that finely cost
    some 6 s more CPU at a thousand clients on two cores (33 to 35 s a run, against 28 to 30 in turns). Waiting for
    a slower provider, the tests are better run while it answers, each reading its answers as they come."""
    wall, cpu = clocks
    started, used = wall(), cpu()
    while not prefetcher.wait_idle(WAIT_SLICE):
        waited = wall() - started
        if waited >= JUDGED_AFTER and cpu() - used < busy_share * waited:
            return False
    return True


class Ahead:
    """An xdist worker's prefetch: the plans of the tests it was given, sent (``sent_in_turns``) as it learns of them.

    ``scan`` lists the tests given and not yet started (``_xdist.upcoming``); without it, a test's probes are planned
    when it or the one before it starts, and sent while it runs."""

    def __init__(self, prefetcher: Prefetcher, plan: Callable[[list[int]], dict[str, list[Job]]],
                 scan: Callable[[Callable[[int], bool]], list[int]] | None, clocks: Clocks = CLOCKS) -> None:
        self._prefetcher = prefetcher
        self._plan = plan
        self._scan = scan
        self._clocks = clocks
        self._planned: set[int] = set()

    def see(self, *indices: int | None) -> None:
        """``indices`` start now (the running test, the next): plan them, and whatever else was given since."""
        new = [i for i in indices if i is not None and i not in self._planned]
        self._planned.update(new)
        if self._scan is not None:
            given = self._scan(self._planned.__contains__)[::-1]
            self._planned.update(given)
            new += given
        if new:
            jobs = self._plan(new)
            if jobs:
                self._prefetcher.add(jobs)
                if self._scan is not None:
                    sent_in_turns(self._prefetcher, self._clocks)


class Positions:
    """Where each test starting is among the collected items."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._cursor = 0  # where the next test to start is expected among the items
        self._index: dict[int, int] | None = None  # made once a test runs out of order

    def of(self, item: Any) -> int | None:
        """``item``'s position, None if it was not collected."""
        # The items run in order. A plugin running them in another order would make a search per test quadratic:
        # from the first test out of order on, positions are looked up in an index of them all.
        items = self._items
        found: int | None = self._cursor
        if self._cursor >= len(items) or items[self._cursor] is not item:
            if self._index is None:
                self._index = {id(known): i for i, known in enumerate(items)}
            found = self._index.get(id(item))
        if found is not None:
            self._cursor = found + 1
        return found


class Window:
    """A serial run's prefetch: the probes of the next ``width`` tests, planned and sent as the run reaches them.

    Made all at once, the jobs of every collected test were the largest thing a run held while it started (48 MiB at
    two thousand clients, each a closure over its client's plan), all before the first answer came back; the
    prefetch needs only enough of them ahead of the running test to keep the provider busy.

    The test reaching the end of what is planned waits while the next ``width`` tests' probes are sent
    (``sent_in_turns``), unless the provider is slower than this process."""

    def __init__(self, prefetcher: Prefetcher, plan: Callable[[range], dict[str, list[Job]]], items: list[Any],
                 width: int = PLAN_WINDOW, clocks: Clocks = CLOCKS) -> None:
        self._prefetcher = prefetcher
        self._plan = plan
        self._items = items
        self._width = max(2, width)
        self._clocks = clocks
        self.overlapped = 0  # windows the tests did not wait for, the provider being slower than this process
        self._positions = Positions(items)
        self._planned = 0  # the tests before this one are planned

    def start(self) -> None:
        """Plan and send the first window, before the first test starts."""
        self._plan_to(self._width)

    def see(self, item: Any) -> int | None:
        """``item`` starts now: the window it begins planned and sent first; its position."""
        position = self._positions.of(item)
        if position is not None and position >= self._planned:
            self._plan_to(position + self._width)
        return position

    def _plan_to(self, end: int) -> None:
        end = min(end, len(self._items))
        if end > self._planned:
            jobs = self._plan(range(self._planned, end))
            self._planned = end
            if jobs:
                self._prefetcher.add(jobs)
                if not sent_in_turns(self._prefetcher, self._clocks):
                    self.overlapped += 1
