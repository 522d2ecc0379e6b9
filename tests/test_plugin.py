"""Plugin behaviour: inert without --authcheck, policy errors, collection, selection, reports, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import oidc_policy
from tests import html_report
from tests.html_report import readable
from tests.idp.world import DEPLOYER_SECRET

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "pytest_authcheck/schemas/report.schema.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNREACHABLE_POLICY = """\
[settings]
timeout = "2s"

[providers.dead]
kind = "oidc"
issuer = "https://127.0.0.1:{port}"
"""


# ---- inert without --authcheck ------------------------------------------------------------------------
def test_without_the_option_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ordinary="""
        def test_one():
            assert 1 + 1 == 2
    """)
    pytester.path.joinpath("authcheck.toml").write_text("this is not toml [[[")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)
    out = result.stdout.str().replace("authcheck-0.1.0", "")  # the plugin list names every installed plugin
    assert "authcheck" not in out
    assert not (pytester.path / "reports").exists()
    fixtures = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--fixtures")
    assert "oidc_metadata" not in fixtures.stdout.str()
    assert "authcheck_record" not in fixtures.stdout.str()
    markers = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--markers")
    assert "severity_high" not in markers.stdout.str()


def test_with_the_option_the_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(UNREACHABLE_POLICY.format(port=free_port()))
    result = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--fixtures")
    out = result.stdout.str()
    for name in ("authcheck_policy", "authcheck_http", "authcheck_record", "oidc_provider", "oidc_metadata",
                 "oidc_jwks", "oidc_tls", "authcheck_token"):
        assert name in out, name


# ---- policy errors stop the run with one clear line (tests/test_policy_errors.py has the full corpus) --------
SSO = '[providers.sso]\nkind = "oidc"\nissuer = "https://x"\n'


@pytest.mark.parametrize(("policy", "expected"), [
    ('[providers.sso]\nkind = "oidc"\nisuer = "https://x"\n',
     "authcheck.toml:3: providers.sso.isuer: unknown key (did you mean 'issuer'?)"),
    ('[settings]\ncert_min_days = "21"\n' + SSO, "authcheck.toml:2: settings.cert_min_days: expected integer, got string"),
    ('[settings]\ntimeout = "ten seconds"\n' + SSO, "authcheck.toml:2: settings.timeout: 'ten seconds' is not a duration"),
    ('[providers.sso]\nkind = "oidc"\nissuer = "https://x"\n\n[clients.d]\nprovider = "sso"\nclient_id = "d"\n'
     'client_secret = "${AUTHCHECK_TEST_UNSET_VARIABLE}"\n',
     "authcheck.toml:8: clients.d.client_secret: environment variable AUTHCHECK_TEST_UNSET_VARIABLE is not set"),
    ('[providers.sso]\nkind = "oidc"\nissuer = "https://x"\n\n[clients.d]\nprovider = "ssso"\nclient_id = "d"\n',
     "authcheck.toml:6: clients.d.provider: no provider named 'ssso' (did you mean 'sso'?)"),
    ('[providers.sso]\nkind = "oidc"\nissuer = \n', "authcheck.toml:3: not valid TOML"),
    ('[providers.sso]\nkind = "saml"\n', "authcheck.toml:2: providers.sso.kind: 'saml' is not one of 'oidc', 'jamf'"),
])
def test_policy_errors_name_file_line_and_key(pytester: pytest.Pytester, policy: str, expected: str) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(policy)
    result = pytester.runpytest_subprocess("--authcheck", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert expected in err, err
    assert "Traceback" not in err + result.stdout.str()
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err
    assert not (pytester.path / "reports").exists()


def test_no_policy_found(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--authcheck", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no policy found: looked for authcheck.toml and [tool.authcheck] in pyproject.toml" in result.stderr.str()


def test_policy_in_pyproject_reports_lines_of_pyproject(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.authcheck.providers.sso]\nkind = "oidc"\nissuer = 42\n')
    result = pytester.runpytest_subprocess("--authcheck", "-p", "no:cacheprovider")
    assert "pyproject.toml:6: providers.sso.issuer: expected string, got integer" in result.stderr.str()


# ---- an unreachable issuer fails its checks once, fast, with the cause --------------------------------
def test_unreachable_issuer_errors_fast_with_the_cause(run_authcheck) -> None:
    port = free_port()
    run = run_authcheck(UNREACHABLE_POLICY.format(port=port))
    elapsed = run.report["run"]["duration_seconds"]
    assert run.result.ret == 1
    # The offline checks of the policy file itself still reach a verdict; everything that needs the IdP errs.
    provider_results = [r for r in run.report["results"] if not r["check"].startswith("credentials.")]
    statuses = {r["status"] for r in provider_results}
    assert statuses <= {"error", "skipped"}, run.not_passed()
    policy = {r["check"]: r for r in run.report["results"] if r["check"].startswith("credentials.policy-")}
    assert policy["credentials.policy-no-credentials"]["status"] == "passed"
    # the policy writes no secret field: nothing to judge there, so not applicable rather than a pass
    assert policy["credentials.policy-secret-refs"]["status"] == "skipped"
    assert "writes no secret field" in policy["credentials.policy-secret-refs"]["message"]
    errors = [r for r in provider_results if r["status"] == "error"]
    assert len(errors) >= 20
    assert all(f"127.0.0.1:{port}" in r["message"] and "could not evaluate" in r["message"] for r in errors)
    # One connection attempt (with its bounded retries) for the whole run, not one per check.
    attempts = [x for x in run.report["exchanges"].values() if x.get("error")]
    assert sum(1 for x in attempts if not x["error"].startswith("not sent")) == 1, attempts
    assert elapsed < 10, elapsed
    assert "INTERNALERROR" not in run.output()
    # The cause is shown once per check, without a traceback through the HTTP stack.
    assert "Traceback" not in run.output() and "_http.py" not in run.output()
    # ...and counted once: every error rolls up under the one connection failure, which the gate counts once.
    cause = f"connect@https://127.0.0.1:{port}"
    assert {r["cause"] for r in errors} == {cause}
    (rolled,) = [c for c in run.report["causes"] if c["id"] == cause]
    assert rolled["count"] == len(errors) and rolled["kind"] == "transport"
    assert f"{len(errors)} checks could not be evaluated because cannot connect to https://127.0.0.1:{port}: " in run.output()


def test_a_report_path_of_ones_own_gets_the_findings_and_the_manifest(run_authcheck, tmp_path: Path) -> None:
    # pytest-html expands variables and ~ in --html: the findings' data and the manifest go to the page it wrote
    run = run_authcheck(UNREACHABLE_POLICY.format(port=free_port()), "--html=$AC_OWN_REPORTS/mine.html",
                        env={"AC_OWN_REPORTS": str(tmp_path)})
    page = tmp_path / "mine.html"
    document = html_report.findings(page)
    assert len(document["results"]) == len(run.report["results"]) + len(run.not_applicable) > 20
    assert "authcheck findings data" not in page.read_text(encoding="utf-8")
    sums = dict(line.split("  ", 1)[::-1] for line in (run.reports_dir / "authcheck.sha256").read_text().splitlines())
    assert sums[os.path.relpath(page, run.reports_dir)] == hashlib.sha256(page.read_bytes()).hexdigest()


# ---- collection: a repo with only a policy; xdist; selection -----------------------------------------
def test_only_a_policy_collects_the_shipped_suites(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(UNREACHABLE_POLICY.format(port=free_port()))
    result = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q")
    out = result.stdout.str()
    for module in ("discovery.py", "jwks.py", "tls.py", "clock.py"):
        assert f"{module}::" in out, out
    assert "test_issuer_matches[dead]" in out


def test_collect_only_leaves_the_last_runs_reports_as_they_were(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(UNREACHABLE_POLICY.format(port=free_port()))
    reports = pytester.path / "reports"
    reports.mkdir()
    last = {name: f"the last run's {name}" for name in ("authcheck.json", "authcheck.html", "authcheck.sarif")}
    for name, text in last.items():
        (reports / name).write_text(text)
    result = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q")
    assert "test_issuer_matches[dead]" in result.stdout.str()
    result.stdout.fnmatch_lines(["--collect-only: no check ran and no report was written *"])
    assert {p.name: p.read_text() for p in reports.iterdir()} == last


def test_repo_unit_tests_are_not_collected_unless_named(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(UNREACHABLE_POLICY.format(port=free_port()))
    pytester.makepyfile(test_unit="def test_unit():\n    pass\n")
    out = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q").stdout.str()
    assert "test_unit" not in out
    named = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q", "test_unit.py")
    assert "test_unit.py::test_unit" in named.stdout.str()
    assert "discovery.py::" in named.stdout.str()


def test_selection_by_area_severity_and_check_id(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("authcheck.toml").write_text(UNREACHABLE_POLICY.format(port=free_port()))
    by_area = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q", "-m", "tls")
    lines = [line for line in by_area.stdout.lines if "::" in line]
    assert lines and all(line.startswith("tls.py::") or "/tls.py::" in line for line in lines), lines
    by_id = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q",
                                         "-k", "discovery.issuer-match")
    assert [line for line in by_id.stdout.lines if "::" in line] and all(
        "test_issuer_matches" in line for line in by_id.stdout.lines if "::" in line)
    critical = pytester.runpytest_inprocess("--authcheck", "-p", "no:cacheprovider", "--collect-only", "-q",
                                            "-m", "severity_critical", "--strict-markers")
    names = {line.split("::")[1].split("[")[0] for line in critical.stdout.lines if "::" in line}
    assert names == {"test_issuer_matches", "test_no_private_material", "test_chain_trusted", "test_hostname_matches",
                     "test_client_wrong_secret_refused", "test_none_forbidden",
                     "test_wrong_secret_refused", "test_unregistered_refused",
                     "test_alg_none", "test_altered_signature", "test_key_confusion", "test_other_issuer"}


def test_xdist_gives_the_same_results(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    import json as json_module

    kept = pytester.path / "kept.json"
    pytester.makeconftest(
        "import json\n"
        "from pytest_authcheck._fixtures import run_key\n\n"
        "def pytest_terminal_summary(terminalreporter, config):\n"
        "    run = config.stash[run_key]\n"
        "    if not hasattr(config, 'workerinput'):\n"
        f"        open({str(kept)!r}, 'w').write(json.dumps(sorted(type(v).__name__ for v in run.not_applicable)))\n"
        "    else:\n"
        "        kept = [r for reps in terminalreporter.stats.values() for r in reps if hasattr(r, 'when')]\n"
        "        sent = [r for r in kept if hasattr(r, 'authcheck') or hasattr(r, 'authcheck_exchanges')]\n"
        f"        open({str(kept)!r} + '.' + config.workerinput['workerid'], 'w').write(json.dumps([len(kept), len(sent)]))\n")
    policy = oidc_policy(idp("skewed-clock"))
    serial = run_authcheck(policy, subprocess=True)
    parallel = run_authcheck(policy, "-n", "2", "--authcheck-worker-targets", "0", subprocess=True)
    assert parallel.result.ret == serial.result.ret == 1

    def outcome(run):
        return sorted((r["nodeid"], r["status"]) for r in run.report["results"])

    assert outcome(parallel) == outcome(serial)
    assert {c for c, s in parallel.not_passed().items()} == {"clock.date-header", "clock.token-iat"}
    assert len({r["nodeid"] for r in parallel.report["results"]}) == len(parallel.report["results"])
    # Workers report under the controller's run id and their exchanges reach the controller's report.
    for result in parallel.report["results"]:
        for exchange in result.get("evidence", {}).get("exchanges", []):
            assert exchange in parallel.report["exchanges"]
    # Each provider document is fetched once per run, whichever worker needed it first.
    urls = [x["url"] for x in parallel.report["exchanges"].values() if x["method"] == "GET"]
    assert urls and len(urls) == len(set(urls)), urls
    assert "created: 2/2 workers" in parallel.output()  # xdist started its workers
    assert "probe process" not in parallel.output()  # the workers send the probes: nothing to say about it
    # a worker's terminal reporter lets each report go once sent to the controller, which counts and lists them all
    for worker in ("gw0", "gw1"):
        assert json_module.loads((pytester.path / f"kept.json.{worker}").read_text()) == [0, 0], worker
    counts = parallel.result.parseoutcomes()
    assert counts["passed"] == sum(r["status"] == "passed" for r in parallel.report["results"] if r["nodeid"]) > 10
    # Without --authcheck-worker-targets 0 a policy this small runs in one process: starting two workers would cost
    # more than they save. The header says so; the results are the same.
    small = run_authcheck(policy, "-n", "2", subprocess=True)
    assert small.result.ret == 1 and outcome(small) == outcome(serial)
    assert "target(s), fewer than 100 per worker for -n 2: run in this process" in small.output()
    assert "created:" not in small.output() and "bringing up nodes" not in small.output()
    # the controller keeps the pairs no test ran for (a public client and a secret check) as compactly as a serial run
    few = run_authcheck(policy, "-n", "2", "--authcheck-worker-targets", "0", "-k", "secret_accepted", clients=True,
                        subprocess=True)
    assert "created: 2/2 workers" in few.output()
    assert json_module.loads(kept.read_text()) == ["NotApplicable"]
    assert [(r["target"], r["status"]) for r in few.report["results"] if r["check"] == "client-auth.secret-accepted"] \
        == [("clients.deployer", "passed"), ("clients.cli", "skipped")]


# ---- reports -------------------------------------------------------------------------------------------
def test_json_report_is_valid_and_names_the_policy(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    run = run_authcheck(oidc_policy(idp("good")))
    jsonschema.Draft202012Validator(SCHEMA).validate(run.report)
    policy_bytes = (pytester.path / "authcheck.toml").read_bytes()
    assert run.report["policy"]["sha256"] == hashlib.sha256(policy_bytes).hexdigest()
    assert run.report["summary"]["verdict"] == "passed"
    assert run.report["targets"] == [{"id": "providers.sso", "kind": "oidc", "address": idp("good").served_issuer}]
    assert (run.reports_dir / "authcheck.html").is_file()
    assert f"sha256:{run.report['policy']['sha256']}" in run.output()
    assert "warnings summary" not in run.output()  # e.g. pytest 9.2's about a session fixture bound to an instance
    for check in run.report["checks"].values():
        assert check["refs"] and check["remediation"] and check["title"]


def test_without_pytest_html_the_json_report_is_still_written(idp, run_authcheck) -> None:
    run = run_authcheck(oidc_policy(idp("good")), "-p", "no:html")
    assert run.report["summary"]["total"] > 20
    assert not (run.reports_dir / "authcheck.html").exists()


def test_a_teams_own_checks_land_in_the_same_report(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    own = pytester.path / "authchecks"
    own.mkdir()
    own.joinpath("test_ours.py").write_text(
        "from pytest_authcheck import check\n\n"
        "@check('acme.userinfo', title='userinfo advertised', severity='low', area='custom', refs=['OIDC Discovery 1.0 §3'],\n"
        "       remediation='Enable userinfo.')\n"
        "def test_userinfo(oidc_provider, oidc_metadata, authcheck_record):\n"
        "    if 'nonexistent_endpoint' not in oidc_metadata:\n"
        "        authcheck_record.fail('no nonexistent_endpoint', expected='present', observed=None)\n\n"
        "def test_deployer_token_short(authcheck_token):\n"
        "    '''The deployer's tokens live at most an hour.'''\n"
        "    assert authcheck_token('deployer').expires_in <= 3600\n")
    run = run_authcheck(oidc_policy(idp("good"), settings='checks = ["authchecks"]'))
    results = run.by_check()
    assert results["acme.userinfo"]["status"] == "failed"
    assert results["acme.userinfo"]["target"] == "providers.sso"
    assert results["acme.userinfo"]["message"] == "no nonexistent_endpoint"
    assert results["custom.test_deployer_token_short"]["status"] == "passed"
    assert run.report["checks"]["custom.test_deployer_token_short"]["title"] == "The deployer's tokens live at most an hour."


def test_the_collector_runs_less_often_from_collection_to_the_reports_and_as_before_after_it(idp, run_authcheck,
                                                                           pytester: pytest.Pytester) -> None:
    import ast
    import gc

    from pytest_authcheck._gc import AUDIT_THRESHOLDS

    own = pytester.path / "authchecks"
    own.mkdir()
    seen = pytester.path / "thresholds.txt"
    at_collection = pytester.path / "thresholds-at-collection.txt"
    own.joinpath("test_gc.py").write_text(
        "import gc\n\n"
        f"open({str(at_collection)!r}, 'w').write(repr(gc.get_threshold()))\n\n"
        "def test_thresholds():\n"
        f"    open({str(seen)!r}, 'w').write(repr(gc.get_threshold()))\n")
    before = gc.get_threshold()
    run = run_authcheck(oidc_policy(idp("good"), settings='checks = ["authchecks"]'), "-k", "test_thresholds")
    assert run.by_check()["custom.test_thresholds"]["status"] == "passed"
    quiet = tuple(max(a, b) for a, b in zip(AUDIT_THRESHOLDS, before, strict=True))
    assert ast.literal_eval(at_collection.read_text()) == quiet
    assert ast.literal_eval(seen.read_text()) == quiet
    assert gc.get_threshold() == before


def test_no_plugin_keeps_a_report_it_has_read_for_the_last_time_and_counts_stay_right(idp, run_authcheck,
                                                                                      pytester: pytest.Pytester) -> None:
    import json as json_module

    seen = pytester.path / "stats.json"
    pytester.makeconftest(
        "import json\n\n"
        "def pytest_terminal_summary(terminalreporter, config):\n"
        "    counts = {k: len(v) for k, v in terminalreporter.stats.items()}\n"
        "    html = [p for p in config.pluginmanager.get_plugins() if type(p).__module__.startswith('pytest_html.')\n"
        "            and hasattr(p, '_reports')]\n"
        "    counts['html kept'] = sum(len(p._reports) for p in html)\n"
        "    counts['html plugins'] = len(html)\n"
        "    from pytest_authcheck._kept_reports import _keywords_key\n"
        "    counts['items keeping keywords'] = sum(_keywords_key in i.stash for i in terminalreporter._session.items)\n"
        "    passed = terminalreporter.stats.get('passed', [])\n"
        "    counts['passed keeping keywords'] = sum(bool(r.keywords) for r in passed)\n"
        "    counts['passed keeping extras'] = sum(hasattr(r, 'extras') for r in passed)\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps(counts))\n")
    run = run_authcheck(oidc_policy(idp("good")), "-k", "discovery or jwks", "-rA")
    counted = json_module.loads(seen.read_text())
    statuses = [r["status"] for r in run.report["results"] if r["nodeid"]]
    assert statuses.count("passed") > 5
    # the unshown status is still there (pytest recolours when a status first appears), with nothing under it
    assert counted[""] == 0
    # pytest-html (authcheck.html's engine) made its rows and let the reports go
    assert counted["html plugins"] == 1 and counted["html kept"] == 0
    # the copy of the keywords a test's reports share goes with its last report
    assert counted["items keeping keywords"] == 0
    # a passing test's call report is kept to be counted and listed, without what only its readers at the time used
    assert counted["passed keeping keywords"] == 0 and counted["passed keeping extras"] == 0
    listed = [line for line in run.result.stdout.lines if line.startswith("PASSED ")]
    assert len(listed) == statuses.count("passed") and all("::test_" in line for line in listed)
    assert (run.reports_dir / "authcheck.html").stat().st_size > 10_000
    assert counted["passed"] == statuses.count("passed")
    run.result.assert_outcomes(passed=statuses.count("passed"), skipped=statuses.count("skipped"),
                               failed=statuses.count("failed"), errors=statuses.count("error"))


def test_passing_tests_are_only_counted_unless_a_summary_lists_them(idp, run_authcheck,
                                                                    pytester: pytest.Pytester) -> None:
    import json as json_module

    seen = pytester.path / "passed.json"
    pytester.makeconftest(
        "import json, sys\n\n"
        "most = [0]\n\n"
        "class Wider:  # a plugin, not a conftest hook: the shipped suites lie outside this folder\n"
        "    def pytest_runtest_setup(self, item):\n"
        "        # what the tests before this one left on the session's fixtures\n"
        "        wider = [d for ds in item._fixtureinfo.name2fixturedefs.values() for d in ds if d.scope != 'function']\n"
        "        most[0] = max([most[0], *(len(d._finalizers) for d in wider)])\n\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(Wider())\n\n"
        "def pytest_terminal_summary(terminalreporter, config):\n"
        "    passed = terminalreporter.stats.get('passed', [])\n"
        "    from _pytest.skipping import xfailed_key\n"
        "    from _pytest.tmpdir import tmppath_result_key\n"
        "    items = terminalreporter._session.items\n"
        f"    open({str(seen)!r}, 'a').write(json.dumps({{'passed': len(passed),\n"
        "        'distinct': len({id(r) for r in passed}), 'with duration': sum(hasattr(r, 'duration') for r in passed),\n"
        "        'notes': sum(xfailed_key in i.stash or tmppath_result_key in i.stash for i in items),\n"
        "        'tables kept': sum(sys.getsizeof(i.stash._storage) > sys.getsizeof({}) for i in items),\n"
        "        'parameters kept': sum(hasattr(i, 'callspec') or bool(i.user_properties) or bool(i.extra_keyword_matches)\n"
        "                               or bool(i.keywords) or bool(i.own_markers) or 'location' in i.__dict__\n"
        "                               for i in items),\n"
        "        'added to': sum(isinstance(i.user_properties, list) or isinstance(i.own_markers, list) for i in items),\n"
        "        'items': len(items), 'left on session fixtures': most[0],\n"
        "        'with extras': sum(hasattr(r, 'extras') for rs in terminalreporter.stats.values() for r in rs),\n"
        "        'skipped': len(terminalreporter.stats.get('skipped', [])),\n"
        "        'subtest counts': len(config.stash[__import__('_pytest.subtests').subtests.failed_subtests_key])})\n"
        "        + '\\n')\n")
    policy = oidc_policy(idp("good"))
    counted_only = run_authcheck(policy, "-k", "discovery or jwks")
    durations = run_authcheck(policy, "-k", "discovery or jwks", "--durations=3")
    first, second = (json_module.loads(line) for line in seen.read_text().splitlines())
    passed = [r["status"] for r in counted_only.report["results"] if r["nodeid"]].count("passed")
    assert passed > 5
    # one shared stand-in per passing test: the count (and the summary line) stay right
    assert first["passed"] == passed and first["distinct"] == 1 and first["with duration"] == 0
    counted_only.result.assert_outcomes(passed=passed, skipped=counted_only.result.parseoutcomes().get("skipped", 0))
    # pytest's notes read while a test runs are gone with its last report
    assert first["items"] > 5 and first["notes"] == 0
    # and the item's stash, empty now, keeps no table for what it held
    assert first["tables kept"] == 0
    # nor its parameters (the report's results still name each check's target)
    assert first["parameters kept"] == 0 and first["added to"] == 0
    # nor what its fixtures left on the session's (pytest would keep an entry per fixture and test to the end)
    assert first["items"] > 10 and first["left on session fixtures"] <= 3, first
    # nor the extras pytest-html made its row from, nor pytest's count of its failed subtests (none)
    assert first["skipped"] > 0 and first["with extras"] == 0 and first["subtest counts"] == 0, first
    assert {r["target"] for r in counted_only.report["results"] if r["status"] == "passed"} == {"providers.sso"}
    # --durations reads every passing test's report: they are kept, and listed
    assert second["passed"] == passed and second["distinct"] == passed and second["with duration"] == passed
    assert any("slowest 3 durations" in line for line in durations.result.stdout.lines)


# ---- secrets never leak --------------------------------------------------------------------------------
LEAKY_CHECK = """\
import logging
from pytest_authcheck import check

