"""pytest-xdist pieces on their own: the target scheduler, the report wire, the prefetch a worker feeds as it goes.

The runs under ``-n 2`` against real servers are in test_plugin, test_suites_clients, test_suites_api, test_login and
test_suites_jamf; these hold the parts to what a run alone cannot show (which worker got what, in what order).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_authcheck._clients import PolicyClient
from pytest_authcheck._redact import Secret
from pytest_authcheck._xdist import TargetScheduling, from_wire, to_wire, untuple
from pytest_authcheck.observations import Kind, Observation
from pytest_authcheck.probes.authorization import Variation
from pytest_authcheck.probes.prefetch import PLANS, Ahead, Job, Plan, Prefetcher, Window
from pytest_authcheck.probes.token import TokenProbe
from pytest_authcheck.probes.variations import MADE_UP_SCOPE, scope_candidates, scope_variation


class Node:
    """What the scheduler uses of xdist's WorkerController: it records what it was sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        assert not self.shutting_down
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def config(workers: int) -> Any:
    return SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"] if name == "tx" else None)


def run(units: list[tuple[str | None, bool]], workers: int = 2, *, crash: int | None = None,
        shared: bool = True) -> list[Node]:
    """Deal ``units`` (one per test) to ``workers`` nodes that finish their oldest pending test in turn, the way
    DSession drives a scheduler; node ``crash`` dies after its first test. ``shared``: whether a worker wrote the
    units down (without them each test is a unit of its own)."""
    collection = [f"t.py::test[{i}]" for i in range(len(units))]
    sched = TargetScheduling(config(workers), None, lambda c: units if shared and c == collection else None)
    nodes = [Node(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, collection)
    assert sched.collection_is_completed
    sched.schedule()
    done = {node: 0 for node in nodes}
    for _ in range(10 * len(units) + 10):
        busy = [n for n in sched.nodes if len(n.sent) > done[n]]
        if not busy:
            break
        for node in busy:
            if node not in sched.nodes:
                continue
            if crash is not None and node is nodes[crash] and done[node] == 1:
                sched.remove_node(node)
                continue
            sched.mark_test_complete(node, node.sent[done[node]])
            done[node] += 1
    assert not sched.has_pending and sched.tests_finished
    return nodes


UNITS = [("providers.sso", False)] * 5 + [
    (f"clients.c{i % 7}", i % 4 == 0) for i in range(70)] + [(None, False)] * 3 + [("clients.spender", True)] * 2


def test_every_test_is_dealt_once_and_a_targets_tests_to_one_node() -> None:
    nodes = run(UNITS)
    dealt = sorted(i for node in nodes for i in node.sent)
    assert dealt == list(range(len(UNITS)))
    assert all(node.sent for node in nodes)  # both nodes worked
    for target in {t for t, _ in UNITS if t is not None}:
        holders = {node.gateway.id for node in nodes for i in node.sent if UNITS[i][0] == target}
        assert len(holders) == 1, (target, holders)


def test_a_nodes_spending_tests_come_after_its_read_only_ones() -> None:
    for node in run(UNITS, workers=3):
        spending = [position for position, i in enumerate(node.sent) if UNITS[i][1]]
        read_only = [position for position, i in enumerate(node.sent) if not UNITS[i][1]]
        assert not spending or not read_only or min(spending) > max(read_only), node.sent


def test_without_units_each_test_is_its_own_and_all_run() -> None:
    nodes = run(UNITS, shared=False)
    assert sorted(i for node in nodes for i in node.sent) == list(range(len(UNITS)))
    assert all(node.sent for node in nodes)


def test_a_crashed_nodes_tests_go_to_the_others() -> None:
    nodes = run(UNITS, workers=2, crash=0)
    # the crashed node ran its first test; the one it was running when it died is reported by xdist as crashed
    survivor = nodes[1]
    assert set(survivor.sent) | set(nodes[0].sent[:2]) == set(range(len(UNITS)))


# ---- the report wire ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("workers", "cores", "in_process"), [
    (2, 2, True), (2, 8, True), (1, 16, True), (3, 3, True), (8, 3, True), (8, 1, True),  # fewer than 4 at once
    (4, 4, False), (4, 16, False), (16, 16, False)])  # -n auto on a large machine keeps its workers
