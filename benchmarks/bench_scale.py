"""Issue 12's scale benchmark: ``pytest --authcheck`` against a raw-httpx floor script, at N clients.

One run starts the project's test IdP (oidc-provider, tests/idp) with N generated clients (80% confidential
client_credentials services, 20% public native apps with a loopback redirect URI), writes a policy declaring
them all (each secret in its own environment variable, referenced as ``${VAR}``), and measures, against a
fresh IdP each time:

- the floor: ``benchmarks/scale_floor.py``, the minimal request set for issue 12's probe kinds, concurrent;
- the all-kinds floor: ``scale_floor.py --kinds plugin``, every distinct request of every probe kind the plugin
  sends at this fleet, once each, the same way: the plugin doing the same work as a raw-httpx script;
- ``pytest --authcheck --collect-only -q`` (collection alone);
- pytest alone for the same item count: a bare parametrized test, no IdP (pytest's own share of the time);
- ``pytest --authcheck`` (reports into a scratch folder), and with ``--workers W`` also ``pytest -n W``, whose
  result set must equal the serial one (``--forced-workers``: also with ``--authcheck-worker-targets 0``, the workers
  started where the plugin would run ``-n W`` in one process).

For each: wall time, requests counted at the IdP (its request log, by probe kind), peak RSS of the process
tree, report sizes, and the ratios against both floors; where a pytest run sends more requests of a kind than the
all-kinds floor, the notes list them (requests the plugin repeats). A run still going at ``--timeout`` is stopped
and reported with how far it got.

    .venv/bin/python benchmarks/bench_scale.py                    # N = 100 and 1000
    .venv/bin/python benchmarks/bench_scale.py --n 100 --workers 2 --repeat 3
    .venv/bin/python benchmarks/bench_scale.py --n 10000 --timeout 1800
    .venv/bin/python benchmarks/bench_scale.py --n 100 --latency 20      # a remote IdP: 20 ms round trip

Needs the project's setup (``scripts/setup``: the venv with the test extra, tests/idp/node_modules) and
Linux (/proc). Prints a Markdown table for the README's performance section; ``--json`` keeps the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from _latency import DelayingProxy  # noqa: E402
from _scale_log import Classifier, count_requests  # noqa: E402
from _scale_proc import Measured, run_measured  # noqa: E402
from _scale_setup import Fleet, idp_clients, make_fleet, policy_text  # noqa: E402

FLOOR = HERE / "scale_floor.py"
# issue 12's probe kinds, and every kind the plugin sends (scale_floor.py --kinds plugin)
ISSUE_FLOOR, ALL_FLOOR = "floor", "floor-all"
FLOORS = (ISSUE_FLOOR, ALL_FLOOR)
REPORTS = ("authcheck.html", "authcheck.json", "authcheck.sarif")
_PROGRESS = re.compile(r"^([.sFEXxR]+)\s*(?:\[\s*(\d+)%\])?\s*$")
_COLLECTED = re.compile(r"(\d+) tests? collected")
_XDIST_ITEMS = re.compile(r"\b\d+ workers \[(\d+) items?\]")
_PASSED = re.compile(r"(\d+) passed")
PYTEST_ALONE = "pytest alone"
ONE_PROCESS = "pytest --authcheck-no-probe-process"
# pytest's own floor: as many items as the authcheck run collects, each doing nothing, no fixture, no network
BARE_TEST = """
import os

import pytest


@pytest.mark.parametrize("i", range(int(os.environ["BENCH_ITEMS"])))
def test_bare(i):
    pass
