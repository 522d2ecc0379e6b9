"""A serial run's planned probes go from a process of their own (``probes.prober``): the tests read the same answers,
each request is sent once, and what the prober learns reaches this process's redactor before its answers."""

from __future__ import annotations

import collections
import json
import os
import pickle
import re
import threading
from pathlib import Path

import pytest

from pytest_authcheck._redact import Redactor
from pytest_authcheck.probes import prober
from pytest_authcheck.probes.once import MISSING, Once
from pytest_authcheck.probes.prefetch import Job
from pytest_authcheck.probes.prober import receiving, sending, wire
from pytest_authcheck.probes.readers import Readers
from tests.conftest import oidc_policy

ASKED = "--authcheck-probe-process"
ONE_PROCESS = "--authcheck-no-probe-process"

# the prober fails once it has handed back its first stretches with probes, one at a time: the tests send the rest
# themselves
PROBER_FAILS = """\
from pytest_authcheck.probes.prober import sending
sending.STRETCH, sending.AHEAD = 10, 1
queue, add = sending.Probing._queue, sending.Prefetcher.add
probing = []


def adding(self, jobs):
    if any(jobs.values()):
        probing.append(True)
    return add(self, jobs)


def failing(self, stretch):
    if len(probing) >= 2:  # one stretch at a time: the ones before are handed back
        raise RuntimeError("the prober broke")
    queue(self, stretch)


sending.Prefetcher.add = adding
sending.Probing._queue = failing
"""

# the prober's writer breaks at its first batch: the prober must end there rather than send on what nobody will read
WRITER_FAILS = """\
from pytest_authcheck.probes.prober import sending
sending.STRETCH, sending.AHEAD = 10, 1


def broken(messages):
    raise RuntimeError("the writer broke")


sending.encoded = broken
"""

# every token a test reads from a token answer: is it a secret this process's redactor knows? (the answers the prober
# hands back were received by another process)
TOKENS_KNOWN = """\
import json
from pytest_authcheck._http import TOKEN_MEMBERS
from pytest_authcheck.probes.token import TokenProbes

seen = {"tokens": 0, "unknown": 0}
send = TokenProbes.send


def reading(self, *args, **kwargs):
    probe = send(self, *args, **kwargs)
    try:
        body = json.loads(probe.response.content)
    except ValueError:
        return probe
    for member in TOKEN_MEMBERS:
        value = body.get(member) if isinstance(body, dict) else None
        if isinstance(value, str):
            seen["tokens"] += 1
            seen["unknown"] += not REDACTOR[0]._holds(value)  # by value: the JWT shape would hide it anyway
    return probe


REDACTOR = []


def pytest_configure(config):
    TokenProbes.send = reading
    session = next(p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "AuthcheckSession")
    REDACTOR.append(session.run.redactor)


def pytest_unconfigure(config):
    with open(OUT, "w") as out:
        json.dump(seen, out)
"""


def _requests(log: str) -> collections.Counter[tuple[str, str, str]]:
    """The requests an IdP log shows, by method, path and status (the query's values are a run's own)."""
    return collections.Counter(re.findall(r"\] (GET|POST) ([^?\s]+)\S* (\d{3}) ", log))


def _outcomes(report: dict) -> dict[str, str]:
    return {r["nodeid"]: r["status"] for r in report["results"]}


def _probed(report: dict) -> int:
    """Exchanges the prober sent: their ids carry its suffix after the run's prefix."""
    return sum(1 for exchange_id in report["exchanges"] if re.match(r"^(gw\d+)?xp\d+$", exchange_id))


def test_the_prober_sends_what_the_tests_read_once_and_they_judge_the_same_answers(idp, run_authcheck,
                                                                                 pytester: pytest.Pytester) -> None:
    server = idp("good")
    before = len(server.log_text())
    pytester.makeconftest(TOKENS_KNOWN.replace("OUT", repr(str(pytester.path / "tokens.json"))))
    forked = run_authcheck(oidc_policy(server), ASKED, clients=True, subprocess=True)
    middle = len(server.log_text())
    tokens = json.loads((pytester.path / "tokens.json").read_text())
    pytester.makeconftest("")
    alone = run_authcheck(oidc_policy(server), ONE_PROCESS, clients=True, subprocess=True)
    log = server.log_text()

    assert _probed(forked.report) > 20, forked.output()
    assert _probed(alone.report) == 0
    assert _outcomes(forked.report) == _outcomes(alone.report)
    assert _requests(log[before:middle]) == _requests(log[middle:])
    # the tokens the prober received were secrets here before any test read them
    assert tokens["tokens"] > 5 and tokens["unknown"] == 0


