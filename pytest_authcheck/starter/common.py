"""What the starter-policy writers share: the options, the policy being written (commented TOML), names, the
header, and an HTTP client confined to the URL's origin."""

from __future__ import annotations

import datetime as dt
import os
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .. import _toml_out as toml
from .._bounds import clip, printable
from .._confine import Confinement, Destinations
from .._errors import AuthcheckError
from .._http import HttpClient, Response, retry_after_seconds
from .._net import is_loopback, origin
from .._redact import Redactor, Secret

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
    """Server-supplied text fit for a TOML comment: one printable line, bounded (``printable`` keeps line breaks and
    tabs, and a line break would end the comment: what follows would be read as policy)."""
    one_line = printable(str(text)).replace("\r", "\\r").replace("\n", "\\n")
    return clip(one_line, limit, limit // 3)


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


def tls_hint(error: object) -> str:
    """The way past a certificate the run does not trust: name its CA (verification is never turned off)."""
    text = str(error).lower()
    return "; give the CA that issued its certificate with --authcheck-init-ca PATH" \
        if "certif" in text or "tls" in text else ""


def unavailable(response: Response, where: str) -> str | None:
    """Why ``response`` says nothing of what the server at ``where`` is, or None.

    A throttle (429, or 503 with Retry-After) or a server error (5xx) is the server declining to answer now: reading
    it as "not an OpenID issuer" (or "not Jamf Pro") would send the user to fix a URL that may be right.
    """
    status = response.status
    retry_after = response.headers.get("retry-after")
    if status == 429 or (status == 503 and retry_after):
        wait = retry_after_seconds(retry_after)
        asked = f", Retry-After {wait:.0f} s" if wait is not None else ""
        return f"{where} answered HTTP {status} (throttled{asked}): the server asks to be asked later; try again later"
    if status >= 500:
        return (f"{where} answered HTTP {status} (a server error): it says nothing about what the server is; try again "
                "later, or look at the server's logs for the cause")
    return None


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
