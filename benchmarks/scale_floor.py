"""The floor: the fewest requests that answer a set of probe kinds, sent the way a well-written client would.

Reads the same authcheck.toml as ``pytest --authcheck`` (secrets from the ``${VAR}`` it names) and, per OIDC
provider, sends once each, over one shared connection pool from a bounded thread pool, the discovery document
first, then the probes of ``--kinds``:

``issue`` (the default): issue 12's probe kinds

- provider: the RFC 8414 document, the JWKS;
- every confidential client with a secret and client_credentials: the right secret, a wrong secret, an
  out-of-policy scope, an undeclared grant (password);
- every client with redirect URIs: its registered redirect URI, a loopback URI on another port (native
  apps), an unregistered URI, a suffix-appended and a ``..`` traversal variant, no PKCE, plain PKCE,
  ``response_type=token``.

``plugin``: every probe kind ``pytest --authcheck`` sends without a signed-in user, each distinct request once
(``_floor_plugin.py`` lists them, and what is left out: whatever needs a test user's login, which the benchmark's
fleet does not have). What one answer calls for next (the token of the declared request to introspect, a second
opinion on an ambiguous refusal) is queued on the same pool when that answer arrives.

Each answer is read and judged in the simplest way (token issued or not, error page or redirect), so the floor
does real work, not fire-and-forget. It is the lower bound ``benchmarks/bench_scale.py`` compares the
plugin with, not a replacement for it.

    python benchmarks/scale_floor.py --policy authcheck.toml [--kinds plugin] [--threads 16] [--summary out.json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import ssl
import sys
import threading
import time
import tomllib
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
from _floor_base import (  # the probe values _scale_log.py reads from here too
    LOOPBACK_PROBE_PORT,
    MADE_UP_SCOPE,
    UNREGISTERED,
    Probe,
    authz_proceeds,
    authz_refused,
    error_of,
    not_sent_to,
    pkce_challenge,
    resolve,
    token_issued,
)
from _floor_plugin import Handshake, handshakes, plugin_probes


def provider_probes(meta: dict[str, Any], base: str, issuer_path: str) -> list[Probe]:
    rfc8414 = base + "/.well-known/oauth-authorization-server" + issuer_path
    return [
        Probe("RFC 8414 metadata", lambda h: h.get(rfc8414), lambda r: r.status_code == 200),
        Probe("JWKS", lambda h: h.get(meta["jwks_uri"]), lambda r: r.status_code == 200 and "keys" in r.json()),
    ]


def service_probes(client: dict[str, Any], token_endpoint: str) -> list[Probe]:
    cid, secret = resolve(client["client_id"]), resolve(client["client_secret"])
    scope = " ".join(s for s in client.get("scopes", []) if s != "openid")
    base = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}

    def post(form: dict[str, str], password: str = secret) -> Callable[[httpx.Client], httpx.Response]:
        return lambda h: h.post(token_endpoint, data=form, auth=(cid, password))

    def scope_refused(r: httpx.Response) -> bool:
        if not token_issued(r):
            return True
        granted = r.json().get("scope")
        return isinstance(granted, str) and MADE_UP_SCOPE not in granted.split()

    return [
        Probe("token: right secret", post(base), token_issued),
        Probe("token: wrong secret", post(base, secret + "-wrong"), lambda r: error_of(r) == "invalid_client"),
        Probe("token: out-of-policy scope", post({**base, "scope": f"{scope} {MADE_UP_SCOPE}".strip()}), scope_refused),
        Probe("token: undeclared grant", post({"grant_type": "password", "username": "authcheck-nobody",
                                               "password": "authcheck-not-a-password"}),
              lambda r: not token_issued(r) and error_of(r) not in (None, "invalid_grant")),
    ]


def redirect_probes(client: dict[str, Any], authorization_endpoint: str) -> list[Probe]:
    cid = resolve(client["client_id"])
    registered = client["redirect_uris"][0]
    scope = " ".join(client.get("scopes", [])) or "openid"
    parts = urllib.parse.urlsplit(registered)
    native_loopback = (client.get("application") == "native" and parts.scheme == "http"
                       and parts.hostname in ("127.0.0.1", "localhost", "::1"))

    def authz(**changes: str | None) -> Callable[[httpx.Client], httpx.Response]:
        verifier = secrets.token_urlsafe(32)
        params: dict[str, str | None] = {"response_type": "code", "client_id": cid, "redirect_uri": registered,
                                         "scope": scope, "state": secrets.token_urlsafe(9),
                                         "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
        params.update(changes)
        query = {k: v for k, v in params.items() if v is not None}
        return lambda h: h.get(authorization_endpoint, params=query)

    path = parts.path or "/"
    suffix = urllib.parse.urlunsplit(parts._replace(path=path + "x"))
    traversal = urllib.parse.urlunsplit(parts._replace(path=path.rstrip("/") + "/../authcheck"))
    probes = [
        Probe("authz: registered redirect URI", authz(), authz_proceeds(registered)),
        Probe("authz: unregistered redirect URI", authz(redirect_uri=UNREGISTERED), not_sent_to(UNREGISTERED)),
        Probe("authz: redirect URI + suffix", authz(redirect_uri=suffix), not_sent_to(suffix)),
        Probe("authz: redirect URI + '..' traversal", authz(redirect_uri=traversal), not_sent_to(traversal)),
        Probe("authz: no PKCE", authz(code_challenge=None, code_challenge_method=None), authz_refused(registered)),
        Probe("authz: plain PKCE", authz(code_challenge=secrets.token_urlsafe(32), code_challenge_method="plain"),
              authz_refused(registered)),
        Probe("authz: response_type=token", authz(response_type="token"), authz_refused(registered)),
    ]
    if native_loopback:
        moved = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.hostname}:{LOOPBACK_PROBE_PORT}"))
        probes.insert(1, Probe("authz: loopback on another port", authz(redirect_uri=moved), authz_proceeds(moved)))
    return probes


def load_policy(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def ca_bundle(policy: dict[str, Any], policy_path: Path) -> str | None:
    bundle = policy.get("settings", {}).get("ca_bundle")
    return str((policy_path.parent / resolve(bundle)).resolve()) if bundle else None


def ssl_context(policy: dict[str, Any], policy_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    bundle = ca_bundle(policy, policy_path)
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


def issue_probes(policy: dict[str, Any], name: str, meta: dict[str, Any], base: str, issuer_path: str) -> list[Probe]:
    probes = provider_probes(meta, base, issuer_path)
    for client in policy.get("clients", {}).values():
        if client.get("provider") != name or client.get("state", "active") != "active":
            continue
        if client.get("client_secret") and "client_credentials" in client.get("grant_types", []):
            probes += service_probes(client, meta["token_endpoint"])
        if client.get("redirect_uris"):
            probes += redirect_probes(client, meta["authorization_endpoint"])
    return probes


def run(policy_path: Path, threads: int, kinds: str = "issue") -> dict[str, Any]:
    policy = load_policy(policy_path)
    context = ssl_context(policy, policy_path)
    sent: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    shaken: Counter[str] = Counter()
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    # No cookie jar: every accepted authorization request sets interaction cookies, and one shared jar that
    # keeps them all is searched on every later request (quadratic at thousands of probes); the probes are
    # independent and never continue a login.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(verify=context, timeout=30, limits=limits, follow_redirects=False,
                      cookies=no_cookies) as http, \
            ThreadPoolExecutor(max_workers=threads) as pool:
        pending: list[Future[None]] = []

        def submit(job: Callable[[], None]) -> None:
            with lock:
                pending.append(pool.submit(job))

        def fire(probe: Probe) -> None:
            follow: list[Probe] = []
            try:
                response = probe.send(http)
                ok = probe.judge(response)
                follow = probe.then(response) if probe.then else []
            except (httpx.HTTPError, ValueError):
                ok = False
            with lock:
                sent[probe.kind] += 1
                if not ok:
                    wrong[probe.kind] += 1
            # queued before this job ends, so waiting for every queued job waits for them too
            for p in follow:
                submit(partial(fire, p))

        def shake(handshake: Handshake) -> None:
            try:
                ok = handshake.run()
            except OSError:
                ok = False
            with lock:
                shaken[handshake.kind] += 1
                if not ok:
                    wrong[handshake.kind] += 1

        for name, provider in policy.get("providers", {}).items():
            if provider.get("kind") != "oidc":
                continue
            issuer = resolve(provider["issuer"]).rstrip("/")
            split = urllib.parse.urlsplit(issuer)
            base, issuer_path = f"{split.scheme}://{split.netloc}", split.path.rstrip("/")
            # discovery first: every other probe needs an endpoint from it
            response = http.get(issuer + "/.well-known/openid-configuration")
            sent["discovery"] += 1
            meta = response.json()
            if response.status_code != 200 or meta.get("issuer") != issuer:
                wrong["discovery"] += 1
            if kinds == "plugin":
                probes = plugin_probes(policy, name, provider, meta, issuer, base, issuer_path)
                for handshake in handshakes(issuer, ca_bundle(policy, policy_path)):
                    submit(partial(shake, handshake))
            else:
                probes = issue_probes(policy, name, meta, base, issuer_path)
            for probe in probes:
                submit(partial(fire, probe))
        while True:
            with lock:
                if not pending:
                    break
                future = pending.pop()
            future.result()
    return {"kinds": kinds, "requests": sum(sent.values()), "by_kind": dict(sent), "unexpected": dict(wrong),
            "handshakes": dict(shaken)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=Path("authcheck.toml"))
    parser.add_argument("--threads", type=int, default=16, help="concurrent requests (default 16)")
    parser.add_argument("--kinds", choices=("issue", "plugin"), default="issue",
                        help="issue: issue 12's probe kinds (default); plugin: every kind pytest --authcheck sends")
    parser.add_argument("--summary", type=Path, help="write the counts as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = run(args.policy, args.threads, args.kinds)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=1))
    print(f"{summary['requests']} requests in {summary['seconds']:.2f} s; "
          f"unexpected answers: {sum(summary['unexpected'].values())}")
    for kind, count in sorted(summary["by_kind"].items()):
        bad = summary["unexpected"].get(kind, 0)
        print(f"  {kind:40} {count:6}" + (f"  ({bad} unexpected)" if bad else ""))
    for kind, count in sorted(summary["handshakes"].items()):
        bad = summary["unexpected"].get(kind, 0)
        print(f"  {kind:40} {count:6} (handshakes, not requests)" + (f"  ({bad} unexpected)" if bad else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
