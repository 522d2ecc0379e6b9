"""Launch a real LemonLDAP::NG portal with its OpenID Connect provider for pytest-authcheck's tests.

    with start(tmp_path) as llng:
        httpx.get(llng.discovery_url, verify=ssl.create_default_context(cafile=str(llng.ca_pem_path)))

LemonLDAP::NG comes from Debian's packages (``liblemonldap-ng-portal-perl``, installed by scripts/setup).
Its portal is a PSGI application (``/usr/share/lemonldap-ng/portal/htdocs/index.psgi``); here Plack's own
server (``plackup -s HTTP::Server::PSGI``, from ``libplack-perl``) runs it over TLS with a trustme
certificate for 127.0.0.1, one process on a free port. Everything LemonLDAP::NG reads or writes lives in
the run directory: ``lemonldap-ng.ini`` (pointed at by ``LLNG_DEFAULTCONFFILE``), the File configuration
backend's ``conf/lmConf-1.json``, the session, persistent-session and cache directories. Nothing under
/etc or /var/lib is used, so any number of portals can run side by side.

Authentication is LemonLDAP::NG's Demo backend: users dwho, rtyler, msmith, each with the password equal
to the login. The Relying Parties declared (see ``relying_parties``) are the matrix the tests audit.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "127.0.0.1"
PORTAL_PSGI = Path("/usr/share/lemonldap-ng/portal/htdocs/index.psgi")
TEMPLATE_DIR = Path("/usr/share/lemonldap-ng/portal/templates")
#: Debian packages: the portal, and the modules its OIDC provider and its always-loaded captcha need, which
#: Debian lists only as Recommends (the install here is --no-install-recommends). scripts/setup installs them.
DEBIAN_PACKAGES = ("liblemonldap-ng-portal-perl", "libstring-random-perl", "libio-string-perl",
                   "libgd-securityimage-perl", "libimage-magick-perl")
PERL_MODULES = ("Lemonldap::NG::Portal::Main", "String::Random", "IO::String", "GD::SecurityImage", "Image::Magick",
                "HTTP::Server::PSGI", "IO::Socket::SSL")
INSTALL_HINT = ("LemonLDAP::NG is not installed: run scripts/setup as root (it runs `apt-get install "
                "--no-install-recommends " + " ".join(DEBIAN_PACKAGES) + "`)")

#: client_secret of the confidential client_credentials client ``ci-deployer``.
DEPLOYER_SECRET = "llng_dpl_Vq3Tz8Kx2Lm7Rw4Np9Hs6Jd1Bf5Gc0Ye"
#: client_secret of the confidential web client ``web-portal``.
WEB_PORTAL_SECRET = "llng_wp_Mz5Qr2Xt8Wn4Kv7Lp1Hc9Jb3Dg6Fs0Ay"
#: the Demo backend's accounts: login = password.
TEST_USER = ("dwho", "dwho")
OTHER_USERS = ("rtyler", "msmith")

NATIVE_REDIRECT = "http://127.0.0.1/callback"
WEB_REDIRECT = "https://app.test/auth/callback"
ACCESS_TOKEN_SECONDS = 600
ID_TOKEN_SECONDS = 600
OFFLINE_SESSION_SECONDS = 7 * 24 * 3600


def missing() -> list[str]:
    """What of LemonLDAP::NG's portal, its Perl modules and Plack's server is not on this machine."""
    absent = [str(PORTAL_PSGI)] if not PORTAL_PSGI.is_file() else []
    for tool in ("perl", "plackup"):
        if shutil.which(tool) is None:
            absent.append(tool)
    if shutil.which("perl") is not None:
        for module in PERL_MODULES:
            if subprocess.run(["perl", f"-M{module}", "-e1"], capture_output=True, timeout=60).returncode != 0:
                absent.append(module)
    return absent


def installed() -> bool:
    """Whether everything the portal needs is on this machine."""
    return not missing()


def relying_parties() -> dict[str, dict[str, Any]]:
    """The RPs declared in the portal's configuration (LemonLDAP::NG option names), by configuration key.

    - ``ci-deployer``: confidential, client_credentials only, scopes ``deploy read``;
    - ``web-portal``: confidential web RP, authorization code with PKCE required, refresh tokens;
    - ``enclii-cli``: public native RP, loopback redirect URI, PKCE required, refresh tokens.
    """
    common = {
        "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
        "oidcRPMetaDataOptionsAccessTokenExpiration": ACCESS_TOKEN_SECONDS,
        "oidcRPMetaDataOptionsIDTokenExpiration": ID_TOKEN_SECONDS,
        "oidcRPMetaDataOptionsBypassConsent": 1,
        "oidcRPMetaDataOptionsUserIDAttr": "uid",
    }
    return {
        "ci-deployer": {
            **common,
            "oidcRPMetaDataOptionsClientID": "ci-deployer",
            "oidcRPMetaDataOptionsClientSecret": DEPLOYER_SECRET,
            "oidcRPMetaDataOptionsPublic": 0,
            "oidcRPMetaDataOptionsAllowClientCredentialsGrant": 1,
            "oidcRPMetaDataOptionsRedirectUris": "",
        },
        "web-portal": {
            **common,
            "oidcRPMetaDataOptionsClientID": "web-portal",
            "oidcRPMetaDataOptionsClientSecret": WEB_PORTAL_SECRET,
            "oidcRPMetaDataOptionsPublic": 0,
            "oidcRPMetaDataOptionsRequirePKCE": 1,
            "oidcRPMetaDataOptionsRefreshToken": 1,
            "oidcRPMetaDataOptionsAllowOffline": 1,
            "oidcRPMetaDataOptionsOfflineSessionExpiration": OFFLINE_SESSION_SECONDS,
            "oidcRPMetaDataOptionsRedirectUris": WEB_REDIRECT,
        },
        "enclii-cli": {
            **common,
            "oidcRPMetaDataOptionsClientID": "enclii-cli",
            "oidcRPMetaDataOptionsPublic": 1,
            "oidcRPMetaDataOptionsRequirePKCE": 1,
            "oidcRPMetaDataOptionsRefreshToken": 1,
            "oidcRPMetaDataOptionsAllowOffline": 1,
            "oidcRPMetaDataOptionsOfflineSessionExpiration": OFFLINE_SESSION_SECONDS,
            "oidcRPMetaDataOptionsRedirectUris": NATIVE_REDIRECT,
        },
    }


def _claims() -> dict[str, str]:
    # OIDC claim -> Demo user attribute
    return {"email": "mail", "name": "cn", "preferred_username": "uid"}


def portal_config(base_url: str, run_dir: Path, signing_key_pem: str, signing_pub_pem: str) -> dict[str, Any]:
    """lmConf-1.json: the portal at ``base_url``, Demo authentication, the OIDC provider and its RPs."""
    sessions, psessions = run_dir / "sessions", run_dir / "psessions"
    rps = relying_parties()
    return {
        "cfgNum": 1,
        "cfgAuthor": "pytest-authcheck tests",
        "cfgDate": str(int(time.time())),
        "cfgVersion": "2.16.1",
        "portal": base_url + "/",
        "domain": HOST,
        "cookieName": "lemonldap",
        "securedCookie": 1,
        "httpOnly": 1,
        "authentication": "Demo",
        "userDB": "Same",
        "passwordDB": "Demo",
        "registerDB": "Null",
        "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
        "exportedVars": {},
        "macros": {},
        "groups": {},
        "whatToTrace": "uid",
        "notification": 0,
        "loginHistoryEnabled": 0,
        "portalSkin": "bootstrap",
        "timeout": 3600,
        "globalStorage": "Apache::Session::File",
        "globalStorageOptions": {
            "Directory": str(sessions),
            "LockDirectory": str(sessions / "lock"),
            "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256",
        },
        "persistentStorage": "Apache::Session::File",
        "persistentStorageOptions": {"Directory": str(psessions), "LockDirectory": str(psessions / "lock")},
        "localSessionStorage": "Cache::FileCache",
        "localSessionStorageOptions": {
            "cache_root": str(run_dir / "cache"),
            "cache_depth": 3,
            "default_expires_in": 600,
            "directory_umask": "007",
            "namespace": "lemonldap-ng-sessions",
        },
        "locationRules": {HOST: {"default": "accept"}},
        "exportedHeaders": {},
        # the OpenID Connect provider
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServiceMetaDataIssuer": base_url,
        "oidcServicePrivateKeySig": signing_key_pem,
        "oidcServicePublicKeySig": signing_pub_pem,
        "oidcServiceKeyIdSig": "llng-rsa-1",
        "oidcServiceAllowAuthorizationCodeFlow": 1,
        "oidcServiceAllowImplicitFlow": 0,
        "oidcServiceAllowHybridFlow": 0,
        "oidcServiceAllowDynamicRegistration": 0,
        "oidcServiceAllowOnlyDeclaredScopes": 1,
        "oidcServiceAccessTokenExpiration": ACCESS_TOKEN_SECONDS,
        "oidcServiceIDTokenExpiration": ID_TOKEN_SECONDS,
        "oidcServiceAuthorizationCodeExpiration": 60,
        "oidcServiceOfflineSessionExpiration": OFFLINE_SESSION_SECONDS,
        "oidcRPMetaDataOptions": rps,
        "oidcRPMetaDataExportedVars": {rp: _claims() for rp in rps},
        "oidcRPMetaDataScopeRules": {"ci-deployer": {"deploy": "1", "read": "1"}},
        "oidcRPMetaDataOptionsExtraClaims": {},
    }


def portal_ini(run_dir: Path) -> str:
    """lemonldap-ng.ini: the File configuration backend and the caches in ``run_dir``, logs to stderr."""
    return f"""\
