"""pytest-xdist: a target's checks run on one worker, so what they share is sent once per run.

The probes, tokens and logins a target's checks read are memoized per process (tokens never leave the process
that requested them). xdist's default ``load`` scheduling deals tests out in chunks of the collection order, so two
workers each sent many of the same probes. ``TargetScheduling`` deals out *units*: the tests of one target
(``clients.deployer``, ``providers.sso``, ``apis.platform``), or of every target that signs in at one provider (its
login clients, its APIs with user principals: one unit, so one login per account). The controller collects
nothing: the workers know each test's target from its parameters and write them to the run's shared folder, beside
its node id. It is used for ``-n N`` when no ``--dist`` mode was chosen; a chosen mode is xdist's own.

Tests that spend a grant (``spends_grant``: revoke or replay their tokens) run after every read-only test on their
worker, as they do in a serial run: a target's spending tests form a second unit, kept for the worker that ran
the target's other tests and sent to it once no read-only unit is left to deal.

On the worker, ``upcoming`` reads which tests it has been given and not yet started, so their probes can be sent
ahead (``probes.prefetch``).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._checks import check_of
from ._probe_process import prober_applies
from ._targets import TARGET_KINDS
from .policy.load import Policy
from .probes import prober as prober_process

Node = Any  # xdist.workermanage.WorkerController (xdist is optional and untyped)
#: each node is kept this many tests ahead at least, and handed out in batches while much is left
MIN_AHEAD = 2
UNITS_FILE = "units.json"
#: the one member a serialized report travels in (``to_wire``)
WIRE = "authcheck_wire"
NOT_APPLICABLE_FILE = "not-applicable.json"
#: ``-n N`` starts workers from this many targets per worker. Measured on 2 cores against the benchmark's fleet
#: (benchmarks/bench_scale.py), two workers against one process: 25% slower at 30 clients, from 20% slower to even
#: at 100 (runs vary), 8% quicker at 300 and at 1,000.
WORKER_TARGETS = 100
#: ``-n N`` starts workers only where this many can run at once. A run in one process keeps up to two cores busy (its
#: tests and its prober, ``probes.prober``); workers, each sending its probes between its tests, spend 1.3-1.7x its CPU
#: on the same work (each starts and collects, every result crosses to the controller: at 1,000 clients on 2 cores,
#: -n 2 with workers 35 s of CPU against 26 s at one stop, 62-88 s against 37-51 s at another), so three are at best
#: about even.
MIN_WORKERS_AT_ONCE = 4
#: (target or None, spends a grant) of each collected test, in collection order
Units = list[tuple[str | None, bool]]


def unit_of(item: pytest.Item) -> tuple[str | None, bool]:
    """The unit ``item`` belongs to: the target it checks (``clients.deployer``, ``apis.platform``; None for a test
    of no target), or the login its target signs in with (``login at providers.sso``); and whether it spends a
    grant."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    target = next((kind.target_of(params[fixture]) for fixture, kind in TARGET_KINDS.items()
                   if isinstance(params.get(fixture), str)), None)
    if target is not None:
        target = _shared_units(item.config).get(target, target)
    return target, bool(getattr(check_of(item), "spends_grant", False))


def _shared_units(config: pytest.Config) -> dict[str, str]:
    """Targets whose checks share a process-bound credential with another target's, each with the unit it joins.

    Every client with a login flow and every API with a user principal join their provider's login unit: they run
    on one worker, so the run signs in once per account, as a serial run does (a session cookie is a credential: it
    is never written down for another worker). A provider joins the unit of the client whose token it reads."""
    from ._api import api_spec
    from ._clients import PolicyClient, token_clients
    from ._fixtures import run_key

    run = config.stash.get(run_key, None)
    if run is None:
        return {}
    known = run.memo.get("xdist login units")
    if known is None:
        policy = run.policy
        clients = policy.section("clients")
        known = {}
        for name, table in clients.items():
            if PolicyClient.from_policy(name, table).uses_login:
                known[f"clients.{name}"] = f"login at providers.{table['provider']}"
        for name in policy.section("apis"):
            users = [p.client for p in api_spec(policy, name).principals.values() if p.kind == "user" and p.client]
            if users and users[0] in clients:
                known[f"apis.{name}"] = f"login at providers.{clients[users[0]]['provider']}"
        # A provider's token checks (clock.token-iat, jwks.token-signature) read the token of its first active
        # client_credentials client with a secret: they join that client's unit, which requests it anyway.
        for provider in policy.section("providers"):
            lenders = token_clients(policy, provider)
            if lenders:
                known[f"providers.{provider}"] = known.get(f"clients.{lenders[0]}", f"clients.{lenders[0]}")
        run.memo["xdist login units"] = known
    return known


