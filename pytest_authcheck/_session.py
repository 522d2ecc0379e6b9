"""The hooks of an ``--authcheck`` run, registered only when the option is given."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator, Hashable
from pathlib import Path
from typing import Any

import pytest

from . import _test_order as test_order
from ._checks import SEVERITIES, check_of
from ._clients import PolicyClient
from ._errors import BaselineError, EvaluationError
from ._gc import QuietCollector
from ._kept_reports import share_keywords
from ._probe_process import probe_process_said, prober_applies
from ._run import AuthcheckRun
from ._xdist import (
    NOT_APPLICABLE_FILE,
    UNITS_FILE,
    TargetScheduling,
    by_target,
    collection_units,
    from_wire,
    read_units,
    share,
    shared,
    to_wire,
    untuple,
    upcoming,
)
from .probes import prober as prober_process
from .probes.prefetch import PLANS, Ahead, Positions, Prefetcher, Window
from .probes.readers import Readers
from .probes.run_plan import RunPlan
from .probes.token_state import held_answers
from .report import artifacts, terminal
from .report import html as html_report
from .report.junit import result_properties
from .report.redacted import redact_report
from .results.baseline import load_baseline
from .results.build import build_result, enforce_invariants, evaluation_text, exchanges_of, impose, record_key
from .results.not_applicable import NotApplicable, from_shared_form, shared_form
from .results.outcome import DEFAULT_FAIL_ON, GateSettings, decide, exit_status
from .results.waivers import apply_waiver, today_utc, waiver_text, waivers_of

SUITES_DIR = Path(__file__).resolve().parent / "suites"


def suites_dir() -> Path:
    """Where the shipped suites are (inside the installed package, or ``suites/`` of an editable install)."""
    import pytest_authcheck.suites as suites

    return Path(suites.__file__).resolve().parent


class AuthcheckSession:
    """Collection of the suites, redaction of reports, the result model's plumbing, and the writers."""

    def __init__(self, config: pytest.Config, run: AuthcheckRun) -> None:
        self.config = config
        self.run = run
        self.is_worker = hasattr(config, "workerinput")
        self.suites = suites_dir()
        self._shared_dir: Path | None = None
        self._ahead: Ahead | None = None
        self._window: Window | None = None
        self._prober: prober_process.Prober | None = None
        self._prober_dir: Path | None = None
        self._positions: Positions | None = None
        self._readers: Readers | None = None
        self._index: dict[int, int] = {}
        self._planned: list[tuple[Hashable, ...] | None] = []
        self._collector = QuietCollector()
        self.waivers = waivers_of(run.policy)
        self.today = today_utc()
        self._collect(run.policy.settings.checks)
        if not self.is_worker:
            self.gate_settings, self.baseline = _gate_options(config)
            html_report.configure(config, run)

    def _collect(self, extra: tuple[Path, ...]) -> None:
        # Named paths run with the suites; otherwise only the suites and the policy's own check
        # folders are collected, so `pytest --authcheck` never runs a repo's unit tests by surprise.
        config = self.config
        explicit = config.args_source == pytest.Config.ArgsSource.ARGS
        args = list(config.args) if explicit else []
        for path in (self.suites, *extra):
            if str(path) not in args:
                args.append(str(path))
        config.args[:] = args

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
        # Suites are named by what they check (discovery.py), not test_*.py, so a user's python_files
        # setting can neither hide them nor have them collected twice.
        if file_path.parent == self.suites and file_path.suffix == ".py" and not file_path.name.startswith("_"):
            return pytest.Module.from_parent(parent, path=file_path)
        return None

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # `-k discovery.issuer-match` selects a check by its id; only a -k reads the names (at collection).
        if self.config.option.keyword:
            for item in items:
                definition = check_of(item)
                if definition is not None:
                    item.extra_keyword_matches.add(definition.id)
        test_order.order(items)

    @pytest.hookimpl(tryfirst=True)  # before the terminal's header, which says why a prober asked for is not forked
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # from collection on (its full passes were 0.6 s of a 1,000-client run's 1.4 s of collection) to the reports,
        # in the prober too
        self._collector.start()
        self._prober = self._fork_prober(session.config)

    def _fork_prober(self, config: pytest.Config) -> prober_process.Prober | None:
        # Where a fork is safe, a serial run's probes go from a process of their own, forked now, while this one is
        # small (before collection), and told the collected tests after it; the documents both fetch (discovery,
        # JWKS) are fetched once, through a folder, as xdist workers share them. Some 20% quicker on two cores, for a
        # second process's memory (at 10,000 clients the pair 923 MiB of PSS against 754 for one process).
        run = self.run
        said = probe_process_said(config)
        if self.is_worker or not prober_applies(config, run.policy):
            return None
        workers = config.pluginmanager.has_plugin("dsession")
        unsafe = ("with -n, each xdist worker sends the probes of the tests it is given"
                  if workers else prober_process.unsafe())
        if unsafe is not None:
            if said:  # asked for, not only the default: the terminal says why not
                run.notes.append(f"--authcheck-probe-process: {unsafe}; the probes go from the tests' process")
            elif not workers and getattr(config.known_args_namespace, "numprocesses", None):
                # -n ran in this process for its prober (``_xdist.why_not_workers``); a thread started since then
                run.notes.append(f"-n without its workers and without the probe process: {unsafe}; the probes go "
                                 "from the tests' process (--authcheck-worker-targets 0 starts the workers)")
            return None
        if run.shared.directory is None:
            self._prober_dir = run.shared.directory = Path(tempfile.mkdtemp(prefix="authcheck-prober-"))
        # the caches the answers go into exist before the fork, so that each process names them alike
        caches = (run.token_probes.sent, run.authz_probes.before_login, held_answers(run.memo))
        return prober_process.start(caches=caches, redactor=run.redactor, confinement=run.http.confinement,
                                    prepare=self._prepare_prober, reset=lambda: run.http.forked("p"))

    def _prepare_prober(self, instructions: prober_process.Instructions) -> RunPlan:
        # in the prober: the plan this process made, from the pairs it was told
        run = self.run
        run.authz_probes.adopt(instructions.fixed)
        # no readers counted: an answer goes when this process tells the prober its readers have all run
        return RunPlan(run, [None if pair is None else (pair[0], run.target_subject("oidc_client", pair[1]))
                             for pair in instructions.pairs], Readers(counted=False))

    def _end_prober(self) -> None:
        if self._prober is not None:
            self._prober.stop()
            if self._prober.failure is not None:
                # the results stand (the tests sent what it did not hand back), but the run was not what was asked
                reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    failure = self.run.redactor.text(self._prober.failure)[:300]  # redacted whole, then clipped
                    reporter.write_line(f"authcheck: the probe process: {failure}; the tests sent the probes it did "
                                        "not hand back themselves")
            self._prober = None
        if self._prober_dir is not None:
            self.run.shared.directory = None
            shutil.rmtree(self._prober_dir, ignore_errors=True)
            self._prober_dir = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, Any, Any]:
        # The collected client checks' probes are sent ahead, concurrently, while pytest runs the tests; an xdist
        # worker sends those of the tests it is given, as it is given them.
        prefetcher = None if session.config.option.collectonly else self._prefetch(session.items)
        try:
            return (yield)
        finally:
            self._ahead = self._window = self._positions = None
            if prefetcher is not None:
                prefetcher.stop()
            self._end_prober()

    def _prefetch(self, items: list[pytest.Item]) -> Prefetcher | None:
        run = self.run

        def pair(item: pytest.Item) -> tuple[str, PolicyClient] | None:
            definition = check_of(item)
            name = getattr(getattr(item, "callspec", None), "params", {}).get("oidc_client")
            if definition is None or not isinstance(name, str) or definition.id not in PLANS:
                return None
            return definition.id, run.target_subject("oidc_client", name)

        pairs = [pair(item) for item in items]
        if not any(pairs):
            self._end_prober()
            return None
        if self._prober is not None:  # told first, the prober plans while this process does
            clients = {p[1].name: p[1] for p in pairs if p is not None}
            self._prober.begin(prober_process.Instructions(
                [None if p is None else (p[0], p[1].name) for p in pairs],
                run.authz_probes.fixed_of(clients.values()), run.policy.settings.concurrency))
        plan = RunPlan(run, pairs)
        plan.count()
        self._readers, self._planned = plan.readers, plan.planned
        if self._prober is not None:
            self._prober.listen(plan.readers)
            self._positions = Positions(items)
            return None
        prefetcher = Prefetcher(run.policy.settings.concurrency, plan.readers)
        if self.is_worker:
            self._index = {id(item): i for i, item in enumerate(items)}
            self._ahead = Ahead(prefetcher, plan.jobs, upcoming(self.config))
        else:
            self._window = Window(prefetcher, plan.jobs, items)
            self._window.start()
        return prefetcher

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        position = None
        if self._window is not None:
            position = self._window.see(item)
        if self._positions is not None and self._prober is not None:
            position = self._positions.of(item)
            if position is not None:
                self._prober.wait_for(position)
        if self._ahead is not None:
            position = self._index.get(id(item))
            self._ahead.see(position, self._index.get(id(nextitem)) if nextitem is not None else None)
        signatures = None
        if position is not None and position < len(self._planned):
            signatures, self._planned[position] = self._planned[position], None
        try:
            return (yield)
        finally:
            if signatures is not None and self._readers is not None:
                self._readers.finished(signatures)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # keep the not-applicable pairs of the checks this run selected (-m, -k, named tests)
        selected = {item.nodeid.split("[", 1)[0] for item in session.items}
        run = self.run
        run.not_applicable = [pair for pair in run.not_applicable if pair.test in selected]
        # xdist: what the controller needs of the collection it does not make, before the worker reports it done
        # (the scheduler reads the units then); through the shared folder, as JSON is far quicker than execnet
        workerinput = getattr(self.config, "workerinput", {})
        if workerinput.get("authcheck_shared_dir"):
            directory = Path(workerinput["authcheck_shared_dir"])
            share(directory, NOT_APPLICABLE_FILE, shared_form(run.not_applicable))
            if workerinput.get("authcheck_units"):
                share(directory, UNITS_FILE, collection_units(session.items))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        policy = self.run.policy
        targets = ", ".join(f"{n} ({p.get('kind')})" for n, p in policy.section("providers").items()) or "none"
        return [f"authcheck: policy {policy.path} sha256:{policy.sha256}", f"authcheck: providers {targets}",
                *(f"authcheck: {note}" for note in self.run.notes)]

    # A check that could not be evaluated is reported by its cause alone (pytest_runtest_makereport), yet pytest
    # would first render its traceback through the HTTP stack, reading and parsing the source of every frame:
    # tens of milliseconds per error, most of a run against a provider that is down. The exception leaves these
    # wrappers without the frames below them, and theirs is hidden, so there is nothing to render.
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        __tracebackhide__ = True
        try:
            return (yield)
        except EvaluationError as exc:
            raise exc.with_traceback(None) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        __tracebackhide__ = True
        try:
            return (yield)
        except EvaluationError as exc:
            raise exc.with_traceback(None) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report: pytest.TestReport = yield
        run = self.run
        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if call.excinfo is not None and isinstance(call.excinfo.value, EvaluationError) and report.failed:
            # The cause is the whole story; a traceback through the HTTP stack only buries it.
            report.longrepr = evaluation_text(call.excinfo.value)
            # Raised in the test body (a token request, say), it is still "could not evaluate": pytest,
            # JUnit and pytest-html then call it an error, as they would had a fixture raised it.
            report.when = "setup"
        if final:
            imposed = enforce_invariants(report, call, item.stash.get(record_key, None),
                                         shipped=item.path.parent == self.suites)
            if imposed is not None:
                impose(report, *imposed)
        redact_report(report, run.redactor)
        if final:
            result = build_result(item, report, call, run.redactor, imposed)
            apply_waiver(result, self.waivers, self.today)
            if result["status"] == "waived":
                # An accepted finding reads as xfail everywhere pytest reports (terminal, JUnit, pytest-html),
                # so pytest's own outputs agree with the result model.
                report.outcome = "skipped"
                report.wasxfail = waiver_text(result["waiver"])
            # JUnit XML writes the properties of the teardown report, which pytest builds from the item.
            item.user_properties.extend(result_properties(result))
            report.authcheck = result  # type: ignore[attr-defined]
            # an answer several checks read is handed over with the first: the others' results name it
            fresh = [e.hand_over() for e in exchanges_of(item, call) if not e.handed_over]
            if fresh:
                report.authcheck_exchanges = fresh  # type: ignore[attr-defined]
            # The result holds the evidence now. pytest keeps every item to the end of the session: the record, and
            # the answers it kept to hold the check to its expectation, would live as long.
            if record_key in item.stash:
                del item.stash[record_key]
        share_keywords(item, report)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        report: pytest.CollectReport = yield
        if report.failed:
            redact_report(report, self.run.redactor)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "authcheck", None)
        if result is None or self.is_worker:
            return
        for exchange in getattr(report, "authcheck_exchanges", None) or ():
            self.run.exchanges.add(exchange)
        if hasattr(report, "authcheck_exchanges"):
            # pytest keeps every report to the end of the session; the store holds the exchanges now
            del report.authcheck_exchanges
        # the report keeps its result to the end of the session as well: both hold the compact one
        report.authcheck = kept = self.run.result_store.keep(result)  # type: ignore[attr-defined]
        self.run.results.append(kept)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers share the controller's run id and a folder for documents fetched once per run."""
        if self._shared_dir is None:
            self._shared_dir = Path(tempfile.mkdtemp(prefix="authcheck-shared-"))
        node.workerinput["authcheck_run_id"] = self.run.run_id
        node.workerinput["authcheck_shared_dir"] = str(self._shared_dir)
        node.workerinput["authcheck_units"] = by_target(self.config)

    # xdist sends each report to the controller with execnet's serializer, which walks nested data in Python, on
    # both sides: the report travels as one JSON string instead (``_xdist.to_wire``), several times quicker.
    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(self, config: pytest.Config, report: Any) -> Generator[None, Any, Any]:
        return to_wire((yield))

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(self, config: pytest.Config, data: Any) -> Generator[None, Any, Any]:
        from_wire(data)
        return untuple((yield))

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """xdist: ``-n N`` without a ``--dist`` mode runs each target's checks on one worker (``_xdist``)."""
        if not by_target(config):
            return None
        shared = self._shared_dir
        return TargetScheduling(config, log, lambda collection: read_units(shared, collection))

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        # Before the other implementations (pytest-html renders during its own): decide the outcome once and
        # set the exit status pytest returns. After them (JUnit XML and HTML are written by then): write ours.
        self._end_prober()  # a session that ended before its tests
        if self.is_worker or self.config.option.collectonly:
            # nothing was checked: the last run's reports stay as they are (an empty audit would read as passed)
            return (yield)
        run = self.run
        # xdist: every worker collected the same tests, so any one's not-applicable pairs are everyone's
        run.not_applicable.extend(from_shared_form(shared(self._shared_dir, NOT_APPLICABLE_FILE)))
        pairs: list[NotApplicable] = sorted(run.not_applicable, key=NotApplicable.order)
        run.results.extend(pairs)
        run.outcome = decide(run.results, policy=run.policy, waivers=self.waivers, today=self.today,
                             settings=self.gate_settings, baseline=self.baseline)
        session.exitstatus = exit_status(int(session.exitstatus), run.outcome)
        run.finish(int(session.exitstatus))
        try:
            return (yield)
        finally:
            artifacts.write_all(run, self.config)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if self.is_worker:
            return
        if config.option.collectonly:
            terminalreporter.write_sep("=", "authcheck summary")
            terminalreporter.write_line(f"--collect-only: no check ran and no report was written ({self.run.reports_dir} "
                                        "is as the last run left it)")
            return
        terminal.summary(terminalreporter, self.run)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._end_prober()  # a session that failed to start never finishes: its prober still waits
        self._collector.stop()
        if self._shared_dir is not None:
            shutil.rmtree(self._shared_dir, ignore_errors=True)
        self.run.close()
        self.run.remove_log_redaction()


def _gate_options(config: pytest.Config) -> tuple[GateSettings, dict[str, dict[str, Any]] | None]:
    fail_on = config.getoption("authcheck_fail_on") or config.getini("authcheck_fail_on") or DEFAULT_FAIL_ON
    if fail_on not in SEVERITIES:
        raise pytest.UsageError(f"authcheck_fail_on: {fail_on!r} is not one of {', '.join(SEVERITIES)}")
    baseline_path = config.getoption("authcheck_baseline") or config.getini("authcheck_baseline") or None
    new_only = bool(config.getoption("authcheck_fail_on_new") or config.getini("authcheck_fail_on_new"))
    if new_only and not baseline_path:
        raise pytest.UsageError("--authcheck-fail-on-new needs --authcheck-baseline PATH (the previous authcheck.json)")
    baseline = None
    if baseline_path:
        path = Path(baseline_path)
        if not path.is_absolute():
            path = Path(str(config.invocation_params.dir)) / path
        try:
            baseline = load_baseline(path)
        except BaselineError as exc:
            raise pytest.UsageError(f"authcheck baseline: {exc}") from None
    return GateSettings(fail_on=fail_on, new_only=new_only, baseline_path=baseline_path), baseline
