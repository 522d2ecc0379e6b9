"""Loading the policy: find it, parse TOML, validate against the shipped schema, resolve ``${VAR}``.

Everything that can be wrong with a policy is found here, before any request is sent, and reported
together: one line per problem, in file order, each naming the file, the line, the key path and what is
wrong (``PolicyErrors``). The parts: ``text`` (bytes to TOML, bounded), ``schema`` (the
shipped JSON Schema), ``refs`` (references between tables, issuer scheme, waiver ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._duration import parse_duration
from .._errors import PolicyError
from .._files import read_text_capped
from .._redact import Secret
from .defaults import default, seconds
from .lines import KeyPath, dotted, key_lines, line_of
from .problems import Problems
from .refs import check_declares_something, check_references, check_waiver_ids
from .schema import policy_schema as policy_schema  # re-exported: the schema's public home was here
from .schema import validate
from .text import check_shape, parse_toml, read_policy

POLICY_FILE = "authcheck.toml"
# Fields whose values are credentials: resolved into ``Secret`` and redacted everywhere.
SECRET_FIELDS = frozenset({"client_secret", "password", "value", "bearer", "secret", "token"})
# ``$$``, or ``${`` up to the next ``}`` (missing at the end of an unterminated reference).
_VAR = re.compile(r"\$\$|\$\{(?P<name>[^}]*)(?P<close>\})?")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
MAX_CA_BUNDLE_BYTES = 4 * 1024 * 1024

DEFAULT_SETTINGS: dict[str, Any] = {
    "reports": default("settings.reports"),
    "timeout": seconds("settings.timeout"),
    "ca_bundle": None,
    "cert_min_days": default("settings.cert_min_days"),
    "max_clock_skew": seconds("settings.max_clock_skew"),
    "max_response_bytes": default("settings.max_response_bytes"),
    "retries": default("settings.retries"),
    "concurrency": default("settings.concurrency"),
    "checks": [],
}


@dataclass(frozen=True)
class Settings:
    """Run-wide settings (``[settings]``), durations in seconds, paths absolute."""

    reports: Path
    timeout: float
    ca_bundle: Path | None
    cert_min_days: int
    max_clock_skew: float
    max_response_bytes: int
    retries: int
    checks: tuple[Path, ...]
    concurrency: int = default("settings.concurrency")


@dataclass(frozen=True)
class Policy:
    """A loaded, validated and resolved policy.

    ``data`` is the resolved document (secret fields hold ``Secret`` objects, durations stay as
    written); ``sha256`` is taken over the file's bytes before any resolution.
    """

    path: Path
    sha256: str
    data: Mapping[str, Any]
    settings: Settings
    secrets: tuple[Secret, ...]
    _lines: Mapping[KeyPath, int] = field(repr=False, default_factory=dict)
    _prefix: KeyPath = ()
    # The file as written and the document before ``${VAR}`` resolution: the literal-secret checks read
    # what the author wrote, not what the environment supplied. Never shown (repr=False): they may hold
    # the very literals those checks report.
    source: str = field(repr=False, default="")
    unresolved: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A top-level table such as ``providers`` or ``clients`` (empty when absent)."""
        value = self.data.get(name, {})
        return value if isinstance(value, Mapping) else {}

    def providers_of_kind(self, kind: str) -> dict[str, Mapping[str, Any]]:
        """The providers of one kind, by name, in policy order."""
        return {n: p for n, p in self.section("providers").items() if p.get("kind") == kind}

    def clients_of(self, provider: str) -> dict[str, Mapping[str, Any]]:
        """The clients registered with one provider, by name."""
        return {n: c for n, c in self.section("clients").items() if c.get("provider") == provider}

    def line(self, *path: str | int) -> int | None:
        """The line in the policy file where ``path`` (or its nearest ancestor) is written."""
        return line_of(self._lines, self._prefix + tuple(path))


