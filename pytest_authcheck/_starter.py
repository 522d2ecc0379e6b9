"""``pytest --authcheck-init URL``: a starter policy from what a provider says about itself.

It reads an OpenID Provider's discovery document (``_starter_oidc``) or, with an auditor account, a Jamf Pro
server's API clients, roles and privileges (``_starter_jamf``), and writes a commented ``authcheck.toml``: strict
defaults, and the observed facts marked ``observed: review`` (they say what the system does today, not what it
should do). It never writes a secret: credentials appear only as ``${VARIABLE}`` references. Every request goes
through the project's HTTP layer (verified TLS, timeouts, size cap, redaction), and credentials only to the URL's
own origin.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from . import _toml_out as toml
from ._bounds import clip, printable
from ._confine import Confinement, Destinations
from ._errors import AuthcheckError
from ._http import HttpClient
from ._net import is_loopback, origin
from ._redact import Redactor, Secret
from .policy.load import POLICY_FILE, ca_bundle_problem

KINDS = ("auto", "oidc", "jamf")
TIMEOUT = 10.0
COMMENT_COLUMN = 44
_NAME_CHARS = re.compile(r"[^a-z0-9]+")


class StarterError(AuthcheckError):
    """The starter policy cannot be written; the message says why and what to do."""


@dataclass(frozen=True)
class Options:
    """What ``--authcheck-init`` was given."""

    url: str
    out: Path
    kind: str = "auto"
    ca_bundle: Path | None = None
    force: bool = False
    user_var: str = "JAMF_AUDIT_USER"
    password_var: str = "JAMF_AUDIT_PASSWORD"


@dataclass
class Policy:
    """The lines of the starter policy and what the user should know about it."""

    lines: list[str] = field(default_factory=list)
    to_review: int = 0
    summary: str = ""

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def comment(self, *texts: str) -> None:
        """Comment lines (hostile text from a server is made printable and bounded first)."""
        for text in texts:
            self.lines.append("# " + safe(text) if text else "#")

    def table(self, header: str, note: str = "") -> None:
        self.blank()
        self.lines.append(header + (f"  # {safe(note)}" if note else ""))

    def key(self, name: str, value: Any, note: str = "", *, observed: bool = False, commented: bool = False) -> None:
        """``name = value``, with a note after it; ``observed`` marks the value for review."""
        line = ("# " if commented else "") + toml.assignment(name, value)
        if observed:
            self.to_review += 1
            note = "observed: review" + (f"; {note}" if note else "")
        if note:
            line = line.ljust(COMMENT_COLUMN - 2) + "  # " + safe(note)
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def safe(text: str, limit: int = 300) -> str:
    """Server-supplied text fit for a TOML comment: one printable line, bounded."""
    return clip(printable(str(text)), limit, limit // 3)


def policy_name(text: str, taken: Iterable[str] = ()) -> str:
    """A policy name (letters, digits, '-') from a display name, distinct from the names ``taken``."""
    base = _NAME_CHARS.sub("-", text.lower()).strip("-")[:40].strip("-") or "client"
    taken = set(taken)
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


def env_name(*parts: str) -> str:
    """An environment variable name from words: ``JAMFMCP_CLIENT_SECRET``."""
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_") or "SECRET"


def http_client(url: str, ca_bundle: Path | None, secrets: Sequence[Secret] = ()) -> HttpClient:
    """The project's HTTP client, allowed to send credentials to ``url``'s origin only."""
    scope = "providers.init"
    confinement = Confinement({scope: Destinations(scope, frozenset({origin(url)}), http_loopback=True)}, secrets)
    return HttpClient(redactor=Redactor(secrets), timeout=TIMEOUT, ca_bundle=ca_bundle, retries=1, id_prefix="init",
                      confinement=confinement)


def check_url(url: str) -> str:
    """``url`` as given, or ``StarterError`` when it is not an https URL (or http on a loopback host)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise StarterError(f"{url!r} is not an https URL of an OpenID issuer or a Jamf Pro server")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise StarterError(f"{url} is plain http: credentials and tokens would travel unencrypted; give the https URL")
    if parts.username or parts.password:
        raise StarterError("the URL holds credentials: give them through environment variables, never in a URL")
    return url.strip()


