"""Prefetched answers go once every test planned to read them has run, and none is sent twice for it."""

from __future__ import annotations

import json

import pytest

from pytest_authcheck.probes.once import Once
from pytest_authcheck.probes.readers import Readers
from tests.conftest import oidc_policy


class Sender:
    """Counts what each key's compute sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, cache: Once, key: str) -> str:
        return cache.get(key, lambda: self.sent.append(key) or f"answer to {key}")


def test_an_answer_goes_when_the_last_test_planning_it_has_run() -> None:
    cache, send, readers = Once(), Sender(), Readers()
    readers.expect(["a"])  # the first test reads a
    readers.expect(["a", "b"])  # the second a and b
    readers.run("a", lambda: send(cache, "a"))
    readers.run("b", lambda: send(cache, "b"))
    readers.finished(["a"])
    assert send(cache, "a") == "answer to a" and send.sent == ["a", "b"]  # the second test still reads it
    readers.finished(["a", "b"])
    assert readers.forgotten == 2
    send(cache, "a")  # a reader nobody planned sends it again
    assert send.sent == ["a", "b", "a"]


def test_an_answer_two_jobs_read_stays_until_both_have_no_reader_left() -> None:
    cache, send, readers = Once(), Sender(), Readers()
    readers.expect(["control"])
    readers.expect(["variation"])

    def variation() -> None:
        send(cache, "control")  # the variation is judged against the ordinary request's answer
        send(cache, "variation")

    readers.run("control", lambda: send(cache, "control"))
    readers.run("variation", variation)
    readers.finished(["control"])
    assert readers.forgotten == 0
    readers.finished(["variation"])
    assert readers.forgotten == 2 and send.sent == ["control", "variation"]


def test_a_job_whose_readers_have_all_run_is_not_sent() -> None:
    cache, send, readers = Once(), Sender(), Readers()
    readers.expect(["a"])
    send(cache, "a")  # the check asked before the prefetch reached it
    readers.finished(["a"])
    readers.run("a", lambda: send(cache, "a"))
    readers.run("never planned", lambda: send(cache, "b"))
    assert send.sent == ["a"]


PLUGIN = """\
import collections, json
from pytest_authcheck.probes import once

computed = collections.Counter()
original = once.Once.get


def counting(self, key, compute):
    def counted():
        computed[(id(self), key)] += 1
        return compute()
    return original(self, key, counted)


def pytest_configure(config):
    once.Once.get = counting


def pytest_unconfigure(config):
    once.Once.get = original
    session = next(p for p in config.pluginmanager.get_plugins() if type(p).__name__ == "AuthcheckSession")
    readers = session._readers
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    if worker == "main" and config.pluginmanager.has_plugin("dsession"):
        return  # the controller of -n runs no test
    with open(OUT + "." + worker, "w") as out:
        json.dump({"answers": len(computed), "most": max(computed.values(), default=0),
                   "forgotten": readers.forgotten, "left": len(readers._left), "held": len(readers._holders)}, out)