[all]
logLevel = {os.environ.get("LLNG_TEST_LOGLEVEL", "notice")}
logger = Lemonldap::NG::Common::Logger::Std
userLogger = Lemonldap::NG::Common::Logger::Std

[configuration]
type = File
dirName = {run_dir / "conf"}
localStorage = Cache::FileCache
localStorageOptions = {{ 'namespace' => 'lemonldap-ng-config', 'default_expires_in' => 600, \\
    'directory_umask' => '007', 'cache_root' => '{run_dir / "cache"}', 'cache_depth' => 3 }}

[portal]
templateDir = {TEMPLATE_DIR}
staticPrefix = /static
languages = en

[handler]
status = 0
"""


# ---------------------------------------------------------------------------------------
# processes

_live: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()
_live_lock = threading.Lock()


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
        except ProcessLookupError:
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
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        except Exception:
            pass


class LlngError(RuntimeError):
    pass


def _free_port() -> int:
    # The portal's URL (and so the issuer) is in its configuration before it starts: a port is chosen here
    # and the start retried on the rare race where someone else takes it meanwhile.
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _head_errors(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join([line for line in text if "[debug]" not in line][:lines])


@dataclass
class RunningLlng:
    """One running portal."""

    base_url: str
    port: int
    run_dir: Path
    #: the trust anchor a client must use (a trustme CA made for this portal)
    ca_pem_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    startup_seconds: float = 0.0

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def test_user(self) -> tuple[str, str]:
        return TEST_USER

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_pem_path))

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        _terminate(self.process)

    def __enter__(self) -> RunningLlng:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_run_dir(run_dir: Path, base_url: str) -> tuple[Path, Path, Path]:
    for sub in ("conf", "sessions/lock", "psessions/lock", "cache"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="authcheck LemonLDAP::NG test CA")
    ca_pem = run_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    leaf = ca.issue_cert(HOST)
    cert_path, key_path = run_dir / "tls-cert.pem", run_dir / "tls-key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_path))

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    conf = portal_config(base_url, run_dir, key_pem, pub_pem)
    (run_dir / "conf" / "lmConf-1.json").write_text(json.dumps(conf, indent=1))
    ini = run_dir / "lemonldap-ng.ini"
    ini.write_text(portal_ini(run_dir))
    return ca_pem, cert_path, key_path


def start(run_dir: Path, *, timeout: float = 60.0) -> RunningLlng:
    """Configure a portal in ``run_dir`` and start it on a free port of 127.0.0.1 over TLS."""
    absent = missing()
    if absent:
        raise LlngError(f"{INSTALL_HINT}; missing: {', '.join(absent)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _attempt in range(3):
        port = _free_port()
        base_url = f"https://{HOST}:{port}"
        ca_pem, cert_path, key_path = _write_run_dir(run_dir, base_url)
        log_path = run_dir / "portal.log"
        started = time.monotonic()
        env = {**os.environ, "LLNG_DEFAULTCONFFILE": str(run_dir / "lemonldap-ng.ini"), "PLACK_ENV": "deployment"}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["plackup", "-s", "HTTP::Server::PSGI", "--host", HOST, "--port", str(port),
                 "--ssl", "1", "--ssl-key-file", str(key_path), "--ssl-cert-file", str(cert_path),
                 "-a", str(PORTAL_PSGI)],
                cwd=str(run_dir), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)
        with _live_lock:
            _live.add(proc)
        llng = RunningLlng(base_url=base_url, port=port, run_dir=run_dir, ca_pem_path=ca_pem, log_path=log_path,
                           process=proc)
        try:
            _wait_ready(llng, timeout)
        except LlngError as exc:
            _terminate(proc)
            last_error = exc
            if "Address already in use" in _tail(log_path):
                continue
            raise
        llng.startup_seconds = time.monotonic() - started
        return llng
    raise LlngError(f"the portal could not get a port: {last_error}")


def _wait_ready(llng: RunningLlng, timeout: float) -> None:
    ctx = llng.ssl_context()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not llng.running:
            raise LlngError(f"the portal exited (code {llng.process.returncode}); log tail:\n"
                            f"{_tail(llng.log_path)}")
        # A portal whose configuration does not load keeps answering 500: no use waiting for it.
        if "Initialization failed:" in llng.log_text():
            raise LlngError(f"the portal could not load its configuration; log:\n{_head_errors(llng.log_path)}")
        try:
            with urllib.request.urlopen(llng.discovery_url, context=ctx, timeout=5) as answer:
                if answer.status == 200 and json.loads(answer.read()).get("issuer") == llng.issuer:
                    return
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise LlngError(f"the portal was not ready after {timeout}s; log tail:\n{_tail(llng.log_path)}")


__all__ = [
    "DEPLOYER_SECRET",
    "DEBIAN_PACKAGES",
    "INSTALL_HINT",
    "LlngError",
    "NATIVE_REDIRECT",
    "RunningLlng",
    "TEST_USER",
    "WEB_PORTAL_SECRET",
    "WEB_REDIRECT",
    "installed",
    "missing",
    "portal_config",
    "relying_parties",
    "start",
]