"""


@dataclass
class RunResult:
    """One measured run of one command against a fresh IdP."""

    label: str
    seconds: float
    timed_out: bool
    returncode: int | None
    requests: int
    by_kind: dict[str, int]
    tls_refused: int
    peak_tree_rss: int
    peak_process_rss: int
    peak_tree_pss: int
    cpu_seconds: float
    load_after: float
    idp_startup: float
    #: tests collected / results reported (pytest runs), answers (floor)
    collected: int | None = None
    done: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    report_bytes: dict[str, int] = field(default_factory=dict)
    unexpected: int | None = None
    note: str = ""
    #: nodeid -> status (pytest runs with a JSON report); compared between serial and -n runs, not printed
    results: dict[str, str] = field(default_factory=dict, repr=False)


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        oidc = json.loads((ROOT / "tests/idp/node_modules/oidc-provider/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        oidc = "?"
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    return (f"{cores} cores ({cpu or platform.machine()}), {mem_kb / 2**20:.0f} GiB RAM, "
            f"Python {platform.python_version()}, node {node}, oidc-provider {oidc}, {platform.system()} "
            f"{platform.release()}; load average {load:.1f} at the start")


def base_env(fleet: Fleet) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(fleet.env)
    # progress lines reach the file as they happen, so a stopped run still says how far it got
    env["PYTHONUNBUFFERED"] = "1"
    return env


def progress(stdout: Path) -> tuple[int, int | None]:
    """(results printed so far, items the run announced) from pytest -q output."""
    done, items = 0, None
    try:
        text = stdout.read_text(errors="replace")
    except OSError:
        return 0, None
    for line in text.splitlines():
        if match := _PROGRESS.match(line.strip()):
            done += len(match.group(1))
        elif match := _XDIST_ITEMS.search(line):
            items = int(match.group(1))
    return done, items


def read_report(reports: Path) -> tuple[dict[str, str], dict[str, int]]:
    sizes = {name: (reports / name).stat().st_size for name in REPORTS if (reports / name).exists()}
    try:
        report = json.loads((reports / "authcheck.json").read_text())
        results = {r["nodeid"]: r["status"] for r in report.get("results", [])}
    except (OSError, ValueError, KeyError, TypeError):
        results = {}
    return results, sizes


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        from tests.idp.world import IdpWorld

        self.args = args
        self.work = work
        self.world = IdpWorld(work / "world")

    def close(self) -> None:
        self.world.stop_all()

    def measure(self, label: str, fleet: Fleet, classifier: Classifier, rep: int, items: int | None = None) -> RunResult:
        """Start a fresh IdP, run ``label``'s command against it, stop it, count what it served."""
        from tests.idp.world import IdpSpec

        n = len(fleet.clients)
        run_dir = self.work / f"n{n}" / f"{label.replace(' ', '_')}-{rep}"
        run_dir.mkdir(parents=True)
        if label == PYTEST_ALONE:
            return self.measure_pytest_alone(run_dir, fleet, items)
        # --latency: every run reaches the IdP through a proxy adding the round trip, which the IdP names as its issuer
        proxy = DelayingProxy(self.args.latency / 2000) if self.args.latency else None
        spec = IdpSpec(name=f"scale-{n}", clients=idp_clients(fleet), extra_config={"log_form_details": True},
                       claimed_issuer=f"https://127.0.0.1:{proxy.port}" if proxy else None)
        try:
            idp = self.world.start(spec, timeout=60 + n / 50)
        except BaseException:
            if proxy is not None:
                proxy.close()
            raise
        if proxy is not None:
            proxy.target = idp.port
        try:
            reports = run_dir / "reports"
            policy = run_dir / "authcheck.toml"
            policy.write_text(policy_text(fleet, issuer=idp.issuer, ca_bundle=idp.ca_pem_path, reports=reports,
                                          concurrency=self.args.concurrency))
            argv = self.argv(label, run_dir)
            print(f"  N={n} {label} (repeat {rep + 1}) ...", end="", file=sys.stderr, flush=True)
            measured = run_measured(argv, cwd=run_dir, env=base_env(fleet), out_dir=run_dir, name="run",
                                    timeout=self.args.timeout, grace=self.args.grace)
        finally:
            idp.stop()
            if proxy is not None:
                proxy.close()
        counted = count_requests(idp.log_path, classifier)
        result = RunResult(label=label, seconds=measured.seconds, timed_out=measured.timed_out,
                           returncode=measured.returncode, requests=counted.total, by_kind=dict(counted.by_kind),
                           tls_refused=counted.tls_refused, peak_tree_rss=measured.peak_tree_rss,
                           peak_process_rss=measured.peak_process_rss, peak_tree_pss=measured.peak_tree_pss,
                           cpu_seconds=measured.cpu_seconds,
                           load_after=measured.load_after, idp_startup=idp.startup_seconds)
        self.read_outcome(result, label, run_dir, measured)
        state = "TIMED OUT" if result.timed_out else f"exit {result.returncode}"
        print(f" {result.seconds:.1f} s ({result.cpu_seconds:.1f} s CPU), {result.requests} requests, {state}; "
              f"load average {result.load_after:.1f}", file=sys.stderr, flush=True)
        return result

    def measure_pytest_alone(self, run_dir: Path, fleet: Fleet, items: int | None) -> RunResult:
        """pytest's own cost for the item count the authcheck run collected: a bare parametrized test, the same
        interpreter and installed plugins (``-p no:cacheprovider`` as the other runs), no IdP."""
        result = RunResult(label=PYTEST_ALONE, seconds=0.0, timed_out=False, returncode=None, requests=0, by_kind={},
                           tls_refused=0, peak_tree_rss=0, peak_process_rss=0, peak_tree_pss=0, cpu_seconds=0.0, load_after=0.0,
                           idp_startup=0.0)
        if not items:
            result.note = "not run: the item count comes from the collect-only run"
            return result
        (run_dir / "test_bare.py").write_text(BARE_TEST)
        # the same environment as the authcheck run (the fleet's secrets): pytest sets PYTEST_CURRENT_TEST several
        # times per test, and each set costs in proportion to the environment's size (~38 us with 10,000 variables)
        env = base_env(fleet)
        env.update(BENCH_ITEMS=str(items))
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(run_dir / "test_bare.py")]
        print(f"  {PYTEST_ALONE} ({items} items) ...", end="", file=sys.stderr, flush=True)
        measured = run_measured(argv, cwd=run_dir, env=env, out_dir=run_dir, name="run", timeout=self.args.timeout,
                                grace=self.args.grace)
        result.seconds, result.timed_out, result.returncode = measured.seconds, measured.timed_out, measured.returncode
        result.peak_tree_rss, result.peak_process_rss = measured.peak_tree_rss, measured.peak_process_rss
        result.peak_tree_pss = measured.peak_tree_pss
        result.cpu_seconds, result.load_after = measured.cpu_seconds, measured.load_after
        if match := _PASSED.search(measured.stdout.read_text(errors="replace")):
            result.done = result.collected = int(match.group(1))
        print(f" {result.seconds:.1f} s ({result.cpu_seconds:.1f} s CPU)", file=sys.stderr, flush=True)
        return result

    def argv(self, label: str, run_dir: Path) -> list[str]:
        pytest = [sys.executable, "-m", "pytest", "--authcheck", "-q", "-p", "no:cacheprovider"]
        if label in FLOORS:
            return [sys.executable, str(FLOOR), "--policy", str(run_dir / "authcheck.toml"),
                    "--kinds", "plugin" if label == ALL_FLOOR else "issue",
                    "--threads", str(self.args.floor_threads), "--summary", str(run_dir / "floor.json")]
        if label == "collect-only":
            return [*pytest, "--collect-only", "--authcheck-reports", str(run_dir / "reports")]
        if label == "pytest":
            return [*pytest, "--authcheck-reports", str(run_dir / "reports")]
        # "pytest -n W", "pytest -n W --dist MODE" or "pytest -n W --authcheck-worker-targets 0"
        return [*pytest, *label.split()[1:], "--authcheck-reports", str(run_dir / "reports")]

    @staticmethod
    def read_outcome(result: RunResult, label: str, run_dir: Path, measured: Measured) -> None:
        if label in FLOORS:
            try:
                summary = json.loads((run_dir / "floor.json").read_text())
                result.done = summary["requests"]
                result.unexpected = sum(summary["unexpected"].values())
                # the floor knows what it sent: the IdP-side classification must say the same
                if summary["by_kind"] != result.by_kind:
                    result.note = (f"the request log's kinds {result.by_kind} differ from what the floor says it "
                                   f"sent {summary['by_kind']}")
            except (OSError, ValueError, KeyError):
                result.note = "no floor summary: " + measured.stderr.read_text(errors="replace")[-300:]
            return
        text = measured.stdout.read_text(errors="replace")
        if label == "collect-only":
            if match := _COLLECTED.search(text):
                result.collected = int(match.group(1))
            return
        results, sizes = read_report(run_dir / "reports")
        result.results = results
        result.report_bytes = sizes
        result.statuses = dict(Counter(results.values()))
        done, items = progress(measured.stdout)
        result.done = len(results) if results and not result.timed_out else done
        result.collected = items
        if result.returncode not in (0, 1) and not result.timed_out:
            last_line = text.strip().splitlines()[-1][:200] if text.strip() else ""
            result.note = f"pytest exited {result.returncode}: {last_line}"