def share(directory: Path, name: str, data: Any) -> None:
    """Write what every worker knows alike (from collection) once for the controller: the first worker to get here
    writes it, whole or not at all."""
    path = directory / name
    if path.exists():
        return
    temporary = directory / f"{name}.{os.getpid()}"
    temporary.write_text(json.dumps(data), "utf-8")
    os.replace(temporary, path)


def shared(directory: Path | None, name: str) -> Any:
    """What a worker shared under ``name``; None when none did."""
    if directory is None:
        return None
    try:
        return json.loads((directory / name).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def collection_units(items: list[pytest.Item]) -> dict[str, Any]:
    """A worker's collection as units, for the controller's scheduler (every worker collects the same)."""
    return {"nodeids": [item.nodeid for item in items], "units": [unit_of(item) for item in items]}


def read_units(directory: Path | None, collection: list[str]) -> Units | None:
    """The units of ``collection`` a worker shared; None when there are none for it (each test is then its own)."""
    data = shared(directory, UNITS_FILE)
    if not isinstance(data, dict) or data.get("nodeids") != collection:
        return None
    return [(target if isinstance(target, str) else None, bool(spends)) for target, spends in data["units"]]


def by_target(config: pytest.Config) -> bool:
    """Whether this xdist run deals out targets: ``-n N`` without a ``--dist`` mode of the user's (xdist turns the
    default ``no`` into ``load`` for ``-n`` after the options were first read, so the first reading tells)."""
    known = getattr(config, "known_args_namespace", None)
    chosen = getattr(known, "dist", "no") != "no" or bool(getattr(known, "distload", False))
    return config.getoption("dist", "no") == "load" and not chosen


def why_not_workers(config: pytest.Config, policy: Policy) -> str | None:
    """Why ``-n N`` should run in this process instead, or None. Only for ``-n`` without a ``--dist`` mode of the
    user's, and never with ``--authcheck-worker-targets 0``."""
    per_worker = config.getoption("authcheck_worker_targets", None)
    if per_worker is None:
        ini = str(config.getini("authcheck_worker_targets") or "").strip()
        if ini and not ini.isdigit():
            raise pytest.UsageError(f"authcheck_worker_targets = {ini!r}: not a whole number of targets")
        per_worker = int(ini) if ini else WORKER_TARGETS
    workers = len(config.getoption("tx", None) or ())
    if hasattr(config, "workerinput") or not workers or not per_worker or not by_target(config):
        return None
    # a worker is a new interpreter that imports and collects everything before its first check
    targets = len({kind.target_of(name) for kind in TARGET_KINDS.values() for name in kind.names(policy)})
    if targets < per_worker * workers:
        return (f"{targets} target(s), fewer than {per_worker} per worker for -n {workers}: run in this process, "
                "which is quicker than starting the workers (--authcheck-worker-targets 0 starts them anyway)")
    return _prober_quicker_than_workers(config, policy, workers)


def _prober_quicker_than_workers(config: pytest.Config, policy: Policy, workers: int) -> str | None:
    cores = usable_cores()
    if workers_pay(workers, cores) or not prober_applies(config, policy) or prober_process.unsafe() is not None:
        return None
    return (f"-n {workers} on {cores} core(s): run in this process with its probe process, which is quicker; workers "
            f"pay from {MIN_WORKERS_AT_ONCE} at once (--authcheck-worker-targets 0 starts them anyway)")


def workers_pay(workers: int, cores: int) -> bool:
    """Whether ``workers`` on ``cores`` are quicker than one process with its prober (``MIN_WORKERS_AT_ONCE``)."""
    return min(workers, cores) >= MIN_WORKERS_AT_ONCE


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, within a container's CPU quota (cgroup v2 or v1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def _cpu_quota(cgroup: Path) -> float | None:
    """CPUs' worth of time per period a container may use (``docker --cpus``); None without a limit."""
    for quota_file, period_file in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            words = (cgroup / quota_file).read_text().split()
            if period_file is not None:
                words.append((cgroup / period_file).read_text().strip())
            quota, period = int(words[0]), int(words[1])  # v2's "max 100000" fails here: no limit
        except (OSError, ValueError, IndexError):
            continue
        if quota > 0 and period > 0:
            return quota / period
    return None


def run_in_process(config: pytest.Config) -> None:
    """What ``-n 0`` means to xdist: no workers."""
    config.option.numprocesses, config.option.dist, config.option.tx = 0, "no", []


class TargetScheduling:
    """xdist's ``Scheduling`` with a target's tests as the unit (see the module docstring).

    Like xdist's ``LoadScheduling``, a worker is given more work when it runs low, and the batches shrink as the
    queue does so the workers finish together; unlike it, a batch is whole units, in collection order.
    """

    def __init__(self, config: pytest.Config, log: Any, units: Callable[[list[str]], Units | None]) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.config = config
        self.log = log.targetsched if log is not None else (lambda *_: None)
        self.numnodes = len(parse_tx_spec_config(config))
        self._units = units
        self.node2collection: dict[Node, list[str]] = {}
        self.node2pending: dict[Node, list[int]] = {}
        self.collection: list[str] | None = None
        self._queue: deque[tuple[str | None, list[int]]] = deque()  # read-only units, in collection order
        self._queued = 0  # tests in _queue
        self._unsent = 0  # tests in _queue, _spending, _kept and _loose
        self._spending: dict[str, list[int]] = {}  # target -> its spending tests, until its unit is dealt
        self._kept: dict[Node, list[list[int]]] = {}  # spending units kept for the node that ran their target
        self._loose: deque[list[int]] = deque()  # spending units of a target no node has run

    # ---- the Scheduling protocol -----------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self._unsent:
            return False
        return all(len(pending) < 2 for pending in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self._unsent) or any(self.node2pending.values())

    def add_node(self, node: Node) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []
        self._kept[node] = []

    def add_node_collection(self, node: Node, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        if self.collection_is_completed:
            # a worker replacing a crashed one: its collection must be the run's
            assert self.collection is not None
            if list(collection) != self.collection:
                from xdist.report import report_collection_diff

                first = next(iter(self.node2collection))
                self.log(report_collection_diff(self.collection, collection, first.gateway.id, node.gateway.id))
                return
        self.node2collection[node] = list(collection)

    def mark_test_complete(self, node: Node, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self._feed(node)

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self._queue.appendleft((None, [self.collection.index(item)]))
        self._queued += 1
        self._unsent += 1
        for node in self.nodes:
            self._feed(node)

    def remove_pending_tests_from_node(self, node: Node, indices: Sequence[int]) -> None:
        raise NotImplementedError()

    def remove_node(self, node: Node) -> str | None:
        pending = self.node2pending.pop(node)
        kept = self._kept.pop(node, [])
        self._loose.extend(kept)
        if not pending:
            for other in self.nodes:
                self._feed(other)
            return None
        assert self.collection is not None
        crashed = self.collection[pending.pop(0)]
        if pending:
            self._queue.appendleft((None, pending))
            self._queued += len(pending)
            self._unsent += len(pending)
        for other in self.nodes:
            self._feed(other)
        return crashed

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self._feed(node)
            return
        if not self._same_collections():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        self._build_units(self.collection)
        for node in self.nodes:
            self._feed(node)

    # ---- internals -------------------------------------------------------------------------------
    def _build_units(self, collection: list[str]) -> None:
        units: dict[str | None, list[int]] = {}
        order: list[tuple[str | None, list[int]]] = []
        for index, (target, spends) in enumerate(self._units(collection) or [(None, False)] * len(collection)):
            if target is not None and spends:
                self._spending.setdefault(target, []).append(index)
                continue
            if target is None:
                order.append((None, [index]))
            elif target in units:
                units[target].append(index)
            else:
                units[target] = [index]
                order.append((target, units[target]))
        self._queue.extend(order)
        self._queued = sum(len(indices) for _, indices in order)
        self._unsent = len(collection)
        # a target whose tests all spend: dealt to any node after the read-only units
        self._loose.extend(indices for target, indices in self._spending.items() if target not in units)
        for target in [t for t in self._spending if t not in units]:
            del self._spending[target]

    def _feed(self, node: Node) -> None:
        """Give ``node`` more work if it runs low; shut it down when there is none left for it."""
        if node.shutting_down or self.collection is None:
            return
        pending = self.node2pending[node]
        if self._queue:
            nodes = max(1, len(self.node2pending))
            low, high = max(MIN_AHEAD, self._queued // nodes // 4), max(MIN_AHEAD, self._queued // nodes // 2)
            if len(pending) >= low:
                return
            batch: list[int] = []
            while self._queue and (not batch or len(pending) + len(batch) < high):
                target, indices = self._queue.popleft()
                self._queued -= len(indices)
                batch.extend(indices)
                if target is not None and target in self._spending:
                    self._kept[node].append(self._spending.pop(target))
            self._send(node, batch)
            return
        # the read-only tests are all dealt: this node's spending tests, then any no node has claimed
        batch = list(itertools.chain.from_iterable(self._kept[node]))
        self._kept[node].clear()
        if len(pending) + len(batch) < MIN_AHEAD and self._loose:
            batch.extend(self._loose.popleft())
        if batch:
            self._send(node, batch)
        elif len(pending) < MIN_AHEAD:
            node.shutdown()

    def _send(self, node: Node, indices: list[int]) -> None:
        self._unsent -= len(indices)
        self.node2pending[node].extend(indices)
        node.send_runtest_some(indices)

    def _same_collections(self) -> bool:
        from xdist.report import report_collection_diff

        (first, collection), *others = self.node2collection.items()
        same = True
        for node, other in others:
            difference = report_collection_diff(collection, other, first.gateway.id, node.gateway.id)
            if difference:
                same = False
                self.log(difference)
                self.config.hook.pytest_collectreport(report=pytest.CollectReport(
                    nodeid=node.gateway.id, outcome="failed", longrepr=difference, result=[]))
        return same


def to_wire(data: Any) -> Any:
    """A serialized report (``pytest_report_to_serializable``) as one JSON string: execnet writes and reads a
    string in one step, where a report's nested members (keywords, properties, our result and its exchanges) cost
    it a Python call each. Data JSON cannot hold (a plugin's own objects) travels as it came."""
    if not isinstance(data, dict):
        return data
    try:
        return {WIRE: json.dumps(data)}
    except (TypeError, ValueError):
        return data


def from_wire(data: Any) -> None:
    """Unpack ``to_wire``'s string in place, beside what xdist added to the data after it (item index, worker)."""
    if isinstance(data, dict) and isinstance(data.get(WIRE), str):
        data.update(json.loads(data.pop(WIRE)))


def untuple(report: Any) -> Any:
    """JSON turns tuples into lists: give back the tuples pytest and its plugins may expect of a report."""
    if report is None:
        return report
    for name in ("location", "longrepr"):
        if isinstance(getattr(report, name, None), list):
            setattr(report, name, tuple(getattr(report, name)))
    for name in ("sections", "user_properties"):
        pairs = getattr(report, name, None)
        if isinstance(pairs, list):
            setattr(report, name, [tuple(p) if isinstance(p, list) else p for p in pairs])
    return report


def upcoming(config: pytest.Config) -> Callable[[Callable[[int], bool]], list[int]] | None:
    """On an xdist worker: ``scan(seen)`` lists the indices (into ``session.items``) of the tests the worker was
    given and has not started, latest first, up to the first for which ``seen`` is true (work arrives in order, so
    what lies before it was seen too). None where this xdist keeps them out of reach: each target's probes are then
    sent when its first test starts."""
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None) if type(plugin).__name__ == "WorkerInteractor" else None
        if callable(getattr(queue, "lock", None)):
            return _scanner(queue)
    return None


def _scanner(queue: Any) -> Callable[[Callable[[int], bool]], list[int]]:
    def scan(seen: Callable[[int], bool]) -> list[int]:
        with queue.lock() as items:  # the worker's channel thread appends while the lock is free
            given = (i for i in reversed(items) if isinstance(i, int))
            return list(itertools.takewhile(lambda i: not seen(i), given))
    return scan