def test_n_runs_in_this_process_with_its_prober_where_fewer_than_four_workers_run_at_once(
        monkeypatch: pytest.MonkeyPatch, workers: int, cores: int, in_process: bool) -> None:
    from pytest_authcheck import _xdist
    from pytest_authcheck.probes import prober

    monkeypatch.setattr(_xdist, "usable_cores", lambda: cores)
    monkeypatch.setattr(prober, "unsafe", lambda: None)
    monkeypatch.setattr(_xdist, "prober_applies", lambda config, policy: True)
    why = _xdist._prober_quicker_than_workers(None, None, workers)  # type: ignore[arg-type]
    assert (why is not None) is in_process
    if in_process:
        assert why.startswith(f"-n {workers} on {cores} core(s): run in this process with its probe process")
    # without a prober to fork (refused, no client probes, or a fork not safe) the workers start
    monkeypatch.setattr(prober, "unsafe", lambda: "other threads run in this process")
    assert _xdist._prober_quicker_than_workers(None, None, workers) is None  # type: ignore[arg-type]
    monkeypatch.setattr(prober, "unsafe", lambda: None)
    monkeypatch.setattr(_xdist, "prober_applies", lambda config, policy: False)
    assert _xdist._prober_quicker_than_workers(None, None, workers) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("files", "cores"), [
    ({}, "all"),
    ({"cpu.max": "max 100000\n"}, "all"),  # cgroup v2 without a limit
    ({"cpu.max": "150000 100000\n"}, 2),  # docker --cpus 1.5: two cores busy in part
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "all"),
    ({"cpu.max": "garbage"}, "all")])
def test_the_usable_cores_are_the_affinitys_within_a_containers_cpu_quota(tmp_path: Path, files: dict[str, str],
                                                                          cores: int | str) -> None:
    import os

    from pytest_authcheck._xdist import usable_cores

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path) == (affinity if cores == "all" else min(affinity, int(cores)))


