"""Framework catalogues (RFC 9700, OWASP ASVS 5.0, FAPI 2.0) and the check-to-requirement mapping: the data
hold together, coverage() judges requirements from results, and -m selects a framework's checks."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import socket
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from pytest_authcheck.results import frameworks as fw
from pytest_authcheck._checks import check, shipped_checks

# Importing the suites marks their checks; those markers are registered only when the plugin runs with --authcheck.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

# Checks the lead has announced with final ids; the mapping may name them before their suites land.
PLANNED_CHECKS = frozenset({
    "scopes.omitted-scope-bounded", "code.replay-refused", "refresh.reuse-revokes-family",
    "redirect.params-not-injectable", "lifetimes.refresh-token-absolute", "lifetimes.refresh-token-sliding",
    "introspection.isolation", "revocation.public-client", "errors.rfc6749-format",
})

ID_FORMS = {
    "rfc9700": re.compile(r"RFC9700-[24](\.\d+)*-[a-z]"),
    "asvs": re.compile(r"V(8|9|10|12)\.\d+\.\d+"),
    "fapi2": re.compile(r"FAPI2-5(\.\d+)+-\d+(\.\d+)?"),
}
URL_PREFIXES = {
    "rfc9700": "https://www.rfc-editor.org/rfc/rfc9700.html#section-",
    "asvs": "https://github.com/OWASP/ASVS/blob/master/5.0/en/0x",
    "fapi2": "https://openid.net/specs/fapi-security-profile-2_0-final.html#section-",
}
LEVELS = {"rfc9700": {"MUST", "MUST NOT", "SHOULD", "SHOULD NOT"}, "asvs": {"L1", "L2", "L3"},
          "fapi2": {"MUST", "MUST NOT", "SHOULD", "SHOULD NOT"}}
# Requirements per chapter in ASVS 5.0.0 (V8: 13, V9: 7, V10: 36, V12: 12).
ASVS_CHAPTER_SIZES = {"V8": 13, "V9": 7, "V10": 36, "V12": 12}


def raw(name: str) -> Any:
    return json.loads(resources.files("pytest_authcheck").joinpath(f"data/frameworks/{name}").read_text("utf-8"))


@pytest.fixture(scope="module")
def shipped_ids() -> set[str]:
    return {c.id for c in shipped_checks()}


# ---- the catalogues -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(fw.FRAMEWORK_FILES))
def test_catalogue_records_its_source_and_every_entry_is_complete(key: str) -> None:
    document = raw(fw.FRAMEWORK_FILES[key])
    assert document["framework"] == key and document["marker"] == key
    assert document["source"]["url"].startswith("https://") and document["source"]["published"]
    assert document["source"]["verified_against"] and document["version"] and document["scope"]
    ids = [r["id"] for r in document["requirements"]]
    assert len(ids) == len(set(ids)), "duplicate requirement ids"
    for requirement in document["requirements"]:
        assert ID_FORMS[key].fullmatch(requirement["id"]), requirement["id"]
        assert requirement["url"].startswith(URL_PREFIXES[key]), requirement
        assert requirement["level"] in LEVELS[key], requirement
        assert requirement["title"].strip() and requirement["section"].strip(), requirement


def test_asvs_catalogue_holds_every_requirement_of_its_chapters_in_order() -> None:
    ids = [r.id for r in fw.catalog().frameworks["asvs"].requirements]
    for chapter, size in ASVS_CHAPTER_SIZES.items():
        numbers = [tuple(int(p) for p in i[1:].split(".")) for i in ids if i.split(".")[0] == chapter]
        assert len(numbers) == size, chapter
        sections: dict[int, list[int]] = {}
        for _, section, item in numbers:
            sections.setdefault(section, []).append(item)
        for section, items in sections.items():
            assert items == list(range(1, len(items) + 1)), f"{chapter}.{section}: {items}"


def test_rfc9700_ids_follow_the_document_order_within_each_section() -> None:
    letters: dict[str, list[str]] = {}
    for requirement in fw.catalog().frameworks["rfc9700"].requirements:
        section, letter = requirement.id.removeprefix("RFC9700-").rsplit("-", 1)
        letters.setdefault(section, []).append(letter)
        assert requirement.section == f"§{section}" and f"#section-{section}-" in requirement.url, requirement
    for section, found in letters.items():
        assert found == [chr(ord("a") + i) for i in range(len(found))], section


def test_every_requirement_id_is_unique_across_frameworks() -> None:
    data = fw.catalog()
    assert len(data.requirements) == sum(len(f.requirements) for f in data.frameworks.values())


# ---- the mapping ----------------------------------------------------------------------------------------
def test_every_mapped_check_exists_or_is_planned(shipped_ids: set[str]) -> None:
    unknown = sorted(set(fw.catalog().links) - shipped_ids - PLANNED_CHECKS)
    assert not unknown, f"mapping names checks that neither ship nor are planned: {unknown}"


def test_every_mapped_requirement_is_in_its_catalogue_and_explained() -> None:
    document = raw(fw.MAPPING_FILE)
    known = {r["id"] for name in fw.FRAMEWORK_FILES.values() for r in raw(name)["requirements"]}
    for check_id, entries in document["checks"].items():
        assert entries, check_id
        assert len({e["requirement"] for e in entries}) == len(entries), f"{check_id} maps a requirement twice"
        for entry in entries:
            assert entry["requirement"] in known, (check_id, entry)
            assert entry["coverage"] in fw.COVERAGES, (check_id, entry)
            if entry["coverage"] == "partial" or entry.get("attributable") is False:
                assert entry.get("note"), f"{check_id} -> {entry['requirement']} needs a note saying which part"


def test_requirements_of_and_markers_of() -> None:
    links = fw.requirements_of("api.other-audience")
    assert {link.requirement.id for link in links} >= {"RFC9700-2.3-c", "V9.2.3", "V10.3.1"}
    assert all(link.check == "api.other-audience" for link in links)
    assert fw.markers_of("api.other-audience") == ("rfc9700", "asvs")
    assert fw.markers_of("tls.protocol-version") == ("asvs", "fapi2")
    assert fw.requirements_of("jwks.reachable") == () and fw.markers_of("no.such-check") == ()


def test_a_broken_mapping_is_reported_with_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fw._read

    def broken(name: str) -> Any:
        if name == fw.MAPPING_FILE:
            return {"checks": {"api.other-audience": [{"requirement": "RFC9700-9.9-z"}]}}
        return real(name)

    fw.catalog.cache_clear()
    monkeypatch.setattr(fw, "_read", broken)
    try:
        with pytest.raises(fw.FrameworkDataError, match=r"mapping.json.*RFC9700-9\.9-z"):
            fw.catalog()
    finally:
        monkeypatch.undo()
        fw.catalog.cache_clear()


# ---- markers ----------------------------------------------------------------------------------------------
def suite_functions() -> Iterator[tuple[str, str]]:
    """(test function name, check id) of every shipped check."""
    import pytest_authcheck.suites as suites

    for info in pkgutil.iter_modules(suites.__path__):
        module = importlib.import_module(f"pytest_authcheck.suites.{info.name}")
        for name, value in vars(module).items():
            definition = getattr(value, "__authcheck__", None)
            if definition is not None:
                yield name, definition.id


def test_check_adds_a_marker_per_framework() -> None:
    @check("api.other-audience", title="t", severity="high", area="api", refs=[], remediation="r")
    def probe() -> None:
        pass

    names = {mark.name for mark in probe.pytestmark}  # type: ignore[attr-defined]
    assert {"authcheck", "api", "severity_high", "rfc9700", "asvs"} <= names and "fapi2" not in names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dash_m_selects_a_frameworks_checks(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(
        f'[settings]\ntimeout = "2s"\n\n[providers.dead]\nkind = "oidc"\nissuer = "https://127.0.0.1:{free_port()}"\n')
    checks = dict(suite_functions())
    result = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q",
                                          "--strict-markers", "-m", "fapi2")
    selected = {checks[line.split("::")[1].split("[")[0]] for line in result.stdout.lines if "::" in line}
    assert "tls.protocol-version" in selected and "discovery.issuer-match" in selected, selected
    assert all("fapi2" in fw.markers_of(c) for c in selected), selected
    markers = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--markers").stdout.str()
    assert "@pytest.mark.rfc9700:" in markers and "@pytest.mark.asvs:" in markers and "@pytest.mark.fapi2:" in markers


# ---- coverage() -------------------------------------------------------------------------------------------
def result(check_id: str, status: str, target: str = "t") -> dict[str, Any]:
    return {"check": check_id, "status": status, "target": target}


def rows(report: dict[str, dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report[key]["requirements"]}


def test_coverage_judges_each_requirement_from_its_checks(shipped_ids: set[str]) -> None:
    report = fw.coverage([
        result("api.other-audience", "passed"),
        result("api.altered-signature", "failed", "api-x"),
        result("api.altered-signature", "passed", "api-y"),
        result("grants.undeclared-refused", "failed"),
        result("api.expired-token", "error"),
        result("api.not-yet-valid", "passed"),
        result("tls.protocol-version", "waived"),
        result("redirect-uri.loopback-any-port", "skipped"),
    ], shipped=shipped_ids)
    asvs, rfc, fapi = rows(report, "asvs"), rows(report, "rfc9700"), rows(report, "fapi2")
    assert rfc["RFC9700-2.3-c"]["state"] == "passed" and rfc["RFC9700-2.3-c"]["evidence"] == "full"
    assert asvs["V9.1.1"]["state"] == "failed" and asvs["V9.1.1"]["deciding"] == ["api.altered-signature@api-x"]
    # the failure of a check that also probes other grants does not fail RFC 9700 §2.4; V10.4.4 is its own
    assert asvs["V10.4.4"]["state"] == "failed"
    assert rfc["RFC9700-2.4-a"]["state"] == "not evaluated"
    # one check of V9.2.1 passed, the other could not decide: not a pass
    assert asvs["V9.2.1"]["state"] == "not evaluated"
    assert asvs["V12.1.1"]["state"] == "accepted" and fapi["FAPI2-5.2.1-2"]["state"] == "accepted"
    assert rfc["RFC9700-4.1.3-b"]["state"] == "not run"
    assert fapi["FAPI2-5.3.2.2-3"]["state"] == "not covered"
    summary = report["asvs"]
    assert summary["failed"] == ["V9.1.1", "V10.4.4"] and summary["accepted"] == ["V12.1.1"]
    assert summary["checked"] == len(summary["passed"]) + 3
    assert summary["covered"] + len(summary["not_covered"]) == summary["total"] == 68
    assert all(item["url"].startswith("https://") for item in summary["not_covered"])
    assert sum(summary["counts"].values()) == summary["total"]


def test_partial_evidence_is_marked_partial() -> None:
    report = fw.coverage([result("pkce.plain-refused", "passed")], shipped=["pkce.plain-refused"])
    v1046 = rows(report, "asvs")["V10.4.6"]
    assert v1046["state"] == "passed" and v1046["evidence"] == "partial"
    assert v1046["checks"] == [{"check": "pkce.plain-refused", "coverage": "partial", "attributable": True,
                                "note": "plain is refused"}]


def test_coverage_counts_only_shipped_checks_and_checks_that_reported() -> None:
    nothing = fw.coverage([], shipped=[])
    assert all(f["covered"] == 0 and f["checked"] == 0 for f in nothing.values())
    planned = fw.coverage([result("code.replay-refused", "failed")], shipped=[])
    assert rows(planned, "asvs")["V10.4.2"]["state"] == "failed"
    assert rows(planned, "rfc9700")["RFC9700-4.2.4-a"]["state"] == "not evaluated"
    assert planned["asvs"]["covered"] == 1

