"""The compact results the run keeps (not applicable, stored) read, write and take the outcome's marks exactly as the
plain result dicts they replace."""

from __future__ import annotations

import io
import json

import pytest

from pytest_authcheck._checks import Check
from pytest_authcheck.report.text import write_json
from pytest_authcheck.results.not_applicable import NotApplicable, from_shared_form, shared_form
from pytest_authcheck.results.stored import ResultStore, StoredResult, exchange_ids

CHECK = Check(id="tokens.query-refused", title="Bearer tokens in the URL query are refused", severity="medium",
              area="tokens", refs=("RFC 6750 §2.3", "RFC 9700 §4.3.2"), remediation="Refuse access_token in queries.")
REASON = "clients.svc-0800 does not log users in with the openid scope"


def plain() -> dict[str, object]:
    # the dict every writer read before: the same members in the same order
    return {"nodeid": "tokens.py::test_query_refused_at_userinfo[svc-0800]", "check": CHECK.id, "title": CHECK.title,
            "severity": CHECK.severity, "area": CHECK.area, "level": CHECK.level, "refs": list(CHECK.refs),
            "remediation": CHECK.remediation, "target": "clients.svc-0800", "status": "skipped", "message": REASON,
            "duration": 0.0}


def compact() -> NotApplicable:
    return NotApplicable(CHECK, test="tokens.py::test_query_refused_at_userinfo", param="svc-0800",
                         target="clients.svc-0800", message=REASON)


def test_it_reads_as_the_plain_result_dict() -> None:
    result = compact()
    assert dict(result) == plain() and list(result) == list(plain()) and len(result) == len(plain())
    assert list(result.items()) == list(plain().items()) and list(result.to_dict().items()) == list(plain().items())
    assert result.get("message") == REASON and result.get("blocking", "unset") == "unset"
    assert result == plain()
    assert result["refs"] == ["RFC 6750 §2.3", "RFC 9700 §4.3.2"] and result.get("cause") is None
    assert "message" in result and "blocking" not in result and "cause" not in result
    with pytest.raises(KeyError):
        result["cause"]


def test_the_outcome_marks_it_like_any_result_and_the_reports_write_them() -> None:
    result, expected = compact(), plain()
    for key, value in (("blocking", False), ("cause", "c3"), ("baseline", "new")):
        result[key] = expected[key] = value
    assert list(result.items()) == list(expected.items())
    del result["cause"], expected["cause"]
    assert dict(result) == expected
    written = io.StringIO()
    write_json(written, {"results": [result]})
    assert json.loads(written.getvalue()) == {"results": [expected]}
    assert json.dumps(result.to_dict()) == json.dumps(expected)


def test_the_reason_of_many_targets_is_kept_once_and_reads_whole_for_each() -> None:
    pairs = [NotApplicable(CHECK, test="tokens.py::test_query_refused_at_userinfo", param=f"svc-{n:04d}",
                           target=f"clients.svc-{n:04d}", message=f"clients.svc-{n:04d} does not log users in with the "
                                                                  "openid scope")
             for n in range(3)]
    assert [p["message"] for p in pairs] == [f"clients.svc-{n:04d} does not log users in with the openid scope"
                                            for n in range(3)]
    assert pairs[0]._reason is pairs[2]._reason
    # the node id's parts are kept once too: the test function's for all its pairs, a target's for all its checks
    assert [p["nodeid"] for p in pairs] == [f"tokens.py::test_query_refused_at_userinfo[svc-{n:04d}]" for n in range(3)]
    other = NotApplicable(CHECK, test="tokens.py::test_other", param="svc-0001", target="clients.svc-0001", message="")
    assert pairs[0]._test is pairs[2]._test and other._param is pairs[1]._param
    # a target named twice, one named nowhere, no target, a target that is its own reason: each reads back whole
    for target, message in (("a", "a and a, again a"), ("clients.x", "the provider is down"), (None, "no api"),
                            ("t", "t"), ("clients.x", "")):
        assert NotApplicable(CHECK, test="t.py::n", param="p", target=target, message=message)["message"] == message


def test_pairs_sort_as_their_node_ids_do() -> None:
    made = [NotApplicable(CHECK, test=test, param=param, target=None, message="")
            for test in ("a.py::test_x", "a.py::test_x2", "a.py::test_xa", "b.py::test_x")
            for param in ("app-1", "app-10", "app-1-b", "App-2")]
    assert [p.nodeid for p in sorted(made, key=NotApplicable.order)] == sorted(p.nodeid for p in made)


@pytest.mark.parametrize("key", ["status", "message", "check", "nodeid", "refs"])
def test_what_makes_it_this_pairs_result_cannot_change(key: str) -> None:
    result = compact()
    with pytest.raises(TypeError, match="fixed"):
        result[key] = "failed"
    assert dict(result) == plain()