def test_a_report_crosses_the_wire_whole(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        def test_skip():
            pytest.skip("not here")
        def test_fail(record_property):
            record_property("check", "x.y")
            assert 1 == 2
    """)
    reports = pytester.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    config = pytester.parseconfig()
    for report in reports:
        report.authcheck = {"status": "failed", "evidence": {"exchanges": ["e1"]}}
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        wire = to_wire(data)
        assert list(wire) == ["authcheck_wire"] and isinstance(wire["authcheck_wire"], str)
        wire["item_index"] = 3  # what xdist adds beside our member
        from_wire(wire)
        back = untuple(config.hook.pytest_report_from_serializable(config=config, data=wire))
        assert (back.nodeid, back.when, back.outcome) == (report.nodeid, report.when, report.outcome)
        assert back.location == report.location and isinstance(back.location, tuple)
        assert back.authcheck == report.authcheck and back.item_index == 3
        assert back.user_properties == report.user_properties
        assert back.longreprtext == report.longreprtext
        if report.skipped:
            assert isinstance(back.longrepr, tuple) and back.longrepr[2] == "Skipped: not here"


def test_data_json_cannot_hold_travels_as_it_came() -> None:
    data = {"nodeid": "t", "extra": object()}
    assert to_wire(data) is data
    from_wire(data)
    assert set(data) == {"nodeid", "extra"}


# ---- prefetch fed as work arrives -------------------------------------------------------------------------------
def test_jobs_added_while_running_keep_their_order_and_the_bound_per_host() -> None:
    lock = threading.Lock()
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    order: dict[str, list[int]] = {}

    def job(host: str, number: int) -> Any:
        def send() -> None:
            with lock:
                in_flight[host] = in_flight.get(host, 0) + 1
                peak[host] = max(peak.get(host, 0), in_flight[host])
                order.setdefault(host, []).append(number)
            time.sleep(0.002)
            with lock:
                in_flight[host] -= 1
        return send

    prefetcher = Prefetcher(per_host=2)
    try:
        prefetcher.add({host: [job(host, i) for i in range(20)] for host in ("a", "b")})
        prefetcher.add({"a": [job("a", i) for i in range(20, 40)]})
        deadline = time.monotonic() + 10
        while sum(len(o) for o in order.values()) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        prefetcher.stop()
    assert len(order["a"]) == 40 and len(order["b"]) == 20
    assert peak == {"a": 2, "b": 2}
    # per_host threads take jobs in order: a job starts no later than one position behind where it was queued
    assert all(abs(position - number) <= 1 for position, number in enumerate(order["a"]))


def test_stopped_prefetcher_takes_no_more_jobs() -> None:
    sent: list[int] = []
    prefetcher = Prefetcher(per_host=1)
    prefetcher.stop()
    prefetcher.add({"a": [lambda: sent.append(1)]})
    time.sleep(0.05)
    assert sent == []


def test_ahead_plans_each_test_once_as_work_arrives_and_sends_it_before_the_tests_run() -> None:
    planned: list[list[int]] = []
    added: list[dict[str, list[Any]]] = []
    given: list[int] = [0, 1]
    waited: list[int] = []

    def wait_idle(timeout: float | None = None) -> bool:
        waited.append(len(added))
        return True

    fake = SimpleNamespace(add=added.append, wait_idle=wait_idle)

    def scan(seen: Any) -> list[int]:
        return [i for i in reversed(given) if not seen(i)]

    def plan(indices: list[int]) -> dict[str, list[Any]]:
        planned.append(sorted(indices))
        return {"host": [lambda: None] * len(indices)}

    ahead = Ahead(fake, plan, scan)  # type: ignore[arg-type]
    ahead.see(0, 1)
    given += [5, 6, 7]
    ahead.see(1, 5)
    ahead.see(5, 6)
    assert planned == [[0, 1], [5, 6, 7]]
    assert [len(jobs["host"]) for jobs in added] == [2, 3]
    assert waited == [1, 2]  # each batch sent before its first test runs
    without_scan = Ahead(fake, plan, None)  # type: ignore[arg-type]
    without_scan.see(8, 9)
    without_scan.see(9, None)
    assert planned[-1] == [8, 9] and len(planned) == 3
    assert waited == [1, 2]  # planned a test ahead, sent while the test before it runs


class _Clocks:
    """A wall clock and a CPU clock the test moves: a window is sent in ``slices`` waits of the prefetch's
    ``wait_idle``, each as long as it allows, for ``busy`` of which the process works."""

    def __init__(self, slices: int, busy: float) -> None:
        self.wall = self.cpu = 0.0
        self.slices, self.busy = slices, busy
        self.left = 0

    def waited(self, timeout: float | None) -> bool:
        assert timeout is not None  # a window is never waited for without looking up
        self.left = self.left or self.slices
        self.left -= 1
        self.wall += timeout
        self.cpu += timeout * self.busy
        return self.left == 0


def _window(items: list[Any], clocks: _Clocks, planned: list[range], waits: list[int]) -> Window:
    def plan(tests: range) -> dict[str, list[Any]]:
        planned.append(tests)
        return {"host": [lambda: None] * len(tests)}

    def wait_idle(timeout: float | None = None) -> bool:
        waits.append(len(planned))
        return clocks.waited(timeout)

    fake = SimpleNamespace(add=lambda jobs: None, wait_idle=wait_idle)
    return Window(fake, plan, items, width=6, clocks=(lambda: clocks.wall, lambda: clocks.cpu))  # type: ignore[arg-type]


def test_a_serial_window_sends_each_block_of_probes_while_its_tests_wait_when_this_process_is_what_limits() -> None:
    planned: list[range] = []
    waits: list[int] = []
    items = [object() for _ in range(14)]
    window = _window(items, _Clocks(slices=5, busy=0.9), planned, waits)
    window.start()
    assert planned == [range(0, 6)] and waits == [1] * 5  # sent before the first test runs
    for position in range(6):
        window.see(items[position])
    assert planned == [range(0, 6)] and len(waits) == 5  # its tests run with the prefetch idle
    window.see(items[6])
    assert planned == [range(0, 6), range(6, 12)] and waits[5:] == [2] * 5
    for position in range(7, 14):
        window.see(items[position])
    assert planned[2:] == [range(12, 14)] and waits[10:] == [3] * 5 and window.overlapped == 0


def test_a_serial_window_lets_its_tests_run_while_a_slower_provider_answers() -> None:
    planned: list[range] = []
    waits: list[int] = []
    items = [object() for _ in range(25)]
    window = _window(items, _Clocks(slices=30, busy=0.2), planned, waits)  # idle 80% of the wait: a slow provider
    window.start()
    assert planned == [range(0, 6)] and waits == [1] * 3 and window.overlapped == 1  # judged after 0.3 s
    window.see(items[20])  # a test run out of order (another plugin's doing) is found; the plans catch up with it
    window.see(items[21])
    window.see(object())  # not one of the items: nothing planned for it
    assert planned[1:] == [range(6, 25)] and window.overlapped == 2
    covered = [i for tests in planned for i in tests]
    assert covered == list(range(25))  # each test once, in order


def test_a_window_sent_before_its_wait_is_judged_is_waited_for_whatever_the_process_did() -> None:
    planned: list[range] = []
    waits: list[int] = []
    items = [object() for _ in range(8)]
    window = _window(items, _Clocks(slices=3, busy=0.0), planned, waits)  # done within 0.3 s: nothing to judge
    window.start()
    window.see(items[6])
    assert waits == [1, 1, 1, 2, 2, 2] and window.overlapped == 0


def test_the_prefetch_is_idle_once_every_job_added_is_sent_and_waiting_for_it_ends_when_it_stops() -> None:
    sent: list[int] = []
    prefetcher = Prefetcher(per_host=2)
    gate = threading.Event()

    def job(n: int) -> Job:
        def send() -> None:
            time.sleep(0.01)
            sent.append(n)
        return Job(("job", n), send)

    prefetcher.add({"a": [job(n) for n in range(5)], "b": [job(n) for n in range(5, 8)]})
    prefetcher.wait_idle()
    assert sorted(sent) == list(range(8))
    one_at_a_time = Prefetcher(per_host=1)
    one_at_a_time.add({"a": [Job(("blocked", 0), gate.wait), job(9)]})
    waiter = threading.Thread(target=one_at_a_time.wait_idle)
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive()  # a job is still in flight
    threading.Timer(0.1, gate.set).start()
    one_at_a_time.stop()  # waits for the job in flight, sends no other, and ends the wait
    waiter.join(2)
    assert not waiter.is_alive() and 9 not in sent


# ---- what the prefetch sends ahead of the checks that read it ----------------------------------------------------
class _Tokens:
    """TokenProbes as the plan's jobs use it: records each request, answers as ``answers`` says (else refused)."""

    def __init__(self, answers: dict[str, Observation]) -> None:
        self.sent: list[str] = []
        self.answers = answers

    def send(self, client: PolicyClient, name: str, form: dict[str, Any], **_: Any) -> TokenProbe:
        self.sent.append(name)
        observation = self.answers.get(name, Observation(Kind.REFUSED, "HTTP 400 invalid_request", None, 400,
                                                         "invalid_request", (400, "invalid_request")))
        return TokenProbe(name, None, observation)  # type: ignore[arg-type]


class _Authz:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def control(self, client: PolicyClient) -> None:
        self.sent.append("control")

    def pre_login(self, client: PolicyClient, variation: Variation) -> None:
        self.sent.append(variation.name)


def _planned(check_id: str, client: PolicyClient, metadata: dict[str, Any], answers: dict[str, Observation] | None = None
             ) -> tuple[list[str], list[str], list[str]]:
    tokens, authz, held = _Tokens(answers or {}), _Authz(), []
    plan = Plan(client, tokens, authz, lambda: metadata,  # type: ignore[arg-type]
                lambda c, endpoint: held.append(endpoint))
    for job in PLANS[check_id](plan):
        job()
    return tokens.sent, authz.sent, held


_APP = PolicyClient.from_policy("app", {"provider": "sso", "client_id": "app", "grant_types": ["authorization_code"],
                                        "redirect_uris": ["http://127.0.0.1/cb"], "scopes": ["openid"]})
_SERVICE = PolicyClient.from_policy("svc", {"provider": "sso", "client_id": "svc", "client_secret": Secret("s" * 20),
                                            "grant_types": ["client_credentials"], "scopes": ["deploy"]})


def test_the_prefetch_sends_the_error_redirects_authz_response_iss_reads() -> None:
    assert _planned("authz-response.iss", _APP, {})[1] == ["control", "an unknown response_type", "prompt=none"]


def test_the_prefetch_sends_a_login_clients_out_of_policy_scopes_as_the_check_asks_them() -> None:
    metadata = {"scopes_supported": ["openid", "admin", "billing"]}
    expected = [scope_variation(_APP, s).name for s in scope_candidates(_APP, metadata)]
    assert _planned("scopes.out-of-policy-refused", _APP, metadata)[1] == ["control", *expected]
    assert expected == ["scope +admin", "scope +billing", f"scope +{MADE_UP_SCOPE}"]


def test_the_prefetch_asks_whether_a_code_is_issued_only_when_the_made_up_codes_refusal_is_ambiguous() -> None:
    unknown = Observation(Kind.REFUSED, "HTTP 400 unsupported_grant_type", None, 400, "unsupported_grant_type",
                          (400, "unsupported_grant_type"))
    made_up_code = Observation(Kind.REFUSED, "HTTP 400 invalid_grant", None, 400, "invalid_grant", (400, "invalid_grant"))
    refused_as_grant = Observation(Kind.REFUSED, "HTTP 400 unauthorized_client", None, 400, "unauthorized_client",
                                   (400, "unauthorized_client"))
    answers = {"an unknown grant type": unknown, "grant authorization_code": made_up_code}
    assert _planned("grants.undeclared-refused", _SERVICE, {}, answers)[1] == ["control"]
    answers["grant authorization_code"] = refused_as_grant
    assert _planned("grants.undeclared-refused", _SERVICE, {}, answers)[1] == []


def test_the_prefetch_introspects_a_service_s_held_token_where_revocation_inactive_will() -> None:
    both = {"introspection_endpoint": "https://sso/introspect", "revocation_endpoint": "https://sso/revoke"}
    assert _planned("revocation.revoked-inactive", _SERVICE, both)[2] == ["https://sso/introspect"]
    assert _planned("revocation.revoked-inactive", _SERVICE, {"introspection_endpoint": "https://sso/i"})[2] == []
    assert _planned("revocation.revoked-inactive", _APP, both) == ([], [], [])
