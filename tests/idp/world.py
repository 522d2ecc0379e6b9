"""Launch real OpenID Providers (oidc-provider on node) for pytest-authcheck's tests.

    with IdpWorld(tmp_path) as world:
        idp = world.start(VARIANTS["good"])
        httpx.get(idp.discovery_url,
                  verify=ssl.create_default_context(cafile=str(idp.ca_pem_path)))

Variants: ``VARIANTS[name]`` gives a fresh IdpSpec; each broken variant differs from
"good" only in its defect. See tests/idp/README.md for the node config keys.

Every IdP is one ``node tests/idp/server.js CONFIG.json`` process serving HTTPS on
127.0.0.1 (random port) with a certificate from the world's trustme CA. The node
dependencies must be installed first: ``npm ci --prefix tests/idp``.
"""

from __future__ import annotations

import atexit
import base64
import copy
import hashlib
import itertools
import json
import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.tls_certs import CERT_KINDS, issue_leaf

IDP_DIR = Path(__file__).resolve().parent
SERVER_JS = IDP_DIR / "server.js"
NODE_MODULES = IDP_DIR / "node_modules"
NPM_INSTALL_HINT = "npm ci --prefix tests/idp"

HOST = "127.0.0.1"

#: client_secret of the confidential client_credentials client ``ci-deployer``.
DEPLOYER_SECRET = "dpl_7Qm2vX9kLr4TzW8nHc3YbF6sJe1UaG5pKd0NxR"
#: client_secret of the confidential web client ``web-portal``.
WEB_PORTAL_SECRET = "wp_Hs8LqT2mZx6VcN4rJb9KfW3yPd7GaE1uQo5SiM0t"

DEFAULT_RESOURCE = "https://api.test"

#: JWK members that are private key material (RFC 7518 section 6).
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")



# ---------------------------------------------------------------------------------------
# keys


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_private_jwk(kid: str, bits: int = 2048, alg: str = "RS256") -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    jwk.pop("key_ops", None)  # PyJWT adds key_ops ["sign"]; keep the key usable by "use" alone
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def ec_private_jwk(kid: str, curve: str = "P-256", alg: str = "ES256") -> dict:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    key = ec.generate_private_key(curves[curve])
    jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    jwk.pop("key_ops", None)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def oct_jwk(kid: str = "hs-1", alg: str = "HS256", size: int = 32) -> dict:
    return {"kty": "oct", "kid": kid, "alg": alg, "use": "sig", "k": _b64u(os.urandom(size))}


# The members oidc-provider publishes for a key, in its order.
_PUBLIC_MEMBERS = {
    "RSA": ("kty", "use", "key_ops", "alg", "kid", "e", "n"),
    "EC": ("kty", "use", "key_ops", "alg", "kid", "crv", "x", "y"),
    "OKP": ("kty", "use", "key_ops", "alg", "kid", "crv", "x"),
}


def public_jwk(jwk: dict) -> dict:
    """The public form of a private JWK (what a JWKS should publish)."""
    members = _PUBLIC_MEMBERS.get(jwk["kty"])
    if members is None:
        raise ValueError(f"no public form for kty {jwk['kty']!r}")
    return {m: jwk[m] for m in members if m in jwk}


def public_jwks(keys: list[dict]) -> dict:
    return {"keys": [public_jwk(k) for k in keys]}


_key_lock = threading.Lock()
_key_cache: dict[str, Any] = {}


def _cached(name: str, make: Callable[[], Any]) -> Any:
    with _key_lock:
        if name not in _key_cache:
            _key_cache[name] = make()
        return copy.deepcopy(_key_cache[name])


def default_signing_keys() -> list[dict]:
    """RSA-2048 RS256 (kid "rsa-1") + EC P-256 ES256 (kid "ec-1"); generated once per process."""
    return _cached(
        "default",
        lambda: [rsa_private_jwk("rsa-1"), ec_private_jwk("ec-1")],
    )


def weak_rsa_jwk() -> dict:
    """A public RSA-1024 key (kid "rsa-weak"), generated once per process."""
    return _cached("weak-rsa", lambda: public_jwk(rsa_private_jwk("rsa-weak", bits=1024)))


