"""A not-applicable result reads, writes and takes the outcome's marks exactly as the plain result dict it replaces."""

from __future__ import annotations

import io
import json

import pytest

from pytest_authcheck._checks import Check
from pytest_authcheck.report.text import write_json
from pytest_authcheck.results.not_applicable import NotApplicable

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
    return NotApplicable(CHECK, nodeid="tokens.py::test_query_refused_at_userinfo[svc-0800]",
                         target="clients.svc-0800", message=REASON)


def test_it_reads_as_the_plain_result_dict() -> None:
    result = compact()
    assert dict(result) == plain() and list(result) == list(plain()) and len(result) == len(plain())
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


@pytest.mark.parametrize("key", ["status", "message", "check", "nodeid", "refs"])
def test_what_makes_it_this_pairs_result_cannot_change(key: str) -> None:
    result = compact()
    with pytest.raises(TypeError, match="fixed"):
        result[key] = "failed"
    assert dict(result) == plain()
