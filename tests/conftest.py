"""Shared fixtures of the project's own tests: the real IdP world and a way to run ``pytest --authcheck``."""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.idp.world import DEPLOYER_SECRET, VARIANTS, IdpWorld, RunningIdp

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def idp_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpWorld]:
    """One trustme CA and the IdPs started from it; every node process is stopped at the end."""
    with IdpWorld(tmp_path_factory.mktemp("idp-world")) as world:
        yield world


@pytest.fixture(scope="session")
def idp(idp_world: IdpWorld) -> Callable[[str], RunningIdp]:
    """``idp("good")``: the IdP of a variant, started once per test session."""
    started: dict[str, RunningIdp] = {}

    def get(variant: str) -> RunningIdp:
        if variant not in started:
            started[variant] = idp_world.start(VARIANTS[variant])
        return started[variant]

    return get


def oidc_policy(idp: RunningIdp, *, extra: str = "", provider: str = "", settings: str = "") -> str:
    """A policy for the test IdP: its provider, the good clients, and whatever a test adds."""
    return textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{idp.ca_pem_path}"
        timeout = "5s"
        reports = "reports"
        {settings}

        [providers.sso]
        kind = "oidc"
        issuer = "{idp.served_issuer}"
        signing_algs = ["RS256", "ES256"]
        {provider}

        [clients.deployer]
        provider = "sso"
        client_id = "ci-deployer"
        client_secret = "${{DEPLOYER_SECRET}}"
        type = "confidential"
        grant_types = ["client_credentials"]
        scopes = ["deploy", "read"]

        [clients.cli]
        provider = "sso"
        client_id = "enclii-cli"
        type = "public"
        application = "native"
        grant_types = ["authorization_code", "refresh_token"]
        redirect_uris = ["http://127.0.0.1/callback"]
        scopes = ["openid", "profile", "email"]
        """) + textwrap.dedent(extra)


def _set_aside_not_applicable(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Take the results of suites whose kind of target the policy does not declare (``[no-api]``, skipped)
    out of ``report["results"]`` and return them, so tests of one area see only that area's results as more
    suites ship (``AuthcheckRun.not_applicable`` keeps them)."""
    results = report.get("results")
    if not isinstance(results, list):
        return []
    aside = [r for r in results if r.get("status") == "skipped" and r.get("target") is None
             and re.search(r"\[no-[a-z-]+\]$", r.get("nodeid", ""))]
    report["results"] = [r for r in results if r not in aside]
    return aside


# What the result model says when a check broke its invariants (pytest_authcheck/results/build.py enforce_invariants).
INVARIANT_BREACHES = ("passed against its own evidence", "without stating what it expected",
                      "having recorded nothing it looked at")


def area_of(report: dict[str, Any], result: dict[str, Any]) -> str | None:
    """A JSON result's area (kept once per check in ``report["checks"]``)."""
    area = result.get("area") or report.get("checks", {}).get(result.get("check"), {}).get("area")
    return str(area) if area is not None else None


def invariant_breaches(report: dict[str, Any], areas: set[str] | None = None) -> dict[str, str]:
    """nodeid -> message of every result (of ``areas``, or all) that passed against its own evidence or stated
    nothing: a defect of the check, never a verdict about the system."""
    return {r["nodeid"]: r["message"] for r in report.get("results", [])
            if (areas is None or area_of(report, r) in areas)
            and any(breach in (r.get("message") or "") for breach in INVARIANT_BREACHES)}


def unstated_verdicts(report: dict[str, Any], areas: set[str]) -> dict[str, str]:
    """nodeid -> status of every passed or failed result of ``areas`` that carries no expected or no observed."""
    return {r["nodeid"]: r["status"] for r in report.get("results", [])
            if area_of(report, r) in areas and r["status"] in ("passed", "failed") and "expected" not in r}


@dataclass
class AuthcheckRun:
    """What a ``pytest --authcheck`` run left behind."""

    result: pytest.RunResult
    report: dict[str, Any]
    reports_dir: Path
    #: skipped results of suites whose kind of target the policy does not declare (see _set_aside_not_applicable)
    not_applicable: list[dict[str, Any]] = field(default_factory=list)

    def by_check(self) -> dict[str, dict[str, Any]]:
        """Results by check id (the tests here use one target per check).

        Checks of a target kind the policy does not declare (collected once as ``[no-jamf-provider]`` and
        skipped as not applicable) are left out: a test about one kind of target should not have to
        know every other suite.
        """
        return {r["check"]: r for r in self.report["results"] if "[no-" not in r["nodeid"]}

    def status(self, check_id: str) -> str:
        return self.by_check()[check_id]["status"]

    def not_passed(self) -> dict[str, str]:
        """check id -> status, for everything that neither passed nor was skipped."""
        return {r["check"]: r["status"] for r in self.report["results"] if r["status"] not in ("passed", "skipped")}

    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()


@pytest.fixture
def run_authcheck(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AuthcheckRun]:
    """Write ``authcheck.toml`` into a fresh directory and run ``pytest --authcheck`` there.

    ``subprocess=True`` runs it in a child process (needed for xdist and for logging tests); ``clients=True``
    keeps the client suites, which are deselected otherwise.
    """
    monkeypatch.setenv("DEPLOYER_SECRET", DEPLOYER_SECRET)

    def run(policy: str, *args: str, subprocess: bool = False, env: dict[str, str] | None = None,
            clients: bool = False) -> AuthcheckRun:
        # The client suites (area "clients") have their own tests (test_suites_clients.py); the provider-level
        # tests deselect them unless asked, so their expectations stay about providers.
        if not clients and "-m" not in args:
            args = ("-m", "not clients", *args)
        pytester.path.joinpath("authcheck.toml").write_text(policy)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest_inprocess
        result = runner("--authcheck", "-p", "no:cacheprovider", *args)
        reports = pytester.path / "reports"
        report_path = reports / "authcheck.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        not_applicable = _set_aside_not_applicable(report)
        return AuthcheckRun(result=result, report=report, reports_dir=reports, not_applicable=not_applicable)

    return run


@pytest.fixture(scope="session")
def dot_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The django-oauth-toolkit OpenID Provider (tests/dot_idp/), started once per test session."""
    from tests.dot_idp.world import DotWorld

    with DotWorld(tmp_path_factory.mktemp("dot-idp")) as world:
        yield world.start()


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextlib.contextmanager
def benchmark_module(name: str) -> Iterator[ModuleType]:
    """A module of ``benchmarks/`` (scripts, not a package: they import each other by name from their folder)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