def test_tests_send_what_a_failed_prober_did_not_hand_back(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    server = idp("good")
    alone = run_authcheck(oidc_policy(server), clients=True, subprocess=True)
    pytester.makeconftest(PROBER_FAILS)
    pytester.makeini("[pytest]\nauthcheck_probe_process = true\n")  # asked for in the ini this time
    broken = run_authcheck(oidc_policy(server), clients=True, subprocess=True)
    assert 0 < _probed(broken.report), broken.output()
    assert _outcomes(broken.report) == _outcomes(alone.report)
    assert "the probe process: it stopped (RuntimeError: the prober broke)" in broken.output()


def test_a_prober_that_cannot_hand_back_ends_rather_than_send_on(idp, run_authcheck,
                                                                  pytester: pytest.Pytester) -> None:
    server = idp("good")
    before = len(server.log_text())
    alone = run_authcheck(oidc_policy(server), clients=True, subprocess=True)
    middle = len(server.log_text())
    pytester.makeconftest(WRITER_FAILS)
    broken = run_authcheck(oidc_policy(server), ASKED, clients=True, subprocess=True)
    log = server.log_text()
    assert _outcomes(broken.report) == _outcomes(alone.report)
    assert "the probe process: it ended after handing back 0 of" in broken.output()
    sent_alone, sent_broken = sum(_requests(log[before:middle]).values()), sum(_requests(log[middle:]).values())
    assert sent_broken < sent_alone + 30, (sent_alone, sent_broken)  # the first stretch's, sent twice at most


def _handed_back(messages: list[tuple]) -> tuple[prober.Prober, Once, Readers, Redactor]:
    """A prober's parent end, told ``messages`` as if a prober had sent them (``CACHE`` stands for the cache)."""
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    cache, readers, redactor = Once(), Readers(), Redactor([])
    readers.expect(["job"])
    parent = prober.Prober(os.getpid(), read_fd, tell_fd, {id(cache): cache}, redactor, None)
    parent.begin(prober.Instructions([], {}, 1))
    parent.listen(readers)
    os.close(told_fd)
    wire.write_batch(write_fd, pickle.dumps([(m[0], *(id(cache) if part is CACHE else part for part in m[1:]))
                                                for m in messages]))
    os.close(write_fd)
    return parent, cache, readers, redactor


CACHE = object()


def test_this_process_learns_the_secrets_before_the_answers_and_waits_for_how_far_the_prober_came() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.prober-issued-token-value"
    parent, cache, readers, redactor = _handed_back([
        ("secrets", [token]), ("answer", "job", CACHE, "key", {"access_token": token}), ("reached", 3)])
    parent.wait_for(2)
    assert cache.peek("key") == {"access_token": token}
    assert token not in redactor.text(f"Bearer {token}")
    # noted under its job's signature: it goes when the job's last reader has run
    readers.finished(["job"])
    assert cache.peek("key") is MISSING
    parent._receiver.join(5)


def test_a_test_waits_no_more_once_the_prober_has_ended_short_of_it() -> None:
    parent, cache, _, _ = _handed_back([("reached", 1), ("failed", "RuntimeError: the prober broke")])
    parent.wait_for(500)
    assert parent.failure == "it stopped (RuntimeError: the prober broke)"
    assert cache.peek("key") is MISSING


def test_an_answer_the_tests_made_themselves_is_told_to_the_prober(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    os.close(write_fd)
    cache = Once()
    parent = prober.Prober(os.getpid(), read_fd, tell_fd, {id(cache): cache}, Redactor([]), None)
    parent.listen(Readers())
    assert cache.get("unplanned", lambda: "made here") == "made here"
    heard = Once()
    os.close(tell_fd)
    parent._tell_fd = None
    sending.hear(told_fd, {id(cache): heard}, Readers(counted=False), sending.Progress())
    assert heard.peek("unplanned") == "made here"


def test_the_prober_keeps_an_answer_until_the_tests_have_all_read_it() -> None:
    """The prober counts no readers: it lets an answer go when this process says its readers have all run."""
    cache, readers = Once(), Readers(counted=False)
    readers.run("job", lambda: cache.get("key", lambda: "answer"))
    readers.run("other job", lambda: cache.get("key", lambda: "made again"))
    told_fd, tell_fd = os.pipe()
    wire.write_batch(tell_fd, pickle.dumps([("released", ["job"])]))
    os.close(tell_fd)
    sending.hear(told_fd, {id(cache): cache}, readers, sending.Progress())
    assert cache.peek("key") == "answer"  # "other job" still holds it
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    parent = prober.Prober(os.getpid(), read_fd, tell_fd, {}, Redactor([]), None)
    ledger = Readers()
    ledger.expect(["other job"] * 2)
    parent.listen(ledger)
    for _ in range(2):
        ledger.finished(["other job"])  # the second is its last reader
    parent._releasing += ["filler"] * receiving.RELEASED_BATCH  # told in batches: this one is full
    ledger.finished(["never planned"])
    os.close(tell_fd)
    parent._tell_fd = None
    os.close(write_fd)
    sending.hear(told_fd, {id(cache): cache}, readers, sending.Progress())
    assert cache.peek("key") is MISSING


def test_a_job_planned_again_under_a_signature_it_has_settled_is_not_run_again(monkeypatch) -> None:
    """The tests' process holds a settled signature's answers until all its readers have run: the prober hands them
    back once. A job that may leave its signature's request unsent (a second opinion) runs each time."""
    monkeypatch.setattr(sending, "STRETCH", 1)
    monkeypatch.setattr(sending, "AHEAD", 1)  # each test's stretch is done before the next is planned
    cache, readers, runs = Once(), Readers(counted=False), collections.Counter()

    def job(signature: str, *, settles: bool = True) -> Job:
        def send() -> None:
            runs[signature] += 1
            cache.get(signature, lambda: f"the answer for {signature}")
        return Job(signature, send, settles)

    read_fd, write_fd = os.pipe()
    sending.Probing(write_fd, lambda stretch: {"idp": [job("declared"), job("second opinion", settles=False)]}, 3,
                    {id(cache): cache}, readers, Redactor([]), None, 2).run()
    messages = []
    while (batch := wire.read_batch(read_fd)) is not None:
        messages += pickle.loads(batch)
    os.close(read_fd)
    assert runs == {"declared": 1, "second opinion": 3}
    assert [m[1] for m in messages if m[0] == "reached"] == [1, 2, 3]
    assert [m[3] for m in messages if m[0] == "answer"].count("declared") == 1
    readers.release(["declared"])  # its readers have all run: a test planning it after that is a new reader
    assert not readers.settled("declared")


def test_by_default_the_probes_go_from_a_second_process_unless_one_is_asked_for(idp, run_authcheck,
                                                                              pytester: pytest.Pytester) -> None:
    server = idp("good")
    default = run_authcheck(oidc_policy(server), "-k", "secret_accepted", clients=True, subprocess=True)
    one = run_authcheck(oidc_policy(server), ONE_PROCESS, "-k", "secret_accepted", clients=True, subprocess=True)
    pytester.makeini("[pytest]\nauthcheck_probe_process = false\n")
    one_by_ini = run_authcheck(oidc_policy(server), "-k", "secret_accepted", clients=True, subprocess=True)
    assert _probed(default.report) > 0, default.output()
    assert _probed(one.report) == 0 and _probed(one_by_ini.report) == 0
    assert _outcomes(default.report) == _outcomes(one.report) == _outcomes(one_by_ini.report)
    pytester.makeini("[pytest]\nauthcheck_probe_process = sometimes\n")
    wrong = run_authcheck(oidc_policy(server), "-k", "secret_accepted", clients=True, subprocess=True)
    assert "authcheck_probe_process: 'sometimes' is neither true nor false" in wrong.output()


def test_n_2_on_one_core_runs_in_this_process_with_its_prober_and_starts_workers_without_one(
        idp, run_authcheck) -> None:
    """Fewer than four workers at once (here two on one core: the header names the cores it read) are slower than the
    tests with their prober: ``-n 2`` runs as the default does. Without a prober (refused here), they start."""
    server = idp("good")
    serial = run_authcheck(oidc_policy(server), "-k", "secret_accepted", clients=True, subprocess=True)
    several = ("-n", "2", "--authcheck-worker-targets", "1")  # past the small policy's own rule
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})  # this thread's, which the run's process inherits
    try:
        one_core = run_authcheck(oidc_policy(server), *several, "-k", "secret_accepted", clients=True,
                                 subprocess=True)
        refused = run_authcheck(oidc_policy(server), *several, ONE_PROCESS, "-k", "secret_accepted", clients=True,
                                subprocess=True)
    finally:
        os.sched_setaffinity(0, cores)
    assert "-n 2 on 1 core(s): run in this process with its probe process" in one_core.output()
    assert "created:" not in one_core.output() and _probed(one_core.report) > 0
    assert "created: 2/2 workers" in refused.output() and "core(s)" not in refused.output()
    assert _outcomes(one_core.report) == _outcomes(serial.report) == _outcomes(refused.report)