"""


def test_a_run_forgets_the_answers_its_tests_have_read_and_sends_each_once(idp, run_authcheck,
                                                                         pytester: pytest.Pytester) -> None:
    seen = pytester.path / "answers.json"
    pytester.makeconftest(PLUGIN.replace("OUT", repr(str(seen))))
    run = run_authcheck(oidc_policy(idp("good")), clients=True)
    assert run.report["results"]
    counted = json.loads(pytester.path.joinpath("answers.json.main").read_text())
    assert counted["answers"] > 20
    # every answer the prefetch planned went when its last reader had run; none was asked for again after that
    assert counted["most"] == 1
    assert counted["forgotten"] > 10 and counted["left"] == 0 and counted["held"] == 0


def test_a_probe_is_planned_under_the_request_it_sends_whatever_names_it() -> None:
    """A public client's request "by method none" is its declared request: one answer, whose readers are both."""
    from pytest_authcheck._clients import PolicyClient
    from pytest_authcheck._redact import Secret
    from pytest_authcheck.probes.client_auth import declared, other_method, wrong_secret
    from pytest_authcheck.probes.prefetch import Plan
    from pytest_authcheck.probes.token import TokenProbes

    tokens = TokenProbes(None, lambda provider: "https://sso.test/token")  # type: ignore[arg-type]
    app = PolicyClient.from_policy("app", {"provider": "sso", "client_id": "app", "grant_types": ["authorization_code"],
                                           "redirect_uris": ["http://127.0.0.1/cb"]})
    service = PolicyClient.from_policy("svc", {"provider": "sso", "client_id": "svc", "client_secret": Secret("s" * 20),
                                               "grant_types": ["client_credentials"]})
    for client in (app, service):
        plan = Plan(client, tokens, None, dict)  # type: ignore[arg-type]
        assert plan.token(declared).signature != plan.token(wrong_secret).signature
    app_plan, service_plan = Plan(app, tokens, None, dict), Plan(service, tokens, None, dict)  # type: ignore[arg-type]
    assert app_plan.token(other_method, "none").signature == app_plan.token(declared).signature
    assert service_plan.token(other_method, "none").signature != service_plan.token(declared).signature
    assert service_plan.token(declared).signature != app_plan.token(declared).signature


def test_an_xdist_worker_forgets_the_answers_of_the_targets_it_ran(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    seen = pytester.path / "answers.json"
    pytester.makeconftest(PLUGIN.replace("OUT", repr(str(seen))))
    run = run_authcheck(oidc_policy(idp("good")), "-n", "2", "--authcheck-worker-targets", "0", clients=True,
                        subprocess=True)
    assert "created: 2/2 workers" in run.output()
    workers = [json.loads(pytester.path.joinpath(f"answers.json.{w}").read_text()) for w in ("gw0", "gw1")]
    assert all(w["most"] == 1 for w in workers), workers
    # each client's tests ran on one worker, which let its answers go (the other's stay counted, and held, there)
    assert sum(w["forgotten"] for w in workers) > 10, workers


def test_a_test_that_may_read_the_ordinary_authorization_answer_is_one_of_its_readers() -> None:
    """grants.undeclared-refused asks for the ordinary request's answer only when a made-up code's refusal is
    ambiguous: its plan still counts it among that answer's readers, so the answer does not go before it runs, and
    the prober does not take its job for one that made that answer."""
    from pytest_authcheck._clients import PolicyClient
    from pytest_authcheck._redact import Secret
    from pytest_authcheck.probes.prefetch import PLANS, Plan
    from pytest_authcheck.probes.token import TokenProbes

    tokens = TokenProbes(None, lambda provider: "https://sso.test/token")  # type: ignore[arg-type]
    service = PolicyClient.from_policy("svc", {"provider": "sso", "client_id": "svc", "client_secret": Secret("s" * 20),
                                               "grant_types": ["client_credentials"]})
    plan = Plan(service, tokens, None, dict)  # type: ignore[arg-type]
    second_opinion = [job for job in PLANS["grants.undeclared-refused"](plan)
                      if job.signature == plan.control().signature]
    assert second_opinion
    # it may leave the ordinary request unsent: having run, it does not settle the signature for the prober, whose
    # control job planned later under it must still run
    assert not any(job.settles for job in second_opinion)


def test_a_job_whose_last_reader_runs_meanwhile_sends_nothing_more() -> None:
    """A prefetch job still going when the last test planning it has run (the check made its answers itself) stops
    before it would make an answer, rather than sending again what may just have been let go."""
    cache, send, readers = Once(), Sender(), Readers()
    readers.expect(["scopes"])

    def variations() -> None:
        send(cache, "+admin")
        readers.finished(["scopes"])  # the test ran while the job did
        send(cache, "+billing")

    readers.run("scopes", variations)
    assert send.sent == ["+admin"]
    send(cache, "+billing")  # the check itself (or anyone not in a job) still gets its answer
    assert send.sent == ["+admin", "+billing"]
