"""The pytest11 entry point: options, and a configure hook that does nothing unless ``--authcheck`` is given.

With ``--authcheck`` it loads the policy (a broken policy stops the run here, before any request) and
registers two plugins for the run: the public fixtures (``_fixtures``) and the run's hooks
(``_session.AuthcheckSession``). Without it, no fixture, marker or hook of ours exists.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._errors import PolicyError

# Modules of public fixtures, registered as plugins only for --authcheck runs (one per area of suites).
# Everything is imported inside pytest_configure, so a run without --authcheck pays for nothing.
FIXTURE_MODULES = ["pytest_authcheck._fixtures", "pytest_authcheck._jamf_fixtures",
                   "pytest_authcheck._credentials_fixtures", "pytest_authcheck._client_fixtures",
                   "pytest_authcheck._api_fixtures"]
# Every problem of a broken policy is shown, one line each, up to this many (the rest are counted).
MAX_POLICY_ERROR_LINES = 100


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authcheck", "audit authentication and authorization configuration")
    group.addoption("--authcheck", action="store_true", default=False,
                    help="run the authcheck suites against the systems declared in the policy")
    group.addoption("--authcheck-policy", metavar="PATH", default=None,
                    help="policy file (default: authcheck.toml, else [tool.authcheck] in pyproject.toml)")
    group.addoption("--authcheck-reports", metavar="DIR", default=None,
                    help="folder for the reports (authcheck.html, .json, .sarif, .md, .sha256; default: settings.reports, "
                         "else reports)")
    group.addoption("--authcheck-fail-on", metavar="SEVERITY", default=None,
                    choices=("critical", "high", "medium", "low", "info"),
                    help="lowest severity of a failed or unevaluated check that fails the run "
                         "(critical, high, medium, low, info; default: info, any failure)")
    group.addoption("--authcheck-baseline", metavar="PATH", default=None,
                    help="a previous run's authcheck.json: findings are marked new, fixed or unchanged")
    group.addoption("--authcheck-fail-on-new", action="store_true", default=False,
                    help="with --authcheck-baseline: only findings new since the baseline fail the run")
    parser.addini("authcheck", type="bool", default=False, help="always run as if --authcheck were given")
    parser.addini("authcheck_policy", type="string", default="", help="policy file for --authcheck")
    parser.addini("authcheck_reports", type="string", default="", help="report folder for --authcheck")
    parser.addini("authcheck_fail_on", type="string", default="", help="gate threshold, as --authcheck-fail-on")
    parser.addini("authcheck_baseline", type="string", default="", help="baseline report, as --authcheck-baseline")
    parser.addini("authcheck_fail_on_new", type="bool", default=False, help="as --authcheck-fail-on-new")
    group.addoption("--authcheck-worker-targets", metavar="N", type=int, default=None,
                    help="with -n (no --dist): start the workers only from N targets per worker and where four or "
                         "more can run at once, else run in one process with its probe process, which is quicker "
                         "(default 100; 0: always start them)")
    parser.addini("authcheck_worker_targets", type="string", default="",
                  help="as --authcheck-worker-targets: targets per worker below which -n runs in one process")
    group.addoption("--authcheck-probe-process", action="store_true", default=None,
                    help="without xdist workers: send the checks' probes from a second process while this one runs "
                         "the tests (the default where a fork is safe; asked for here, the terminal says why when it "
                         "cannot be)")
    group.addoption("--authcheck-no-probe-process", action="store_false", dest="authcheck_probe_process",
                    help="send the checks' probes from this process, between its tests (one process, slower)")
    parser.addini("authcheck_probe_process", type="string", default="",
                  help="true: as --authcheck-probe-process; false: as --authcheck-no-probe-process (unset: a second "
                       "process where a fork is safe)")
    group.addoption("--authcheck-allow-mutations", action="store_true", default=False,
                    help="also probe API rules declared mutating = true (requests with side effects, e.g. POST)")
    parser.addini("authcheck_allow_mutations", type="bool", default=False,
                  help="as --authcheck-allow-mutations: probe API rules declared mutating = true")
    group.addoption("--authcheck-init", metavar="URL", default=None,
                    help="write a starter policy (authcheck.toml, or the file --authcheck-policy names) from an "
                         "OpenID issuer's discovery or a Jamf Pro server's API clients and roles, then exit")
    group.addoption("--authcheck-init-kind", default="auto", choices=("auto", "oidc", "jamf"),
                    help="with --authcheck-init: what URL is (default: auto, detected)")
    group.addoption("--authcheck-init-ca", metavar="PATH", default=None,
                    help="with --authcheck-init: a PEM file of CA certificates the server's certificate chains to")
    group.addoption("--authcheck-init-force", action="store_true", default=False,
                    help="with --authcheck-init: replace an existing policy file")
    group.addoption("--authcheck-init-user-var", metavar="VAR", default="JAMF_AUDIT_USER",
                    help="with --authcheck-init on Jamf Pro: the environment variable holding the auditor's username "
                         "(default JAMF_AUDIT_USER)")
    group.addoption("--authcheck-init-password-var", metavar="VAR", default="JAMF_AUDIT_PASSWORD",
                    help="with --authcheck-init on Jamf Pro: the environment variable holding the auditor's password "
                         "(default JAMF_AUDIT_PASSWORD)")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    # --authcheck-init is a command of its own: it writes the starter policy and ends the run before any collection.
    if not config.getoption("authcheck_init", None):
        return None
    from .starter.write import main

    return main(config)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("authcheck") or config.getini("authcheck")):
        return
    from ._checks import register_markers
    from ._errors import PolicyError
    from ._fixtures import run_fixture, run_key
    from ._kept_reports import KeptReports
    from ._run import AuthcheckRun
    from ._session import AuthcheckSession, suites_dir
    from ._xdist import run_in_process, why_not_workers
    from .policy.load import find_policy, load_policy
    from .policy.local_conftest import load_policy_conftest

    explicit = config.getoption("authcheck_policy") or config.getini("authcheck_policy") or None
    try:
        path, is_pyproject = find_policy(Path(str(config.rootpath)), explicit)
        policy = load_policy(path, pyproject=is_pyproject)
    except PolicyError as exc:
        raise pytest.UsageError(_policy_error_text(exc)) from None
    reports = config.getoption("authcheck_reports") or config.getini("authcheck_reports") or None
    reports_dir = Path(reports) if reports else policy.settings.reports
    if not reports_dir.is_absolute():
        reports_dir = Path(str(config.invocation_params.dir)) / reports_dir
    workerinput = getattr(config, "workerinput", None)
    shared = workerinput.get("authcheck_shared_dir") if workerinput else None
    run = AuthcheckRun(policy, reports_dir=reports_dir, argv=["pytest", *config.invocation_params.args],
                       run_id=workerinput.get("authcheck_run_id") if workerinput else None,
                       shared_dir=Path(shared) if shared else None)
    in_process = why_not_workers(config, policy)
    if in_process is not None:
        run_in_process(config)
        run.notes.append(in_process)
    config.stash[run_key] = run
    run.install_log_redaction()
    register_markers(config)
    config.pluginmanager.register(run_fixture(run), "authcheck-run")
    for name in FIXTURE_MODULES:
        config.pluginmanager.register(importlib.import_module(name), f"authcheck-{name.rsplit('.', 1)[-1].strip('_')}")
    config.pluginmanager.register(AuthcheckSession(config, run), "authcheck-session")
    config.pluginmanager.register(KeptReports(config, suites_dir()), "authcheck-kept-reports")
    # after the fixture modules: an override in the conftest beside the policy must win over ours
    load_policy_conftest(config, policy.path)


def _policy_error_text(exc: PolicyError) -> str:
    """One line for one problem; a count, then one line per problem in file order, for several."""
    lines = list(exc.lines)
    if len(lines) == 1:
        return f"authcheck policy: {lines[0]}"
    shown = lines[:MAX_POLICY_ERROR_LINES]
    more = len(lines) - len(shown)
    return "\n".join([f"authcheck policy: {len(lines)} errors", *shown]
                     + ([f"... and {more} more"] if more else []))
