"""What pytest keeps of each test's reports to the end of the session, trimmed to what anything reads.

Every report of every test was kept: pytest's terminal reporter files each one under the status it shows, and a
passing setup or teardown under an empty status that nothing shows or counts (it skips that key when colouring
and summing up); pytest-html keeps all three of a test's reports after making its row from them. At a thousand
clients that is 45,000 reports, a tenth of the run's memory. An xdist worker's terminal reporter keeps them too,
each with the result and the exchanges it has sent to the controller, for a summary nobody reads (execnet writes a
worker's output to a temporary file; pytest shows the controller's). Unless a summary lists passing tests (``-rP``,
``-rA``, ``-rp``) or ``--durations`` reads them, the terminal reporter only counts them: it keeps a shared stand-in
for each. And pytest's own plugins leave a note per test in the item's stash (the test's outcome per phase for
``tmp_path``'s retention, the evaluated xfail marker), read only while the test runs: they go with its last report,
and so do a shipped check's parameters (``let_go_of_parameters``) and what its fixtures left on the session's
(``let_go_of_finished_fixtures``).
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import pytest

_keywords_key = pytest.StashKey[Mapping[str, Any]]()

_NO_KEYWORDS: Mapping[str, Any] = MappingProxyType({})
_NO_EXTRA_KEYWORDS: frozenset[str] = frozenset()
_NOTHING: tuple[()] = ()
# The status pytest's terminal reporter files passing setup and teardown reports under (pytest_report_teststatus).
_UNSHOWN = ""
# What a report carries to the controller (``_session``): a worker reads none of it once the report has been sent.
_SENT = ("authcheck", "authcheck_exchanges")


class _Counted:
    """What the terminal reporter keeps for a passing test when it only counts them: one object for all of them."""

    __slots__ = ()
    count_towards_summary = True

    def __repr__(self) -> str:
        return "<a passing test, counted>"


_COUNTED = _Counted()


def _notes_read_while_running() -> tuple[pytest.StashKey[Any], ...]:
    # pytest's own, private keys: a pytest without them has nothing of the kind to let go
    keys: list[pytest.StashKey[Any]] = []
    try:
        from _pytest.tmpdir import tmppath_result_key

        keys.append(tmppath_result_key)
    except ImportError:
        pass
    try:
        from _pytest.skipping import xfailed_key

        keys.append(xfailed_key)
    except ImportError:
        pass
    return tuple(keys)


def _subtest_counts_key() -> pytest.StashKey[Any] | None:
    try:  # pytest's own, private (pytest 9): a pytest without it keeps no such count
        from _pytest.subtests import failed_subtests_key
    except ImportError:
        return None
    return failed_subtests_key


def share_keywords(item: pytest.Item, report: pytest.TestReport) -> None:
    """Let the report use the keywords of the item's previous report when they are equal.

    pytest gives each of a test's reports (setup, call, teardown) its own copy of the item's keywords.
    """
    kept = item.stash.get(_keywords_key, None)
    if kept is not None and kept == report.keywords:
        report.keywords = kept
    else:
        item.stash[_keywords_key] = report.keywords
    if report.when == "teardown":
        # the item's last report: pytest keeps the item to the end of the session, and the copy with it
        del item.stash[_keywords_key]


def forget_unshown(terminalreporter: Any) -> None:
    """Drop the passing setup and teardown reports the terminal reporter filed and never reads.

    The key stays (empty): the reporter recomputes its colours whenever a status appears for the first time.
    """
    stats = getattr(terminalreporter, "stats", None)
    unshown = stats.get(_UNSHOWN) if isinstance(stats, dict) else None
    if isinstance(unshown, list) and unshown:
        unshown.clear()


def slim_passed(report: pytest.TestReport) -> None:
    """Let a passing test's call report, which pytest's terminal reporter keeps to the end of the session to count it
    (and to list it under ``-rP``/``-rA``), go without its copy of the item's keywords: the plugins that read them
    have, and the reporter reads a report's keywords only to fold skips. Half a kilobyte a test."""
    report.keywords = _NO_KEYWORDS


def forget_sent(terminalreporter: Any, report: pytest.TestReport) -> None:
    """Drop the report a worker's terminal reporter has just filed: it has gone to the controller, which counts and
    shows it. Another plugin still holding the report holds it without what it carried there."""
    for name in _SENT:
        report.__dict__.pop(name, None)
    stats = getattr(terminalreporter, "stats", None)
    if isinstance(stats, dict):
        for filed in stats.values():
            if filed and filed[-1] is report:
                filed.pop()
                return


def only_counted(terminalreporter: Any, report: pytest.TestReport) -> None:
    """Put the shared stand-in where the terminal reporter has just filed a passing test's call report."""
    stats = getattr(terminalreporter, "stats", None)
    passed = stats.get("passed") if isinstance(stats, dict) else None
    if isinstance(passed, list) and passed and passed[-1] is report:
        passed[-1] = _COUNTED