# ---------------------------------------------------------------------------------------------------------------
# summaries


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Summary:
    label: str
    runs: list[RunResult]

    @property
    def timed_out(self) -> bool:
        return any(r.timed_out for r in self.runs)

    def med(self, attribute: str) -> float:
        return median([float(getattr(r, attribute)) for r in self.runs])

    def by_kind(self) -> dict[str, float]:
        kinds = {k for r in self.runs for k in r.by_kind}
        return {k: median([r.by_kind.get(k, 0) for r in self.runs]) for k in kinds}


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit == "GiB" else f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def ratio(a: float, b: float) -> str:
    if not b:
        return "–"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×"


def wall(s: Summary, timeout: float) -> str:
    if s.timed_out:
        return f"> {timeout:.0f} s (stopped)"
    return f"{s.med('seconds'):.1f} s" if s.med("seconds") < 100 else f"{s.med('seconds'):.0f} s"


def outcome(s: Summary, collected: int | None) -> str:
    last = s.runs[-1]
    if s.label in FLOORS:
        return f"{last.done} answers, {last.unexpected} unexpected" if last.done is not None else last.note
    if s.label == "collect-only":
        return f"{last.collected} tests collected" if last.collected is not None else "?"
    if s.label == PYTEST_ALONE:
        return f"{last.done} bare tests passed" if last.done is not None else last.note or "?"
    total = collected or last.collected
    if s.timed_out:
        share = f" ({100 * last.done / total:.1f}%)" if total and last.done is not None else ""
        return f"stopped after {last.done} of {total or '?'} tests{share}"
    parts = ", ".join(f"{v} {k}" for k, v in sorted(last.statuses.items()))
    return f"{len(last.results)} results: {parts}" + (f"; {last.note}" if last.note else "")