def other_rsa_jwk(kid: str = "rsa-1") -> dict:
    """A public RSA-2048 key that is NOT the provider's signing key (same kid by default)."""
    jwk = _cached("other-rsa", lambda: public_jwk(rsa_private_jwk("rsa-1")))
    jwk["kid"] = kid
    return jwk


def symmetric_jwk() -> dict:
    return _cached("oct", lambda: oct_jwk("hs-1"))


# ---------------------------------------------------------------------------------------
# clients


def default_clients() -> list[dict]:
    """The good clients every IdP knows (oidc-provider client metadata)."""
    return [
        {
            "client_id": "ci-deployer",
            "client_secret": DEPLOYER_SECRET,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "deploy read",
        },
        {
            "client_id": "enclii-cli",
            "application_type": "native",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile email offline_access deploy read",
        },
        {
            "client_id": "web-portal",
            "client_secret": WEB_PORTAL_SECRET,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "redirect_uris": ["https://app.test/auth/callback"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email read",
        },
    ]


def _variant_of(client_id: str, new_id: str, **changes: Any) -> dict:
    """A copy of a default client under another client_id, with ``changes`` (its one defect)."""
    base = next(c for c in default_clients() if c["client_id"] == client_id)
    return {**copy.deepcopy(base), "client_id": new_id, **changes}


def client_matrix_clients() -> list[dict]:
    """The default (control) clients plus one broken client per client check; see README.md."""
    rt_portal = _variant_of("web-portal", "web-portal-rt", grant_types=["authorization_code", "refresh_token"],
                            scope="openid profile email offline_access")
    return [
        *default_clients(),
        rt_portal,
        # a client the policy lists as removed but the provider still knows
        _variant_of("web-portal", "legacy-portal"),
        _variant_of("ci-deployer", "ci-deployer-wide", scope="deploy read admin"),
        _variant_of("ci-deployer", "ci-deployer-long", access_token_ttl=8 * 3600),
        _variant_of("ci-deployer", "ci-deployer-8h", access_token_ttl=8 * 3600,
                    authcheck_defects=["understated-expires-in"]),
        _variant_of("web-portal", "web-portal-cc", grant_types=["authorization_code", "client_credentials"]),
        _variant_of("web-portal", "web-portal-implicit", grant_types=["authorization_code", "implicit"],
                    response_types=["code", "id_token token"]),
        _variant_of("web-portal", "web-portal-prefix", authcheck_defects=["redirect-prefix-match"]),
        {**copy.deepcopy(rt_portal), "client_id": "web-portal-norevoke", "authcheck_defects": ["revocation-ignored"]},
        _variant_of("enclii-cli", "cli-pkce-optional", authcheck_defects=["pkce-optional"]),
        _variant_of("enclii-cli", "cli-exact-port", authcheck_defects=["loopback-exact-port"]),
        _variant_of("enclii-cli", "cli-no-rotation", authcheck_defects=["no-refresh-rotation"]),
        _variant_of("enclii-cli", "cli-long-refresh", refresh_token_ttl=90 * 24 * 3600),
        _variant_of("enclii-cli", "cli-pkce-plain", authcheck_defects=["pkce-plain-accepted"]),
        _variant_of("enclii-cli", "cli-verifier-ignored", authcheck_defects=["verifier-not-enforced"]),
        _variant_of("web-portal", "web-portal-open-redirect", authcheck_defects=["open-redirect"]),
        _variant_of("enclii-cli", "cli-state-raw", authcheck_defects=["state-raw"]),
        _variant_of("web-portal", "web-portal-introspector", authcheck_defects=["introspects-others"]),
        _variant_of("enclii-cli", "cli-revocation-secret", authcheck_defects=["revocation-needs-secret"]),
        _variant_of("enclii-cli", "cli-sliding-refresh", authcheck_defects=["sliding-refresh"]),
        # answers 200 to its revocations and revokes nothing (the public client's own test, not in the matrix)
        _variant_of("enclii-cli", "cli-norevoke", authcheck_defects=["revocation-ignored"]),
    ]


def client_matrix_spec() -> IdpSpec:
    """The good IdP with the broken clients registered beside the controls; implicit is enabled at the
    provider (for the one client registered for it), so only the clients differ."""
    return IdpSpec(name="clients", clients=client_matrix_clients(),
                   extra_config={"response_types": ["code", "id_token token"]})


# ---------------------------------------------------------------------------------------
# specs


@dataclass
class IdpSpec:
    """One configuration of the IdP, good or deliberately broken."""

    name: str = "good"
    issuer_path: str = ""
    #: issuer the provider claims (discovery, tokens); "{base}" = https://127.0.0.1:PORT
    claimed_issuer: str | None = None
    #: private JWKs the provider signs with; None = default_signing_keys()
    signing_keys: list[dict] | None = None
    #: when set, the jwks_uri answers exactly this JSON
    published_jwks: dict | None = None
    #: shallow-merged into the discovery documents; None removes a member.
    #: Placeholders in strings: {base}, {http_base}, {port}, {issuer}
    metadata_overrides: dict = field(default_factory=dict)
    #: the same, applied after metadata_overrides to the OpenID discovery document only
    openid_metadata_overrides: dict = field(default_factory=dict)
    #: the same, applied after metadata_overrides to the RFC 8414 document only
    rfc8414_metadata_overrides: dict = field(default_factory=dict)
    #: serve plain http (no TLS) instead of https; {base} is then http://127.0.0.1:PORT
    plain_http: bool = False
    #: False: the RFC 8414 document is not served (404), as at most providers
    serve_rfc8414: bool = True
    clock_skew_seconds: int = 0
    #: good | expired | expiring | untrusted | wrong-host
    cert: str = "good"
    tls_min_version: str = "TLSv1.2"
    #: oidc-provider client metadata; None = default_clients()
    clients: list[dict] | None = None
    access_token_ttl_seconds: int = 600
    default_resource: str = DEFAULT_RESOURCE
    #: extra keys merged into the node config as they are (cors, resource_servers, ...)
    extra_config: dict = field(default_factory=dict)


@dataclass
class RunningIdp:
    spec: IdpSpec
    issuer: str
    base_url: str
    port: int
    #: the trust anchor a client must use (the world's trustme CA)
    ca_pem_path: Path
    log_path: Path
    config_path: Path
    process: subprocess.Popen = field(repr=False)
    startup_seconds: float = 0.0

    @property
    def served_issuer(self) -> str:
        """The issuer URL the provider is really served at (differs from ``issuer`` only
        when the spec has a ``claimed_issuer``)."""
        return self.base_url + _normalize_path(self.spec.issuer_path)

    @property
    def discovery_url(self) -> str:
        """Where the OpenID discovery document is really served."""
        return self.served_issuer + "/.well-known/openid-configuration"

    @property
    def rfc8414_url(self) -> str:
        """Where the RFC 8414 document is served (well-known segment before the path)."""
        return self.base_url + "/.well-known/oauth-authorization-server" + _normalize_path(self.spec.issuer_path)

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


def _normalize_path(path: str) -> str:
    path = (path or "").strip()
    if not path or path == "/":
        return ""
    return ("/" + path.lstrip("/")).rstrip("/")


# ---------------------------------------------------------------------------------------
# the variants: each broken one differs from "good" only in its defect


def _good() -> IdpSpec:
    return IdpSpec(name="good")


def _issuer_mismatch() -> IdpSpec:
    return IdpSpec(name="issuer-mismatch", claimed_issuer="{base}/other")


def _weak_rsa_key() -> IdpSpec:
    keys = default_signing_keys()
    jwks = public_jwks(keys)
    jwks["keys"].append(weak_rsa_jwk())
    return IdpSpec(name="weak-rsa-key", published_jwks=jwks)


def _duplicate_kid() -> IdpSpec:
    jwks = public_jwks(default_signing_keys())
    jwks["keys"].append(other_rsa_jwk("rsa-1"))
    return IdpSpec(name="duplicate-kid", published_jwks=jwks)


def _private_key_published() -> IdpSpec:
    # the provider's own signing keys, private members (d, p, q, dp, dq, qi) included
    return IdpSpec(name="private-key-published", published_jwks={"keys": default_signing_keys()})


def _symmetric_key_published() -> IdpSpec:
    jwks = public_jwks(default_signing_keys())
    jwks["keys"].append(symmetric_jwk())
    return IdpSpec(name="symmetric-key-published", published_jwks=jwks)


#: what oidc-provider 9 advertises with the default keys (checked by the smoke tests)
GOOD_ID_TOKEN_ALGS = ["RS256", "ES256"]


def _alg_none_advertised() -> IdpSpec:
    return IdpSpec(
        name="alg-none-advertised",
        metadata_overrides={"id_token_signing_alg_values_supported": [*GOOD_ID_TOKEN_ALGS, "none"]},
    )


def _http_endpoint() -> IdpSpec:
    return IdpSpec(name="http-endpoint", metadata_overrides={"token_endpoint": "{http_base}/token"})


def _missing_signing_key() -> IdpSpec:
    return IdpSpec(
        name="missing-signing-key",
        metadata_overrides={
            "id_token_signing_alg_values_supported": [*GOOD_ID_TOKEN_ALGS, "ES384", "PS512"]
        },
    )


def _dead_registration_endpoint() -> IdpSpec:
    # registration is not enabled at the provider: POST /reg answers 404
    return IdpSpec(name="dead-registration-endpoint", metadata_overrides={"registration_endpoint": "{base}/reg"})


def _openid_scopes_unadvertised() -> IdpSpec:
    # the OpenID scopes the policy's clients use (openid, profile) left out; leaving out the API's own
    # scopes (deploy, read) is allowed and must not fail
    return IdpSpec(name="openid-scopes-unadvertised", metadata_overrides={"scopes_supported": ["email", "offline_access"]})


def _cert(kind: str) -> Callable[[], IdpSpec]:
    return lambda: IdpSpec(name=f"{kind}-cert", cert=kind)


VARIANT_FACTORIES: dict[str, Callable[[], IdpSpec]] = {
    "good": _good,
    "issuer-mismatch": _issuer_mismatch,
    "weak-rsa-key": _weak_rsa_key,
    "duplicate-kid": _duplicate_kid,
    "private-key-published": _private_key_published,
    "symmetric-key-published": _symmetric_key_published,
    "alg-none-advertised": _alg_none_advertised,
    "http-endpoint": _http_endpoint,
    "expired-cert": _cert("expired"),
    "expiring-cert": _cert("expiring"),
    "untrusted-cert": _cert("untrusted"),
    "wrong-host-cert": _cert("wrong-host"),
    "skewed-clock": lambda: IdpSpec(name="skewed-clock", clock_skew_seconds=600),
    "missing-signing-key": _missing_signing_key,
    "legacy-tls": lambda: IdpSpec(name="legacy-tls", tls_min_version="TLSv1"),
    "dead-registration-endpoint": _dead_registration_endpoint,
    "openid-scopes-unadvertised": _openid_scopes_unadvertised,
}


class _Variants(Mapping[str, IdpSpec]):
    """name -> a fresh IdpSpec (keys are generated lazily, once per process)."""

    def __getitem__(self, name: str) -> IdpSpec:
        return VARIANT_FACTORIES[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(VARIANT_FACTORIES)

    def __len__(self) -> int:
        return len(VARIANT_FACTORIES)


VARIANTS: Mapping[str, IdpSpec] = _Variants()


# ---------------------------------------------------------------------------------------
# processes

_live: "weakref.WeakSet[subprocess.Popen]" = weakref.WeakSet()
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
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream:
                stream.close()
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


class IdpError(RuntimeError):
    pass


class IdpWorld:
    """One trustme CA, a work directory and the IdPs started in it.

    A context manager; ``stop_all()`` kills every node process it started.
    """

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="authcheck test world CA")
        self.ca_pem_path = self.workdir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem_path))
        self._other_ca: trustme.CA | None = None
        self._cert_files: dict[str, tuple[Path, Path]] = {}
        self._counter = itertools.count(1)
        self.idps: list[RunningIdp] = []
        self._lock = threading.Lock()

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> "IdpWorld":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    # -- certificates ------------------------------------------------------------------
    @property
    def other_ca_pem_path(self) -> Path:
        """The CA that issued the ``untrusted`` certificate (NOT the world's trust anchor)."""
        self._cert_paths("untrusted")
        return self.workdir / "other-ca.pem"

    def _cert_paths(self, kind: str) -> tuple[Path, Path]:
        if kind not in CERT_KINDS:
            raise ValueError(f"unknown cert kind {kind!r}; one of {CERT_KINDS}")
        with self._lock:
            if kind in self._cert_files:
                return self._cert_files[kind]
            ca = self.ca
            if kind == "untrusted":
                if self._other_ca is None:
                    self._other_ca = trustme.CA(organization_name="some other CA")
                    self._other_ca.cert_pem.write_to_path(str(self.workdir / "other-ca.pem"))
                ca = self._other_ca
            leaf = issue_leaf(ca, kind, [HOST, "localhost"], wrong_host="idp.invalid")
            cert_path = self.workdir / f"cert-{kind}.pem"
            key_path = self.workdir / f"cert-{kind}.key"
            # chain: leaf + (no intermediates); clients trust the CA file
            cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            leaf.private_key_pem.write_to_path(str(key_path))
            self._cert_files[kind] = (cert_path, key_path)
            return cert_path, key_path

    # -- IdPs --------------------------------------------------------------------------
    def node_config(self, spec: IdpSpec, run_dir: Path) -> dict:
        cert_path, key_path = self._cert_paths(spec.cert)
        config: dict[str, Any] = {
            "host": HOST,
            "port": 0,
            "tls": {"cert": str(cert_path), "key": str(key_path), "min_version": spec.tls_min_version},
            "issuer_path": spec.issuer_path,
            "claimed_issuer": spec.claimed_issuer,
            "signing_keys": spec.signing_keys if spec.signing_keys is not None else default_signing_keys(),
            "published_jwks": spec.published_jwks,
            "metadata_overrides": spec.metadata_overrides,
            "openid_metadata_overrides": spec.openid_metadata_overrides,
            "rfc8414_metadata_overrides": spec.rfc8414_metadata_overrides,
            "plain_http": spec.plain_http,
            "serve_rfc8414": spec.serve_rfc8414,
            "clock_skew_seconds": spec.clock_skew_seconds,
            "clients": spec.clients if spec.clients is not None else default_clients(),
            "access_token_ttl_seconds": spec.access_token_ttl_seconds,
            "default_resource": spec.default_resource,
            "cookie_keys": [_b64u(os.urandom(32))],
            "exit_on_stdin_close": True,
        }
        config.update(spec.extra_config)
        return config

    def start(self, spec: IdpSpec, timeout: float = 20) -> RunningIdp:
        if not (NODE_MODULES / "oidc-provider").is_dir():
            raise IdpError(
                f"{NODE_MODULES} is missing: install the test IdP's node dependencies "
                f"first with `{NPM_INSTALL_HINT}` (from the repository root)"
            )
        node = shutil.which("node")
        if node is None:
            raise IdpError("node (>= 20) is not on PATH; the test IdP needs it")

        n = next(self._counter)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in spec.name)
        run_dir = self.workdir / f"idp-{n:02d}-{safe}"
        run_dir.mkdir(parents=True, exist_ok=True)
        config_path = run_dir / "config.json"
        config_path.write_text(json.dumps(self.node_config(spec, run_dir), indent=2))
        log_path = run_dir / "idp.log"

        started = time.monotonic()
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [node, str(SERVER_JS), str(config_path)],
                cwd=str(IDP_DIR),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env={**os.environ, "NODE_ENV": "test"},
                start_new_session=True,
            )
        with _live_lock:
            _live.add(proc)
        try:
            ready = self._wait_ready(proc, log_path, timeout, spec)
        except BaseException:
            _terminate(proc)
            raise
        idp = RunningIdp(
            spec=spec,
            issuer=ready["issuer"],
            base_url=ready["base_url"],
            port=int(ready["port"]),
            ca_pem_path=self.ca_pem_path,
            log_path=log_path,
            config_path=config_path,
            process=proc,
            startup_seconds=time.monotonic() - started,
        )
        with self._lock:
            self.idps.append(idp)
        return idp

    @staticmethod
    def _wait_ready(proc: subprocess.Popen, log_path: Path, timeout: float, spec: IdpSpec) -> dict:
        lines: "queue.Queue[bytes | None]" = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    lines.put(line)
            except (OSError, ValueError):
                pass
            lines.put(None)

        threading.Thread(target=pump, name=f"idp-stdout-{proc.pid}", daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IdpError(
                    f"IdP {spec.name!r} not ready after {timeout}s; log tail:\n{_tail(log_path)}"
                )
            try:
                line = lines.get(timeout=min(remaining, 0.25))
            except queue.Empty:
                continue
            if line is None:
                code = proc.wait(timeout=5)
                raise IdpError(
                    f"IdP {spec.name!r} exited (code {code}) before it was ready; "
                    f"log tail:\n{_tail(log_path)}"
                )
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("ready"):
                return msg

    def stop_all(self) -> None:
        with self._lock:
            idps, self.idps = self.idps, []
        for idp in idps:
            idp.stop()


# ---------------------------------------------------------------------------------------
# driving the login form (oidc-provider devInteractions)

_FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"', re.I)
_HIDDEN_INPUT = re.compile(r'<input[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"', re.I)


def pkce_pair(verifier: str | None = None) -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = verifier or _b64u(os.urandom(32))
    challenge = _b64u(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def run_authorization_code_flow(
    idp: RunningIdp,
    *,
    client_id: str = "enclii-cli",
    client_secret: str | None = None,
    redirect_uri: str = "http://127.0.0.1/callback",
    scope: str = "openid profile email",
    login: str = "alice",
    extra_params: dict | None = None,
    max_steps: int = 12,
) -> dict:
    """Log in through the dev interaction pages (any login/password is accepted) and
    exchange the code with PKCE S256. Returns the token endpoint's JSON plus
    ``"_callback"`` (the parsed callback query) and ``"_discovery"``."""
    import httpx  # local: only tests need it

    verifier, challenge = pkce_pair()
    ctx = ssl.create_default_context(cafile=str(idp.ca_pem_path))
    with httpx.Client(verify=ctx, timeout=10, follow_redirects=False) as http:
        meta = http.get(idp.discovery_url).raise_for_status().json()
        params = {
            "client_id": client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": redirect_uri,
            "state": _b64u(os.urandom(9)),
            "nonce": _b64u(os.urandom(9)),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **(extra_params or {}),
        }
        response = http.get(meta["authorization_endpoint"], params=params)
        callback = None
        for _ in range(max_steps):
            if response.status_code in (302, 303):
                location = urllib.parse.urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri.split("?")[0].rstrip("/")):
                    callback = location
                    break
                response = http.get(location)
            elif response.status_code == 200 and (action := _FORM_ACTION.search(response.text)):
                data = dict(_HIDDEN_INPUT.findall(response.text))
                if 'name="login"' in response.text:
                    data.update(login=login, password="any")
                response = http.post(urllib.parse.urljoin(str(response.url), action.group(1)), data=data)
            else:
                raise IdpError(f"unexpected {response.status_code} at {response.url}: {response.text[:500]}")
        if callback is None:
            raise IdpError(f"no redirect to {redirect_uri} after {max_steps} steps")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        if "code" not in query:
            raise IdpError(f"authorization failed: {query}")
        form = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = None
        if client_secret is None:
            form["client_id"] = client_id
        else:
            auth = (client_id, client_secret)
        token = http.post(meta["token_endpoint"], data=form, auth=auth)
        if token.status_code != 200:
            raise IdpError(f"token endpoint answered {token.status_code}: {token.text}")
        return {**token.json(), "_callback": query, "_discovery": meta}


__all__ = [
    "CERT_KINDS",
    "DEFAULT_RESOURCE",
    "DEPLOYER_SECRET",
    "GOOD_ID_TOKEN_ALGS",
    "IdpError",
    "IdpSpec",
    "IdpWorld",
    "NPM_INSTALL_HINT",
    "RunningIdp",
    "VARIANTS",
    "VARIANT_FACTORIES",
    "WEB_PORTAL_SECRET",
    "client_matrix_clients",
    "client_matrix_spec",
    "default_clients",
    "default_signing_keys",
    "public_jwk",
    "pkce_pair",
    "public_jwks",
    "run_authorization_code_flow",
]