log = logging.getLogger("acme")

def test_leaks_everywhere(authcheck_policy, authcheck_token, authcheck_http):
    secret = authcheck_policy.data["clients"]["deployer"]["client_secret"].reveal()
    token = authcheck_token("deployer").access_token.reveal()
    print("printing", secret, token)
    log.warning("logging %s and %s", secret, token)
    revealed = {"secret": secret, "token": token}
    assert secret == token, revealed

def test_crashes_with_secret_in_locals(authcheck_policy):
    secret = authcheck_policy.data["clients"]["deployer"]["client_secret"].reveal()
    raise RuntimeError("boom " + secret)
"""


def test_canary_secret_never_appears_in_any_output(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    own = pytester.path / "authchecks"
    own.mkdir()
    own.joinpath("test_leaky.py").write_text(LEAKY_CHECK)
    policy = oidc_policy(idp("skewed-clock"), settings='checks = ["authchecks"]')
    run = run_authcheck(policy, "-vv", "--showlocals", "--tb=long", "-rA", "--junitxml=junit.xml",
                        "--log-cli-level=DEBUG", "-o", "log_cli=true", subprocess=True)
    assert run.result.ret == 1
    assert run.by_check()["custom.test_leaks_everywhere"]["status"] == "failed"
    assert run.by_check()["custom.test_crashes_with_secret_in_locals"]["status"] == "error"
    import base64
    import urllib.parse
    canaries = {DEPLOYER_SECRET, urllib.parse.quote(DEPLOYER_SECRET, safe=""),
                base64.b64encode(f"ci-deployer:{DEPLOYER_SECRET}".encode()).decode()}
    artifacts = {
        "terminal": run.output(),
        "json": (run.reports_dir / "authcheck.json").read_text(),
        "html": readable(run.reports_dir / "authcheck.html"),
        "junit": (pytester.path / "junit.xml").read_text(),
    }
    assert "[REDACTED]" in artifacts["terminal"]
    for name, text in artifacts.items():
        for canary in canaries:
            assert canary not in text, f"secret leaked into {name}"
        assert "eyJ" not in text or "eyJ" not in "".join(
            part for part in text.split() if part.count(".") == 2 and part.startswith("eyJ")), f"JWT in {name}"


# ---- packaging -----------------------------------------------------------------------------------------
def test_the_wheel_ships_the_suites_and_schemas(tmp_path: Path) -> None:
    # Built from a copy without build artefacts: setuptools builds in the tree, and a build/ folder left by an
    # earlier build would ship modules that have since moved.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "reports", ".ci"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("pytest_authcheck-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for suite in ("discovery", "jwks", "tls", "clock", "jamf_auth", "privileges", "__init__"):
        assert f"pytest_authcheck/suites/{suite}.py" in names
    assert "pytest_authcheck/schemas/policy.schema.json" in names
    assert "pytest_authcheck/schemas/report.schema.json" in names
    assert "pytest_authcheck/py.typed" in names
    assert {"pytest_authcheck/report/html_audit.js", "pytest_authcheck/report/html_audit.css"} <= names
    assert "pytest_authcheck/data/jamf/privileges-11.12.json" in names
    assert "pytest_authcheck/data/jamf/endpoint-privileges-11.7.1.json" in names
    for data in ("rfc9700", "asvs-5.0", "fapi2-security", "mapping"):
        assert f"pytest_authcheck/data/frameworks/{data}.json" in names
    # Every module of the source tree ships (a subpackage missing from pyproject's list would not), and nothing
    # else does (an in-tree build/ folder can carry modules that were moved away).
    package = ROOT / "pytest_authcheck"
    source = {f"pytest_authcheck/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    shipped = {n for n in names if n.endswith(".py") and not n.startswith("pytest_authcheck/suites/")}
    assert source - shipped == set(), "modules missing from the wheel"
    assert shipped - source == set(), "modules in the wheel that the source no longer has"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "authcheck = pytest_authcheck.plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_readme_points_at_the_generated_references() -> None:
    """The list of checks and the policy reference live in docs/ (generated, see tests/test_docs.py)."""
    from pytest_authcheck._checks import shipped_checks

    readme = (ROOT / "README.md").read_text()
    assert "docs/checks.md" in readme and "docs/policy.md" in readme
    checks = (ROOT / "docs" / "checks.md").read_text()
    for check in shipped_checks():
        assert f"### `{check.id}`" in checks, check.id
    assert len(shipped_checks()) >= 27


def test_loading_the_plugin_without_the_option_imports_nothing_heavy() -> None:
    code = ("import sys, pytest_authcheck.plugin, pytest_authcheck; "
            "print(sorted(m for m in ('httpx', 'jsonschema', 'cryptography', 'jwt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