def find_policy(rootdir: Path, explicit: str | None) -> tuple[Path, bool]:
    """Locate the policy: ``--authcheck-policy``, else ``authcheck.toml``, else ``[tool.authcheck]``.

    Returns the path and whether it is a ``pyproject.toml``.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_absolute():
            path = (Path.cwd() / path).resolve()
        if not path.is_file():
            raise PolicyError(f"policy file not found: {path}", path=str(path))
        return path, path.name == "pyproject.toml"
    for base in _unique([Path.cwd(), rootdir]):
        candidate = base / POLICY_FILE
        if candidate.is_file():
            return candidate, False
    for base in _unique([Path.cwd(), rootdir]):
        pyproject = base / "pyproject.toml"
        if pyproject.is_file() and "[tool.authcheck" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject, True
    raise PolicyError(
        f"no policy found: looked for {POLICY_FILE} and [tool.authcheck] in pyproject.toml "
        f"in {Path.cwd()}" + (f" and {rootdir}" if rootdir != Path.cwd() else "")
        + "; or pass --authcheck-policy PATH",
    )


def load_policy(path: Path, *, pyproject: bool = False, environ: Mapping[str, str] | None = None) -> Policy:
    """Parse, validate and resolve the policy at ``path``.

    Every problem is collected and raised together, in file order, as ``PolicyErrors`` (a ``PolicyError``);
    only a file that cannot be read or parsed at all stops the search early.
    """
    environ = os.environ if environ is None else environ
    problems = Problems(_display_path(path), ("tool", "authcheck") if pyproject else ())
    read = read_policy(path, problems)
    if read is None:
        problems.fail()
    raw_bytes, text, bad_lines = read
    problems.lines = lines = key_lines(text)
    parsed = parse_toml(text, problems, bad_lines)
    if parsed is None:
        problems.fail()
    document: Any = parsed
    if pyproject:
        tool = parsed.get("tool")
        document = tool.get("authcheck") if isinstance(tool, dict) else None
        if not isinstance(document, dict):
            problems.add("no [tool.authcheck] table in pyproject.toml")
            problems.fail()
    if not check_shape(document, problems):
        problems.fail()
    document = _normalise(document)
    validate(document, problems)
    secrets: list[Secret] = []
    resolved = _resolve(document, (), environ, problems, secrets)
    check_references(resolved, problems)
    settings = _settings(resolved.get("settings"), path.parent, problems)
    check_waiver_ids(resolved, problems, settings.checks)
    check_declares_something(resolved, problems, has_own_checks=bool(settings.checks))
    problems.raise_if_any()
    return Policy(
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        data=resolved,
        settings=settings,
        secrets=tuple(secrets),
        _lines=lines,
        _prefix=problems.prefix,
        source=text,
        unresolved=document,
    )


def _normalise(value: Any) -> Any:
    # TOML has native dates and times; the schema speaks JSON, so they become ISO strings.
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    return value


def _resolve(value: Any, path: KeyPath, environ: Mapping[str, str], problems: Problems, secrets: list[Secret]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, path + (k,), environ, problems, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, path + (i,), environ, problems, secrets) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    text = _substitute(value, path, environ, problems)
    field_name = next((p for p in reversed(path) if isinstance(p, str)), "")
    if field_name in SECRET_FIELDS:
        secret = Secret(text, label=dotted(path))
        secrets.append(secret)
        return secret
    return text


def _substitute(value: str, path: KeyPath, environ: Mapping[str, str], problems: Problems) -> str:
    """``${VAR}`` replaced by the variable, ``$$`` by ``$``; a malformed reference is an error, never sent as is.

    The text inside a malformed ``${...}`` is not quoted back: in a secret field it may be the secret.
    """
    out: list[str] = []
    position = 0
    for match in _VAR.finditer(value):
        out.append(value[position:match.start()])
        position = match.end()
        if match.group(0) == "$$":
            out.append("$")
            continue
        name = match.group("name")
        if match.group("close") is None:
            problems.add("'${' without its closing '}' (write $${ for a literal ${)", path)
        elif not name:
            problems.add("'${}' names no environment variable (write ${NAME}, or $${} for a literal ${})", path)
        elif not _VAR_NAME.match(name):
            problems.add("'${...}' holds no variable name (letters, digits and _, not starting with a digit)", path)
        elif name not in environ:
            problems.add(f"environment variable {name} is not set", path)
        else:
            out.append(environ[name])
            continue
        out.append(match.group(0))
    out.append(value[position:])
    return "".join(out)


def _settings(raw: Any, base: Path, problems: Problems) -> Settings:
    """The run-wide settings; a value the schema refused is replaced by its default (the run stops anyway)."""
    given = raw if isinstance(raw, Mapping) else {}

    def value(key: str, kind: type | tuple[type, ...]) -> Any:
        candidate = given.get(key, DEFAULT_SETTINGS[key])
        ok = isinstance(candidate, kind) and not isinstance(candidate, bool) and not problems.flagged(("settings", key))
        return candidate if ok else DEFAULT_SETTINGS[key]

    timeout = _seconds(value("timeout", (str, int, float)), DEFAULT_SETTINGS["timeout"])
    if timeout <= 0:
        problems.add("must be more than 0s", ("settings", "timeout"))
        timeout = DEFAULT_SETTINGS["timeout"]
    ca_bundle = None
    if value("ca_bundle", str):
        ca_bundle = (base / Path(given["ca_bundle"]).expanduser()).resolve()
        problem = ca_bundle_problem(ca_bundle)
        if problem:
            problems.add(problem, ("settings", "ca_bundle"))
    checks: list[Path] = []
    for index, folder in enumerate(value("checks", list)):
        if not isinstance(folder, str) or problems.flagged(("settings", "checks", index)):
            continue
        resolved = (base / Path(folder).expanduser()).resolve()
        if not resolved.is_dir():
            problems.add(f"folder not found: {resolved}", ("settings", "checks", index))
        checks.append(resolved)
    return Settings(
        reports=Path(value("reports", str)),
        timeout=timeout,
        ca_bundle=ca_bundle,
        cert_min_days=int(value("cert_min_days", int)),
        max_clock_skew=_seconds(value("max_clock_skew", (str, int, float)), DEFAULT_SETTINGS["max_clock_skew"]),
        max_response_bytes=int(value("max_response_bytes", int)),
        retries=int(value("retries", int)),
        checks=tuple(checks),
        concurrency=int(value("concurrency", int)),
    )


def _seconds(value: str | int | float, default: float) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        return default  # the schema reported it


def ca_bundle_problem(path: Path) -> str | None:
    """What is wrong with a ``ca_bundle`` (missing, unreadable, not PEM, no certificate), or None."""
    if not path.is_file():
        return f"file not found: {path}"
    try:
        text = read_text_capped(path, MAX_CA_BUNDLE_BYTES, ValueError)
    except ValueError as exc:
        return str(exc)
    if _PEM_CERTIFICATE not in text:
        return f"{path} holds no PEM certificate ({_PEM_CERTIFICATE}); give the CA certificates in PEM form"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or "unreadable"
        return f"{path} is not a readable PEM certificate bundle ({reason}); give the CA certificates in PEM form"
    return None


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _unique(paths: list[Path]) -> list[Path]:
    seen: list[Path] = []
    for p in paths:
        if p.resolve() not in [s.resolve() for s in seen]:
            seen.append(p)
    return seen
