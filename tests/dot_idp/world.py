"""Launch a real django-oauth-toolkit (DOT) OpenID Provider for pytest-authcheck's tests.

    with DotWorld(tmp_path) as world:
        dot = world.start()
        httpx.get(dot.discovery_url, verify=ssl.create_default_context(cafile=str(dot.ca_pem_path)))

One ``python -m tests.dot_idp.serve`` process per provider: Django + DOT with the library's defaults (see
settings.py), a fresh SQLite database in the world's directory, uvicorn serving HTTPS on 127.0.0.1 (random
port) with a certificate from the world's trustme CA. Login is Django's stock form at /accounts/login/.

DOT registers one grant type per application (``authorization_grant_type``); an authorization-code
application may also refresh its tokens (DOT maps refresh_token to every grant but implicit), and no
application can hold both authorization_code and client_credentials. The clients below follow that model.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

TEST_USERNAME = "alice"
TEST_PASSWORD = "alice-dot-password-5821"
#: client_secret of the confidential client_credentials application ``ci-deployer``
DEPLOYER_SECRET = "dot_dpl_R7kQ2mVx9LzT4wHc8nYb3FsJe6UaG1pKd5"
#: client_secret of the confidential authorization-code application ``web-portal``
WEB_PORTAL_SECRET = "dot_wp_Ls3QxT8mZh2VcN7rJb4KfW9yPd1GaE6uQo0S"

WEB_REDIRECT_URI = "https://app.test/auth/callback"
NATIVE_REDIRECT_URI = "http://127.0.0.1/callback"


def applications() -> list[dict[str, Any]]:
    """DOT Application rows (model fields); every field not named keeps the model's default
    (hash_client_secret=True, skip_authorization=False, a generated secret for the public client)."""
    return [
        {"name": "CI deployer", "client_id": "ci-deployer", "client_secret": DEPLOYER_SECRET,
         "client_type": "confidential", "authorization_grant_type": "client-credentials"},
        {"name": "Web portal", "client_id": "web-portal", "client_secret": WEB_PORTAL_SECRET,
         "client_type": "confidential", "authorization_grant_type": "authorization-code",
         "redirect_uris": WEB_REDIRECT_URI, "algorithm": "RS256"},
        {"name": "Enclii CLI", "client_id": "enclii-cli", "client_type": "public",
         "authorization_grant_type": "authorization-code", "redirect_uris": NATIVE_REDIRECT_URI,
         "algorithm": "RS256"},
    ]


class DotError(RuntimeError):
    pass


@dataclass
class RunningDot:
    issuer: str
    base_url: str
    port: int
    ca_pem_path: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    startup_seconds: float = 0.0

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_pem_path))

    def stop(self) -> None:
        _terminate(self.process)


_live: weakref.WeakSet[subprocess.Popen] = weakref.WeakSet()
_live_lock = threading.Lock()


def _terminate(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass
    if proc.stdin:
        try:
            proc.stdin.close()
        except OSError:
            pass
    with _live_lock:
        _live.discard(proc)


@atexit.register
def _kill_all_at_exit() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        try:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        except Exception:
            pass


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DotWorld:
    """A trustme CA, a work directory and the DOT providers started in it; a context manager that stops them."""

    def __init__(self, workdir: Path, ca: trustme.CA | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = ca or trustme.CA(organization_name="authcheck DOT test CA")
        self.ca_pem_path = self.workdir / "dot-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem_path))
        leaf = self.ca.issue_cert(HOST)
        self.cert_path = self.workdir / "dot-cert.pem"
        self.key_path = self.workdir / "dot-cert.key"
        self.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(self.key_path))
        self.providers: list[RunningDot] = []
        self._count = 0

    def __enter__(self) -> DotWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, timeout: float = 60) -> RunningDot:
        self._count += 1
        run_dir = self.workdir / f"dot-{self._count:02d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((HOST, 0))
        listener.listen(128)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        config = {
            "fd": listener.fileno(),
            "tls_cert": str(self.cert_path),
            "tls_key": str(self.key_path),
            "database": str(run_dir / "db.sqlite3"),
            "users": [{"username": TEST_USERNAME, "password": TEST_PASSWORD, "email": "alice@example.test"}],
            "applications": applications(),
        }
        config_path = run_dir / "config.json"
        config_path.write_text(json.dumps(config, indent=2))
        config_path.chmod(0o600)
        log_path = run_dir / "dot.log"
        started = time.monotonic()
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen([sys.executable, "-m", "tests.dot_idp.serve", str(config_path)],
                                        cwd=str(REPO_ROOT), stdin=subprocess.PIPE, stdout=log, stderr=log,
                                        pass_fds=(listener.fileno(),), start_new_session=True,
                                        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        finally:
            listener.close()
        with _live_lock:
            _live.add(proc)
        base_url = f"https://{HOST}:{port}"
        dot = RunningDot(issuer=base_url + "/o", base_url=base_url, port=port, ca_pem_path=self.ca_pem_path,
                         log_path=log_path, process=proc)
        try:
            self._wait_ready(dot, timeout)
        except BaseException:
            _terminate(proc)
            raise
        dot.startup_seconds = time.monotonic() - started
        self.providers.append(dot)
        return dot

    @staticmethod
    def _wait_ready(dot: RunningDot, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        context = dot.ssl_context()
        while True:
            if dot.process.poll() is not None:
                raise DotError(f"the DOT provider exited (code {dot.process.returncode}) before it was ready; "
                               f"log tail:\n{_tail(dot.log_path)}")
            try:
                if httpx.get(dot.discovery_url, verify=context, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DotError(f"the DOT provider was not ready after {timeout}s; log tail:\n{_tail(dot.log_path)}")
            time.sleep(0.1)

    def stop_all(self) -> None:
        providers, self.providers = self.providers, []
        for dot in providers:
            dot.stop()


def start(workdir: Path) -> tuple[DotWorld, RunningDot]:
    """A world and its one provider (stop both with ``world.stop_all()``)."""
    world = DotWorld(workdir)
    return world, world.start()
