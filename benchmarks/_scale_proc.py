"""Run one command as a measured process: wall time, peak memory of its whole process tree, a time bound.

Linux only (reads /proc). The command gets its own session, so its process group is its tree (pytest, its xdist
workers, the plugin's prober); the peak is the largest sum of their resident sets seen by sampling every 0.1 s, and
the largest sum of their proportional sets (PSS: a page several processes share counts a share in each, so a forked
process's pages it still shares with its parent are not counted twice), beside the kernel's own figure for the
largest single process (``wait4``'s ``ru_maxrss``). A command still running at the
bound gets SIGINT (pytest then stops and writes what it has), then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    argv: list[str]
    seconds: float
    returncode: int | None
    timed_out: bool
    #: largest sum of the resident sets of the process group, sampled (bytes)
    peak_tree_rss: int
    #: largest single process of the tree: the highest VmHWM sampled (bytes)
    peak_process_rss: int
    #: largest sum of the proportional set sizes of the process group, sampled (bytes): what the tree takes
    peak_tree_pss: int
    #: user + system CPU seconds of the tree (the kernel's, for every process it reaped): on a shared machine
    #: this moves far less than the wall time when other work competes for the cores
    cpu_seconds: float
    #: the 1-minute load average when the run ended
    load_after: float
    stdout: Path
    stderr: Path


def _group_memory(pgid: int) -> tuple[int, int, int]:
    """(the sum of the group's resident sets, the highest high-water mark of one of its processes, the sum of their
    proportional sets), in bytes."""
    total = highest = proportional = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            # the command name may hold spaces and parentheses: the fields start after the last ')'
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry.name}/status", "rb") as f:
                status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            total += int(status[b"VmRSS"].split()[0]) * 1024
            highest = max(highest, int(status[b"VmHWM"].split()[0]) * 1024)
            with open(f"/proc/{entry.name}/smaps_rollup", "rb") as f:
                proportional += next(int(line.split()[1]) for line in f if line.startswith(b"Pss:")) * 1024
        except (OSError, ValueError, IndexError, KeyError, StopIteration):
            continue
    return total, highest, proportional


def run_measured(argv: list[str], *, cwd: Path, env: dict[str, str], out_dir: Path, name: str,
                 timeout: float, grace: float = 30.0) -> Measured:
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{name}.out", out_dir / f"{name}.err"
    peak = highest = peak_pss = 0
    done = threading.Event()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)

        def sample() -> None:
            nonlocal peak, highest, peak_pss
            while not done.is_set():
                total, process, proportional = _group_memory(proc.pid)
                peak, highest, peak_pss = max(peak, total), max(highest, process), max(peak_pss, proportional)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, name=f"rss-{name}", daemon=True)
        sampler.start()
        timed_out = False
        status = None
        rusage = None
        deadline = started + timeout
        while status is None:
            pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rusage = raw, usage
                break
            now = time.perf_counter()
            if now >= deadline and not timed_out:
                timed_out = True
                _signal_group(proc.pid, signal.SIGINT)
                deadline = now + grace
            elif now >= deadline:
                _signal_group(proc.pid, signal.SIGKILL)
                deadline = now + 3600
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        # leftovers of the group (an xdist worker whose controller died) must not outlive the run
        _signal_group(proc.pid, signal.SIGKILL)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(argv=argv, seconds=seconds, returncode=proc.returncode, timed_out=timed_out,
                    peak_tree_rss=peak, peak_process_rss=highest, peak_tree_pss=peak_pss,
                    cpu_seconds=(rusage.ru_utime + rusage.ru_stime if rusage else 0.0), load_after=os.getloadavg()[0],
                    stdout=stdout, stderr=stderr)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