def let_go_of_parameters(item: pytest.Item) -> None:
    """Drop what pytest built to run a parametrized test and keeps with the item to the end of the session, once it
    has run: its callspec (the parameters, with four dicts and two lists of their own), its markers and the keywords
    ``-k`` matched it by at collection, the properties and output sections its reports have copied, and its cached
    location (a property: computed again if read); read only while the test runs. A kilobyte a test: a bare pytest
    run of 150,000 parametrized tests peaks at 644 MB instead of 780 without their callspecs alone.
    Only for the shipped suites' tests, which nothing runs twice: a plugin running a test of its own again would find
    its parameters gone. What replaces a list or a mapping is one shared empty one that refuses additions: nothing adds
    a marker, keyword, property or section to a test that has run, and a plugin that did would fail loudly.
    """
    for name in ("callspec", "location"):
        item.__dict__.pop(name, None)
    if getattr(item, "extra_keyword_matches", None) is not None:
        item.extra_keyword_matches = cast(set[str], _NO_EXTRA_KEYWORDS)
    for name in ("user_properties", "_report_sections", "own_markers"):
        if isinstance(getattr(item, name, None), list):
            setattr(item, name, _NOTHING)
    if getattr(item, "keywords", None) is not None:
        item.keywords = cast(Any, _NO_KEYWORDS)


def let_go_of_finished_fixtures(item: pytest.Item) -> None:
    """Drop what a test's function-scoped fixtures left on the wider-scoped fixtures they requested, once it has run.

    pytest registers each fixture's ``finish`` with every fixture it requested, so that tearing one down tears down
    what depends on it first. A function-scoped fixture is torn down with its test, yet its entry stays on a session
    fixture's list until the session ends, holding the test's fixture requests (pytest-dev/pytest#3030): at two
    thousand clients, 72,000 of them and 15 MiB half-way through the run, growing with every test. Finishing a fixture
    that is finished already does nothing (``FixtureDef.finish`` returns at once), so those entries can go.
    """
    for definitions in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for definition in definitions:
            finalizers = getattr(definition, "_finalizers", None)
            if finalizers and getattr(definition, "scope", "function") != "function":
                finalizers[:] = [finalizer for finalizer in finalizers if not _finishes_a_finished_fixture(finalizer)]


def _finishes_a_finished_fixture(finalizer: Any) -> bool:
    method = finalizer.func if isinstance(finalizer, functools.partial) else None
    fixture = getattr(method, "__self__", None)
    return getattr(method, "__name__", None) == "finish" and isinstance(fixture, pytest.FixtureDef) \
        and fixture.cached_result is None


def lists_passing_tests(config: pytest.Config) -> bool:
    """Whether a summary reads passing tests' reports at the end: ``-rp``/``-rP``/``-rA`` or ``--durations``."""
    chars = str(getattr(config.option, "reportchars", "") or "")
    return any(c in chars for c in "pPA") or getattr(config.option, "durations", None) is not None


class KeptReports:
    """A plugin that lets reports go once the plugins that file them have read them for the last time."""

    def __init__(self, config: pytest.Config, suites: Path | None = None) -> None:
        self._config = config
        self._suites = suites
        self._is_worker = hasattr(config, "workerinput")
        self._html_kept: list[dict[str, Any]] | None = None
        # passing call reports whose row pytest-html has yet to make, by node id (xdist interleaves tests)
        self._rows_to_make: dict[str, pytest.TestReport] = {}
        self._only_counted = not self._is_worker and not lists_passing_tests(config)
        self._notes = _notes_read_while_running()
        self._subtest_counts = _subtest_counts_key()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            for key in self._notes:
                if key in item.stash:
                    del item.stash[key]
            # a dict emptied key by key keeps its table (224 bytes a test, 30 MiB at 10,000 clients); clear() lets it go
            storage = getattr(item.stash, "_storage", None)
            if isinstance(storage, dict) and not storage:
                storage.clear()
            let_go_of_finished_fixtures(item)
            if self._suites is not None and item.path.parent == self._suites:
                let_go_of_parameters(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        yield
        if self._is_worker:
            # xdist's own implementation has sent the report to the controller by now
            forget_sent(self._config.pluginmanager.get_plugin("terminalreporter"), report)
        # pytest-rerunfailures reports a retried test's phases as "rerun" before its last teardown
        if report.when == "teardown" and str(report.outcome) != "rerun":
            # the row is made: the test's reports go without what pytest-html read for it (a copy of the extras
            # lists each; the terminal reporter keeps the skipped and failed ones to the end)
            for kept in self._html_reports():
                for filed in (kept.pop(report.nodeid, None) or {}).values():
                    for phase in filed:
                        phase.__dict__.pop("extras", None)
            passed = self._rows_to_make.pop(report.nodeid, None)
            if passed is not None:
                passed.__dict__.pop("extras", None)
            self._forget_subtest_count(report)
        if report.when == "call" and report.passed:
            slim_passed(report)
            if self._only_counted:
                only_counted(self._config.pluginmanager.get_plugin("terminalreporter"), report)
            if self._html_reports():
                self._rows_to_make[report.nodeid] = report
        elif report.passed:
            forget_unshown(self._config.pluginmanager.get_plugin("terminalreporter"))

    def _forget_subtest_count(self, report: pytest.TestReport) -> None:
        # pytest counts each test's failed subtests under its id, reading (so adding) a zero for every test that has
        # none; read again only while the test's reports are filed
        counts = self._config.stash.get(self._subtest_counts, None) if self._subtest_counts is not None else None
        test = getattr(report, "id", None)
        if isinstance(counts, dict) and counts.get(test) == 0:
            del counts[test]

    def _html_reports(self) -> list[dict[str, Any]]:
        # pytest-html (the engine of authcheck.html) files each test's reports by node id and reads them once, at
        # the test's teardown, to make its row; then keeps them to the end of the session.
        if self._html_kept is None:
            self._html_kept = []
            for plugin in self._config.pluginmanager.get_plugins():
                kept = getattr(plugin, "_reports", None)
                if type(plugin).__module__.startswith("pytest_html.") and isinstance(kept, dict):
                    self._html_kept.append(kept)
        return self._html_kept