def header(policy: Policy, options: Options, what: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    policy.comment(f"authcheck.toml: a starter policy for {what},",
                   f"written by pytest --authcheck-init (pytest-authcheck {__version__}) on {now}.",
                   "",
                   "pytest --authcheck holds the systems below to what this file says. Values marked 'observed: review'",
                   "were read from the server: they describe what it does today, not necessarily what it should do.",
                   "Tighten them where they allow more than you need. Every key is described in docs/policy.md.",
                   "No secret is written here: credentials are ${VARIABLE} references, read from the environment.",
                   "Then run: pytest --authcheck   (reports go to the folder settings.reports names)")
    policy.table("[settings]")
    policy.key("reports", "reports", "authcheck.html, .json, .sarif, .md are written here")
    policy.key("timeout", "10s", "per request, however slowly the answer comes")
    if options.ca_bundle is not None:
        policy.key("ca_bundle", _relative(options.ca_bundle, options.out.parent),
                   "extra trust anchors; verification is never off")
    else:
        policy.key("ca_bundle", "certs/corp-ca.pem", "extra trust anchors (a private CA), if you need them",
                   commented=True)


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def write(options: Options) -> tuple[Path, Policy]:
    """Detect the kind of server, read it, and write the starter policy; the path and the policy written."""
    url = check_url(options.url)
    if options.out.exists() and not options.force:
        raise StarterError(f"{options.out} exists; pytest --authcheck-init never overwrites a policy "
                           "(add --authcheck-init-force to replace it, or --authcheck-policy PATH to write elsewhere)")
    if options.ca_bundle is not None:
        problem = ca_bundle_problem(options.ca_bundle)
        if problem:
            raise StarterError(f"--authcheck-init-ca: {problem}")
    from . import _starter_jamf, _starter_oidc

    kind = options.kind
    # the auditor's credentials, if set, are registered for redaction before the first request, whatever the kind
    http = http_client(url, options.ca_bundle, _starter_jamf.auditor_secrets(options, required=False))
    try:
        if kind == "auto":
            kind = _detect(http, url)
        policy = Policy()
        if kind == "oidc":
            _starter_oidc.build(policy, http, url, options)
        else:
            _starter_jamf.build(policy, http, url, options)
    finally:
        http.close()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(policy.text(), encoding="utf-8")
    return options.out, policy


def _detect(http: HttpClient, url: str) -> str:
    """``oidc`` when the URL serves OpenID discovery, ``jamf`` when it answers as the Jamf Pro API does."""
    from ._errors import EvaluationError
    from ._starter_jamf import looks_like_jamf
    from ._starter_oidc import discovery_url

    try:
        answer = http.get(discovery_url(url), headers={"Accept": "application/json"})
        if answer.status == 200 and isinstance(_json(answer), dict) and "issuer" in _json(answer):
            return "oidc"
        if looks_like_jamf(http, url):
            return "jamf"
    except EvaluationError as exc:
        raise StarterError(f"cannot read {url}: {exc}" + _tls_hint(str(exc))) from None
    raise StarterError(f"{url} serves neither OpenID discovery ({discovery_url(url)}) nor the Jamf Pro API "
                       "(/api/v1/jamf-pro-version); check the URL, or say which it is with --authcheck-init-kind")


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return None


def _tls_hint(text: str) -> str:
    return "; give the CA that issued its certificate with --authcheck-init-ca PATH" \
        if "certificate" in text.lower() or "tls" in text.lower() else ""


def main(config: Any) -> int:
    """The ``--authcheck-init`` command: 0 after writing, 4 (pytest's usage error) with the reason otherwise."""
    import pytest

    explicit = config.getoption("authcheck_policy") or None
    out = Path(explicit).expanduser() if explicit else Path.cwd() / POLICY_FILE
    if not out.is_absolute():
        out = Path.cwd() / out
    ca = config.getoption("authcheck_init_ca")
    options = Options(url=config.getoption("authcheck_init"), out=out, kind=config.getoption("authcheck_init_kind"),
                      ca_bundle=Path(ca).expanduser().resolve() if ca else None,
                      force=config.getoption("authcheck_init_force"),
                      user_var=config.getoption("authcheck_init_user_var"),
                      password_var=config.getoption("authcheck_init_password_var"))
    try:
        path, policy = write(options)
    except StarterError as exc:
        print(f"ERROR: authcheck init: {exc}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)
    print(f"wrote {path}: {policy.summary}")
    print(f"{policy.to_review} value(s) marked 'observed: review'. Set the variables it names, uncomment what you "
          "use, then run: pytest --authcheck" + (f" --authcheck-policy {path}" if explicit else ""))
    return int(pytest.ExitCode.OK)