NAMES = {ISSUE_FLOOR: "floor script (raw httpx)", ALL_FLOOR: "floor, every kind the plugin sends (raw httpx)",
         "collect-only": "`pytest --authcheck --collect-only`", PYTEST_ALONE: "pytest alone, same item count",
         "pytest": "`pytest --authcheck`"}
# column heads of the per-kind table
SHORT = {ISSUE_FLOOR: "floor", ALL_FLOOR: "all-kinds floor"}


def name_of(label: str) -> str:
    return NAMES.get(label, f"`pytest --authcheck {label.removeprefix('pytest ')}`")


def against(value: float, attribute: str, bases: list[Summary | None], prefix: str = "") -> list[str]:
    """``value`` as a multiple of each base's median ``attribute`` ("–" where there is no base)."""
    return [prefix + ratio(value, base.med(attribute)) if base else "–" for base in bases]


def tables(results: dict[int, dict[str, Summary]], args: argparse.Namespace, machine_line: str) -> str:
    out = [f"Machine: {machine_line}." + (f" Every request reached the IdP through a proxy adding {args.latency:g} ms "
                                          "of round trip." if args.latency else "")
           + (f" The policy sets concurrency = {args.concurrency}." if args.concurrency else ""), "",
           "\"× floor\" is against issue 12's floor (its probe kinds), \"× all-kinds floor\" against the floor that sends "
           "every probe kind the plugin sends, once each.", "",
           "| N | run | wall time | × floor | × all-kinds floor | CPU time | × floor | × all-kinds floor "
           "| requests at the IdP | × floor | × all-kinds floor | peak RSS (process tree) | × floor | outcome |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for n, by_label in results.items():
        collected = by_label["collect-only"].runs[-1].collected if "collect-only" in by_label else None
        for label, s in by_label.items():
            secs, cpu, reqs, rss = s.med("seconds"), s.med("cpu_seconds"), s.med("requests"), s.med("peak_tree_rss")
            if s.timed_out:
                secs = args.timeout
            at_least = "≥ " if s.timed_out else ""
            # collection is a part of a pytest run, not an alternative to a floor: no ratio for it; the all-kinds floor
            # is shown against the issue's
            bases = [by_label.get(ISSUE_FLOOR) if label not in (ISSUE_FLOOR, "collect-only") else None,
                     by_label.get(ALL_FLOOR) if label not in (*FLOORS, "collect-only") else None]
            reqs_text = f"{reqs:,.0f}" + (" (so far)" if s.timed_out else "")
            cells = [wall(s, args.timeout), *against(secs, "seconds", bases, at_least), f"{cpu:.1f} s",
                     *against(cpu, "cpu_seconds", bases, at_least), reqs_text,
                     *(against(reqs, "requests", bases) if reqs and not s.timed_out else ["–"] * len(bases)),
                     human_bytes(rss), *against(rss, "peak_tree_rss", bases[:1]), outcome(s, collected)]
            out.append(f"| {n:,} | {name_of(label)} | " + " | ".join(cells) + " |")
    out += ["", "| N | IdP startup | collection | report sizes (HTML / JSON / SARIF) | largest single process "
            "| `pytest --authcheck` tree, PSS | `--authcheck-no-probe-process`: largest process, tree PSS |",
            "| ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for n, by_label in results.items():
        startup = median([r.idp_startup for label, s in by_label.items() if label != PYTEST_ALONE for r in s.runs])
        collect = by_label.get("collect-only")
        tool = by_label.get("pytest")
        # the sizes of a finished run's reports: the serial one's, else the parallel one's
        written = [s for label, s in by_label.items() if label.startswith("pytest") and s.runs[-1].report_bytes]
        sized = next((s for s in written if not s.timed_out), written[0] if written else None)
        sizes = " / ".join(human_bytes(sized.runs[-1].report_bytes[name]) if name in sized.runs[-1].report_bytes
                           else "–" for name in REPORTS) if sized else "–"
        if sized and sized.label != "pytest":
            sizes += f" ({sized.label}{', stopped' if sized.timed_out else ''})"
        biggest = human_bytes(tool.med("peak_process_rss")) if tool else "–"
        taken = human_bytes(tool.med("peak_tree_pss")) if tool else "–"
        pair = by_label.get(ONE_PROCESS)
        paired = (f"{human_bytes(pair.med('peak_process_rss'))}, {human_bytes(pair.med('peak_tree_pss'))}"
                  if pair else "–")
        out.append(f"| {n:,} | {startup:.2f} s | {wall(collect, args.timeout) if collect else '–'} | {sizes} | {biggest} "
                   f"| {taken} | {paired} |")
    for n, by_label in results.items():
        labels = [label for label in by_label if label not in ("collect-only", PYTEST_ALONE)]
        tools = [label for label in labels if label not in FLOORS]
        kinds = sorted({k for label in labels for k in by_label[label].by_kind()},
                       key=lambda k: (-max(by_label[label].by_kind().get(k, 0) for label in labels), k))
        out += ["", f"Requests by probe kind, N = {n:,} (counted at the IdP"
                + (", runs stopped at the time bound count what they sent until then" if any(
                    by_label[label].timed_out for label in labels) else "") + "):", "",
                "| probe kind | " + " | ".join(SHORT.get(label, label) for label in labels) + " | note |",
                "| --- | " + " | ".join("---:" for _ in labels) + " | --- |"]
        for kind in kinds:
            counts = [by_label[label].by_kind().get(kind, 0) for label in labels]
            out.append(f"| {kind} | " + " | ".join(f"{c:,.0f}" for c in counts) + f" | {kind_note(by_label, tools, kind)} |")
        totals = [by_label[label].med("requests") for label in labels]
        out.append("| **all requests** | " + " | ".join(f"**{t:,.0f}**" for t in totals) + " | |")
        refused = [by_label[label].runs[-1].tls_refused for label in labels]
        if any(refused):
            out.append("| (refused TLS handshakes, not requests) | " + " | ".join(str(r) for r in refused) + " | |")
    return "\n".join(out)


def kind_note(by_label: dict[str, Summary], tools: list[str], kind: str) -> str:
    """How the plugin's count of ``kind`` (its largest run) compares with each floor's."""
    plugin = max((by_label[label].by_kind().get(kind, 0) for label in tools), default=0)
    floor = by_label[ISSUE_FLOOR].by_kind().get(kind, 0) if ISSUE_FLOOR in by_label else None
    every = by_label[ALL_FLOOR].by_kind().get(kind, 0) if ALL_FLOOR in by_label else None
    notes = []
    if floor is not None and plugin:
        notes.append("not in the issue's floor" if not floor else
                     ratio(plugin, floor) + " the floor" if plugin > floor else "")
    if every is not None and tools and plugin != every:
        notes.append(f"the plugin sends {plugin - every:+,.0f} against the all-kinds floor")
    return "; ".join(note for note in notes if note)


def beyond_all_kinds(n: int, by_label: dict[str, Summary]) -> list[str]:
    """Where a pytest run's count differs from the all-kinds floor's: more is a request the plugin repeats (or a
    kind the floor misses), fewer a request the floor sends and the plugin does not."""
    if ALL_FLOOR not in by_label:
        return []
    every = by_label[ALL_FLOOR].by_kind()
    lines = []
    for label, s in by_label.items():
        if label in (*FLOORS, "collect-only", PYTEST_ALONE) or s.timed_out:
            continue
        mine = s.by_kind()
        diff = {k: mine.get(k, 0) - every.get(k, 0) for k in set(mine) | set(every) if mine.get(k, 0) != every.get(k, 0)}
        more = {k: d for k, d in diff.items() if d > 0}
        fewer = {k: -d for k, d in diff.items() if d < 0}
        if more:
            lines.append(f"N = {n:,}: {label} sends {sum(more.values()):,.0f} requests more than the all-kinds floor: "
                         + ", ".join(f"{k} +{d:,.0f}" for k, d in sorted(more.items(), key=lambda kv: -kv[1])))
        if fewer:
            lines.append(f"N = {n:,}: the all-kinds floor sends {sum(fewer.values()):,.0f} requests more than {label}: "
                         + ", ".join(f"{k} +{d:,.0f}" for k, d in sorted(fewer.items(), key=lambda kv: -kv[1])))
        if not diff:
            lines.append(f"N = {n:,}: {label} sends as many requests of every kind as the all-kinds floor")
    return lines


def compare_results(serial: Summary, parallel: Summary) -> list[str]:
    """Differences between the result sets of the serial run and another way of running it (``-n W``, the probe
    process; last repeat of each)."""
    a, b = serial.runs[-1].results, parallel.runs[-1].results
    stopped = [s.label for s in (serial, parallel) if s.timed_out]
    if stopped:
        return [f"result sets not compared: stopped at the time bound: {', '.join(stopped)}"]
    if not a or not b:
        return [f"result sets not compared: no JSON report from {serial.label if not a else parallel.label}"]
    notes = []
    missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    if missing or extra or differ:
        notes.append(f"RESULT SETS DIFFER ({parallel.label} vs {serial.label}): {len(missing)} missing, "
                     f"{len(extra)} extra, {len(differ)} with another status")
        notes += [f"  {k}: {a[k]} -> {b[k]}" for k in differ[:5]] + [f"  missing {k}" for k in missing[:5]]
    else:
        notes.append(f"{parallel.label}: the same {len(a)} results as {serial.label}")
    if parallel.med("seconds") > serial.med("seconds"):
        notes.append(f"SLOWER: {parallel.label} took {parallel.med('seconds'):.1f} s, "
                     f"{serial.label} {serial.med('seconds'):.1f} s")
    return notes


# ---------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000], metavar="N",
                        help="numbers of clients (default 100 1000; 10000 works too, give it a larger --timeout)")
    parser.add_argument("--workers", type=int, default=0, metavar="W",
                        help="also run pytest -n W (pytest-xdist) and compare it with the serial run")
    parser.add_argument("--one-process", action="store_true",
                        help="also run pytest --authcheck-no-probe-process (the probes from the tests' process, not "
                             "a second one) and compare it with the default run")
    parser.add_argument("--forced-workers", action="store_true",
                        help="with --workers: also run pytest -n W --authcheck-worker-targets 0 (the workers started "
                             "even where -n W runs in one process, the plugin finding them no quicker)")
    parser.add_argument("--dist", nargs="+", default=[], metavar="MODE",
                        help="with --workers: also run pytest -n W --dist MODE for each MODE (load, loadgroup, ...)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="runs of each command; medians are printed")
    parser.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                        help="bound on each run; a run still going is stopped and reported (default 600)")
    parser.add_argument("--grace", type=float, default=60, metavar="SECONDS",
                        help="after the bound, how long a stopped pytest may take to write its reports (default 60)")
    parser.add_argument("--floor-threads", type=int, default=16, help="concurrent requests of the floor (default 16)")
    parser.add_argument("--skip-pytest", action="store_true", help="only the floor and collection (a quick check)")
    parser.add_argument("--concurrency", type=int, metavar="K",
                        help="the policy's settings.concurrency (requests in flight per provider; default the plugin's)")
    parser.add_argument("--latency", type=float, default=0, metavar="MS",
                        help="reach the IdP through a proxy adding MS milliseconds of round trip (a remote IdP)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (logs, policies, reports)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every run's numbers here")
    args = parser.parse_args(argv)
    if any(n < 5 for n in args.n):
        parser.error("--n: at least 5 clients (one in five is a native app)")
    if args.repeat < 1 or args.timeout <= 0:
        parser.error("--repeat and --timeout must be positive")
    return args


def preflight() -> None:
    if not Path("/proc/self/stat").exists():
        raise SystemExit("bench_scale.py measures process trees through /proc: it runs on Linux only")
    if not (ROOT / "tests/idp/node_modules/oidc-provider").is_dir():
        raise SystemExit("the test IdP is not installed: run scripts/setup (or npm ci --prefix tests/idp) first")
    try:
        import httpx  # noqa: F401
        import trustme  # noqa: F401

        import pytest_authcheck  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"{e.name} is missing: run this with the project's venv (.venv/bin/python, after "
                         "scripts/setup)") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preflight()
    labels = [ISSUE_FLOOR, ALL_FLOOR, "collect-only"] + ([] if args.skip_pytest else [PYTEST_ALONE, "pytest"])
    if args.one_process and not args.skip_pytest:
        labels.append(ONE_PROCESS)
    if args.workers and not args.skip_pytest:
        labels.append(f"pytest -n {args.workers}")
        if args.forced_workers:
            labels.append(f"pytest -n {args.workers} --authcheck-worker-targets 0")
        labels += [f"pytest -n {args.workers} --dist {mode}" for mode in args.dist]
    machine_line = machine()
    print(f"machine: {machine_line}", file=sys.stderr)
    scratch = None
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.keep))
    else:
        scratch = tempfile.TemporaryDirectory(prefix="bench-scale-")
        work = Path(scratch.name)
    bench = Bench(args, work)
    results: dict[int, dict[str, Summary]] = {}
    notes: list[str] = []
    started = time.perf_counter()
    try:
        for n in args.n:
            fleet = make_fleet(n)
            classifier = Classifier(fleet)
            print(f"N = {n}: {len(fleet.services)} services, {len(fleet.apps)} native apps", file=sys.stderr)
            runs: dict[str, list[RunResult]] = {label: [] for label in labels}
            for rep in range(args.repeat):
                # interleaved (floor, collection, pytest, pytest -n) so a drift of the machine hits all alike
                for label in labels:
                    collected = runs["collect-only"][-1].collected if runs["collect-only"] else None
                    runs[label].append(bench.measure(label, fleet, classifier, rep, items=collected))
            results[n] = {label: Summary(label, rs) for label, rs in runs.items()}
            if "pytest" in results[n]:
                notes += [f"N = {n:,}: {line}" for label in labels if label.startswith("pytest -")
                          for line in compare_results(results[n]["pytest"], results[n][label])]
            notes += beyond_all_kinds(n, results[n])
            for label, s in results[n].items():
                if s.med("requests") and label == "collect-only":
                    notes.append(f"N = {n:,}: collection alone sent {s.med('requests'):.0f} requests")
                if label in FLOORS and s.runs[-1].note:
                    notes.append(f"N = {n:,}: {s.runs[-1].note}")
                if label in FLOORS and s.runs[-1].unexpected:
                    notes.append(f"N = {n:,}: {NAMES[label]} got {s.runs[-1].unexpected} unexpected answers "
                                 "(see its summary with --keep)")
    except KeyboardInterrupt:
        print("\ninterrupted: printing what was measured", file=sys.stderr)
    finally:
        bench.close()
    print(f"(benchmark took {time.perf_counter() - started:.0f} s"
          + (f"; work folder {work}" if args.keep else "") + ")", file=sys.stderr)
    print(tables(results, args, machine_line))
    if notes:
        print()
        print("\n".join(f"- {line}" for line in notes))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine_line, "args": {k: str(v) for k, v in vars(args).items()},
            "runs": {str(n): {label: [{k: v for k, v in asdict(r).items() if k != "results"} for r in s.runs]
                              for label, s in by_label.items()} for n, by_label in results.items()}}, indent=1))
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