def executed(n: int) -> dict[str, object]:
    return {"nodeid": f"grants.py::test_undeclared_grants_refused[svc-{n:04d}]", "check": "grants.undeclared-refused",
            "title": "Grant types the policy does not declare are refused", "severity": "high", "area": "clients",
            "level": "MUST", "refs": ["RFC 6749 §5.2"], "remediation": "Restrict the grant types.",
            "target": f"clients.svc-{n:04d}", "status": "passed", "message": None, "duration": 0.0123,
            "expected": {"password": "refused", "refresh_token": "refused"},
            "observed": {"password": "refused", "refresh_token": "refused"},
            "evidence": {"exchanges": [f"x{n}", f"x{n + 1}"], "facts": {"an unknown grant type gets": "HTTP 400"}}}


def test_a_stored_result_reads_and_writes_as_the_dict_it_was_made_from() -> None:
    store = ResultStore()
    originals = [executed(n) for n in range(3000)]  # more than one compressed batch
    kept = [store.keep(dict(r)) for r in originals]
    assert all(isinstance(r, StoredResult) for r in kept)
    # the names of their own values are kept once for all of them, the values in a tuple each
    assert len({id(r._layout) for r in kept}) == 1 and all(type(r._values) is tuple for r in kept)
    # the JSON report asks every result which exchanges it names before writing any: no detail is read for it
    assert [exchange_ids(r) for r in kept[:3]] == [("x0", "x1"), ("x1", "x2"), ("x2", "x3")]
    assert store._last is None
    for order in (range(3000), range(2999, -1, -1)):
        for n in order:
            assert list(kept[n]) == list(originals[n]) and dict(kept[n]) == originals[n]
            assert kept[n]["evidence"]["exchanges"] == [f"x{n}", f"x{n + 1}"] and "observed" in kept[n]
    written = io.StringIO()
    write_json(written, {"results": kept[:600]})
    assert json.loads(written.getvalue()) == {"results": originals[:600]}


def test_a_stored_result_takes_the_outcomes_marks_in_order_and_keeps_what_has_no_details() -> None:
    store = ResultStore()
    result, expected = store.keep(executed(7)), executed(7)
    for name, value in (("blocking", True), ("cause", "c1"), ("observed", {"password": "accepted"})):
        result[name] = expected[name] = value
    assert list(result.items()) == list(expected.items()) and len(result) == len(expected)
    del result["cause"], expected["cause"]
    assert exchange_ids(result) == ("x7", "x8")
    del result["evidence"], expected["evidence"]
    assert dict(result) == expected and "evidence" not in result and exchange_ids(result) == ()
    result["evidence"] = {"exchanges": ["x9"]}
    assert exchange_ids(result) == ("x9",)
    del result["evidence"]
    with pytest.raises(KeyError):
        result["evidence"]
    bare = {"nodeid": "a.py::test_b", "check": "custom.b", "status": "skipped", "message": "no target"}
    kept = store.keep(dict(bare))
    assert dict(kept) == bare and exchange_ids(kept) == () and store.keep(kept) is kept
    # a detail set over the stored one, then deleted, is gone (not the stored one back); set again, it comes last
    again, expected = store.keep(executed(8)), executed(8)
    again["observed"] = "replaced"
    del again["observed"], expected["observed"]
    assert dict(again) == expected and "observed" not in again
    again["status"] = expected["status"] = "failed"
    del again["nodeid"], expected["nodeid"]
    again["nodeid"] = expected["nodeid"] = "moved"
    assert list(again.items()) == list(expected.items())


def test_xdist_workers_hand_the_controller_pairs_it_keeps_as_compact_as_a_serial_run() -> None:
    other = Check(id="grants.undeclared-refused", title="Undeclared grants are refused", severity="high",
                  area="clients", refs=("RFC 6749 §5.2",), remediation="Restrict the grant types.", level="SHOULD")
    pairs = [NotApplicable(CHECK, test="tokens.py::test_query_refused_at_userinfo", param=f"svc-{n:04d}",
                           target=f"clients.svc-{n:04d}", message=REASON) for n in range(3)]
    pairs.append(NotApplicable(other, test="grants.py::test_undeclared_grants_refused", param="app-0001",
                               target="clients.app-0001", message="no"))
    shared = json.loads(json.dumps(shared_form(pairs)))  # through the run's shared folder
    # each check's members once, five strings a pair
    assert len(shared["checks"]) == 2 and all(len(row) == 5 for row in shared["pairs"])
    kept = from_shared_form(shared)
    assert all(isinstance(result, NotApplicable) for result in kept)
    assert [dict(result) for result in kept] == [dict(p) for p in pairs]
    assert len({id(result._check) for result in kept}) == 2
    assert from_shared_form(None) == [] and from_shared_form({"results": []}) == []
