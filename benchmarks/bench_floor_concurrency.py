"""What concurrency costs a Python HTTP client: the all-kinds floor's requests, sent K at a time by threads or by one
event loop, CPU per request.

    .venv/bin/python benchmarks/bench_floor_concurrency.py                      # 1,000 clients: threads and asyncio, 1 and 8
    .venv/bin/python benchmarks/bench_floor_concurrency.py --n 100 --runs threads:1 async:8

Starts the test IdP (`tests/idp`) with N generated clients (`_scale_setup.py`, as `bench_scale.py`), then, each in a
fresh interpreter against that IdP, sends every request `scale_floor.py --kinds plugin` sends (without its TLS
handshakes) with httpx: `threads:K` on a pool of K threads sharing one `httpx.Client`, `async:K` from K tasks on one
asyncio loop sharing one `httpx.AsyncClient`. Prints, per run, the requests sent, the answers not as expected, wall
time and the process's CPU time per request. The plugin's prefetch sends its probes on threads; this says what an
event loop would change, on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from _floor_base import Probe, resolve  # noqa: E402
from _floor_plugin import plugin_probes  # noqa: E402
from _scale_setup import idp_clients, make_fleet, policy_text  # noqa: E402
from scale_floor import load_policy, ssl_context  # noqa: E402

DEFAULT_RUNS = ("threads:1", "threads:8", "async:1", "async:8")


def _no_cookies() -> CookieJar:
    # as scale_floor.py: one shared jar of every interaction cookie would be searched on every request
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _chain(probe: Probe, send: Callable[[Probe], httpx.Response], tally: list[int]) -> None:
    todo = [probe]
    while todo:
        probe = todo.pop()
        response = send(probe)
        tally[0] += 1
        tally[1] += not probe.judge(response)
        if probe.then:
            todo += probe.then(response)


def send_all(policy_path: Path, mode: str, in_flight: int) -> str:
    """Send the floor's probes ``in_flight`` at a time (``mode``: threads or async); a line of figures."""
    policy = load_policy(policy_path)
    context = ssl_context(policy, policy_path)
    name, provider = next((n, p) for n, p in policy["providers"].items() if p.get("kind") == "oidc")
    issuer = resolve(provider["issuer"]).rstrip("/")
    split = urllib.parse.urlsplit(issuer)
    settings: dict[str, Any] = dict(verify=context, timeout=30, follow_redirects=False, cookies=_no_cookies(),
                                    limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight))
    with httpx.Client(**settings) as http:
        meta = http.get(issuer + "/.well-known/openid-configuration").json()
    probes = plugin_probes(policy, name, provider, meta, issuer, f"{split.scheme}://{split.netloc}",
                           split.path.rstrip("/"))
    tally = [0, 0]  # sent, not as expected
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "threads":
        with httpx.Client(**settings) as http, ThreadPoolExecutor(max_workers=in_flight) as pool:
            list(pool.map(lambda probe: _chain(probe, lambda p: p.send(http), tally), probes))
    else:
        asyncio.run(_send_async(probes, settings, in_flight, tally))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return (f"{mode}:{in_flight}: {tally[0]} requests, {tally[1]} not as expected, wall {wall:.1f} s, CPU {cpu:.1f} s, "
            f"{1000 * cpu / max(tally[0], 1):.3f} ms of CPU a request")


async def _send_async(probes: list[Probe], settings: dict[str, Any], in_flight: int, tally: list[int]) -> None:
    queue = list(reversed(probes))
    async with httpx.AsyncClient(**settings) as http:
        async def worker() -> None:
            while queue:
                todo = [queue.pop()]
                while todo:
                    probe = todo.pop()
                    response = await probe.send(http)  # type: ignore[misc]  # an AsyncClient's call is awaited
                    tally[0] += 1
                    tally[1] += not probe.judge(response)
                    if probe.then:
                        todo += probe.then(response)
        await asyncio.gather(*(worker() for _ in range(in_flight)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="clients (default 1000)")
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="MODE:K, MODE threads or async")
    parser.add_argument("--child", nargs=3, metavar=("POLICY", "MODE", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(send_all(Path(args.child[0]), args.child[1], int(args.child[2])), flush=True)
        return 0
    for run in args.runs:
        mode, _, count = run.partition(":")
        if mode not in ("threads", "async") or not count.isdigit() or int(count) < 1:
            parser.error(f"--runs: {run!r} is not threads:K or async:K")
    from tests.idp.world import IdpSpec, IdpWorld

    fleet = make_fleet(args.n)
    with tempfile.TemporaryDirectory(prefix="floor-concurrency-") as scratch:
        out = Path(scratch)
        idp = IdpWorld(out / "world").start(IdpSpec(name=f"s{args.n}", clients=idp_clients(fleet)),
                                            timeout=60 + args.n / 50)
        try:
            policy = out / "authcheck.toml"
            policy.write_text(policy_text(fleet, issuer=idp.issuer, ca_bundle=idp.ca_pem_path, reports=out / "reports"))
            env = {**os.environ, **fleet.env}
            print(f"N = {args.n}: {os.cpu_count()} cores, Python {sys.version.split()[0]}, httpx {httpx.__version__}",
                  flush=True)
            for run in args.runs:
                mode, _, count = run.partition(":")
                subprocess.run([sys.executable, __file__, "--child", str(policy), mode, count], env=env, check=True)
        finally:
            idp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