def test_n_run_in_this_process_whose_prober_a_later_thread_prevents_says_so(idp, run_authcheck,
                                                                              pytester: pytest.Pytester) -> None:
    # a plugin's thread started after the choice was made (at configure, after the plugin's own)
    pytester.makeconftest("import threading\n\ndef pytest_configure(config):\n"
                          "    threading.Thread(target=threading.Event().wait, args=(30,), name='late', "
                          "daemon=True).start()\n")
    run = run_authcheck(oidc_policy(idp("good")), "-n", "2", "--authcheck-worker-targets", "1", "-k",
                        "secret_accepted", clients=True, subprocess=True)
    assert "-n 2 on " in run.output() and "created:" not in run.output()
    assert "-n without its workers and without the probe process: other threads run in this process (late)" \
        in run.output()
    assert _probed(run.report) == 0 and run.report["results"]


def test_where_a_fork_is_not_safe_the_default_is_one_process_and_nothing_is_said(idp, run_authcheck,
                                                                                pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import threading\nthreading.Thread(target=threading.Event().wait, args=(30,), "
                          "name='a plugin of the team', daemon=True).start()\n")
    run = run_authcheck(oidc_policy(idp("good")), "-k", "secret_accepted", clients=True, subprocess=True)
    assert "--authcheck-probe-process" not in run.output()
    assert _probed(run.report) == 0 and run.report["results"]


def test_a_prober_asked_for_where_it_cannot_be_forked_is_not_and_the_header_says_why(idp, run_authcheck,
                                                                                   pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import threading\nthreading.Thread(target=threading.Event().wait, args=(30,), "
                          "name='a plugin of the team', daemon=True).start()\n")
    run = run_authcheck(oidc_policy(idp("good")), ASKED, "-k", "secret_accepted", clients=True, subprocess=True)
    assert "--authcheck-probe-process: other threads run in this process (a plugin of the team)" in run.output()
    assert _probed(run.report) == 0 and run.report["results"]


def test_after_a_batch_that_does_not_load_nothing_more_is_taken_from_the_prober() -> None:
    """A lost batch may have held secrets a later answer carries (each is told once): the prober counts as ended there,
    and the tests send what it did not hand back themselves."""
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    cache, readers = Once(), Readers()
    readers.expect(["job"])
    wire.write_batch(write_fd, b"not a pickle")  # both written before they are read: the reader may go after one
    wire.write_batch(write_fd, pickle.dumps([("answer", "job", id(cache), "key", "answer"), ("reached", 20)]))
    parent = prober.Prober(os.getpid(), read_fd, tell_fd, {id(cache): cache}, Redactor([]), None)
    parent.listen(readers)
    parent.wait_for(19)  # returns: the prober has ended, as far as the tests are concerned
    assert cache.peek("key") is MISSING and parent.unreadable == 1
    assert parent.failure is not None and "did not load" in parent.failure
    parent._receiver.join(5)
    os.close(write_fd)
    os.close(told_fd)

def test_a_prober_stopped_inside_a_batch_is_not_reported_as_failed() -> None:
    """A run that ends early (Ctrl-C, -x) stops the prober wherever its writer is: a batch cut short then is no
    failure; the same cut without a stop is."""
    for stopping in (True, False):
        read_fd, write_fd = os.pipe()
        told_fd, tell_fd = os.pipe()
        parent = prober.Prober(os.getpid(), read_fd, tell_fd, {}, Redactor([]), None)
        parent._stopping = stopping
        os.write(write_fd, (1000).to_bytes(8, "big") + b"only the start of a batch")
        os.close(write_fd)
        parent._receiver.join(5)
        assert (parent.failure is None) is stopping, parent.failure
        os.close(told_fd)
        os.close(tell_fd)


def test_a_secret_two_prober_threads_add_at_once_is_queued_before_either_hands_back_an_answer() -> None:
    token = "opaque-token-0123456789abcdef"  # an IdP may hand the same token to two requests
    redactor, cache, readers = Redactor([]), Once(), Readers(counted=False)
    inside, go_on = threading.Event(), threading.Event()
    plain_add = redactor.add

    def add(*values: str) -> None:
        plain_add(*values)
        if threading.current_thread().name == "first":
            inside.set()  # registered, not yet queued: the thread is descheduled here
            go_on.wait(5)
    redactor.add = add  # type: ignore[method-assign]
    read_fd, write_fd = os.pipe()
    probing = sending.Probing(write_fd, lambda stretch: {}, 200, {id(cache): cache}, readers, redactor, None, 2)
    first = threading.Thread(target=redactor.add, args=(token,), name="first")
    first.start()
    inside.wait(5)

    def second_job() -> None:
        redactor.add(token)  # known already to the redactor, but not yet queued for the tests
        readers.note("job", cache, "key", {"access_token": token})
    second = threading.Thread(target=second_job, name="second")
    second.start()
    second.join(0.2)
    assert second.is_alive()  # it waits until the value is queued
    go_on.set()
    first.join(5)
    second.join(5)
    assert [message[0] for message in probing._outbox] == ["secrets", "answer"]
    os.close(read_fd)
    os.close(write_fd)


def test_a_session_that_fails_to_start_after_the_fork_ends_its_prober(idp, run_authcheck,
                                                                    pytester: pytest.Pytester) -> None:
    """A plugin failing at session start (after the fork) means pytest never finishes the session: the prober and its
    shared folder are ended when pytest unconfigures."""
    pytester.makeconftest("def pytest_sessionstart(session):\n    raise RuntimeError('a plugin of the team failed')\n")
    temporary = pytester.mkdir("tmp")
    run = run_authcheck(oidc_policy(idp("good")), ASKED, clients=True, subprocess=True,
                        env={"TMPDIR": str(temporary)})
    assert "a plugin of the team failed" in run.output()
    assert not list(temporary.glob("authcheck-prober-*"))


def test_an_answer_handed_back_for_a_second_signature_stays_when_the_first_is_released_meanwhile() -> None:
    """The tests' last reader of the first signature holding an answer finishes while the prober's note of a second
    one arrives: the answer stays, held by the second."""
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    cache, ledger = Once(), Readers()
    ledger.expect(["first", "second"])
    ledger.run("first", lambda: cache.get("key", lambda: "answer"))
    note = ledger.note

    def noting_while_the_first_is_released(signature, once, key, answer=MISSING):
        ledger.finished(["first"])  # the main thread, between the two steps of taking the answer in
        note(signature, once, key, answer)
    ledger.note = noting_while_the_first_is_released  # type: ignore[method-assign]
    wire.write_batch(write_fd, pickle.dumps([("answer", "second", id(cache), "key", "answer"), ("reached", 1)]))
    parent = prober.Prober(os.getpid(), read_fd, tell_fd, {id(cache): cache}, Redactor([]), None)
    parent.listen(ledger)
    parent.wait_for(0)
    assert cache.peek("key") == "answer"
    os.close(write_fd)
    parent._receiver.join(5)
    os.close(told_fd)


def test_the_prober_stays_within_its_lead_of_the_tests_until_they_end(monkeypatch) -> None:
    """What the prober hands back waits, here and in the tests' process, until the tests read it: it runs no more
    than ``LEAD`` tests ahead of where the tests last said they were."""
    import time

    monkeypatch.setattr(sending, "STRETCH", 1)
    monkeypatch.setattr(sending, "LEAD", 3)
    planned: list[int] = []

    def plan(stretch: range) -> dict[str, list[Job]]:
        planned.append(stretch.start)
        return {}

    def planned_reaches(count: int) -> list[int]:
        deadline = time.monotonic() + 5
        while len(planned) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # and goes no further
        return list(planned)

    read_fd, write_fd = os.pipe()
    progress = sending.Progress()
    probing = sending.Probing(write_fd, plan, 10, {}, Readers(counted=False), Redactor([]), None, 2, progress)
    running = threading.Thread(target=probing.run)
    running.start()
    try:
        assert planned_reaches(3) == [0, 1, 2]
        progress.at(4)
        assert planned_reaches(7) == list(range(7))
        progress.end()  # the tests say nothing more: nothing to wait for
        running.join(5)
        assert not running.is_alive() and planned == list(range(10))
    finally:
        progress.end()
        running.join(5)
        os.close(read_fd)


def test_the_tests_tell_the_prober_where_they_are_every_hundred_tests() -> None:
    read_fd, write_fd = os.pipe()
    told_fd, tell_fd = os.pipe()
    end = receiving.Prober(os.getpid(), read_fd, tell_fd, {}, Redactor([]), None)
    try:
        end._reached = 1_000  # the prober is ahead of them all
        for position in range(350):
            end.wait_for(position)
        os.close(tell_fd)
        end._tell_fd = None
        told = []
        while (batch := wire.read_batch(told_fd)) is not None:
            told += pickle.loads(batch)
        assert told == [("at", 100), ("at", 200), ("at", 300)]
    finally:
        os.close(told_fd)
        os.close(write_fd)
        end._stopping = True
        end._listening.set()
        end._receiver.join(5)
