"""Environment-based client configuration: where a client tool's variables come from, and their rules.

A client tool (a CLI, an MCP server) reads its settings from environment variables, set in a shell
or in a file its host launches it with (a dotenv file, or the ``env`` object of an MCP JSON config).
The policy says which variables the tool needs and what their values must look like
(``[clients.NAME.env]``); this module reads the values and judges them, offline.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import read_text_capped
from ._net import is_loopback
from ._redact import Secret
from ._secrets_scan import credential_kind, is_secret_name

MAX_ENV_FILE_BYTES = 1024 * 1024
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")
SHOWN_VALUE_LIMIT = 120


class EnvUnreadable(Exception):
    """The env file cannot be read; ``str()`` says why without quoting its content."""


@dataclass(frozen=True)
class EnvRule:
    """What the policy says about one variable (``JAMF_URL = { form = "host-or-url" }``)."""

    name: str
    required: bool | None = None
    required_if: Mapping[str, tuple[str, ...]] | None = None
    one_of: tuple[str, ...] | None = None
    form: str | None = None
    equals: str | None = None
    secret: bool = False

    @classmethod
    def from_policy(cls, name: str, raw: Mapping[str, Any]) -> EnvRule:
        """Build a rule from its policy table (already validated by the schema)."""
        required_if = None
        if raw.get("required_if"):
            required_if = {var: (v,) if isinstance(v, str) else tuple(v) for var, v in raw["required_if"].items()}
        return cls(name=name, required=raw.get("required"), required_if=required_if,
                   one_of=tuple(raw["one_of"]) if raw.get("one_of") else None, form=raw.get("form"),
                   equals=raw.get("equals"), secret=bool(raw.get("secret", is_secret_name(name))))

    def is_required(self, values: Mapping[str, Secret]) -> bool:
        """Required outright, or because every ``required_if`` condition holds for ``values``."""
        if self.required_if:
            return all(_plain(values.get(var)) in allowed for var, allowed in self.required_if.items())
        return True if self.required is None else self.required

    def condition(self) -> str:
        """``" (required when JAMF_AUTH_TYPE is 'basic')"``, or nothing."""
        if not self.required_if:
            return ""
        parts = [f"{var} is {' or '.join(map(repr, allowed))}" for var, allowed in self.required_if.items()]
        return f" (required when {' and '.join(parts)})"


def rules_of(client: Mapping[str, Any]) -> list[EnvRule]:
    """The client's env rules in policy order."""
    return [EnvRule.from_policy(name, raw) for name, raw in (client.get("env") or {}).items()]


@dataclass(frozen=True)
class EnvSource:
    """The variables as the client tool would see them: every value wrapped as a ``Secret``."""

    description: str
    path: Path | None
    values: Mapping[str, Secret]

    def value(self, name: str) -> str | None:
        """The plain value of a set, non-empty variable (for judging it; never for showing it)."""
        found = self.values.get(name)
        return found.reveal() if found else None


@dataclass(frozen=True)
class Shown:
    """A variable's value as a check compares it (``value``) and as reports may show it (``describe()``: secrets
    and credential-shaped values by length only)."""

    value: str
    secret: bool

    def describe(self) -> str:
        """The value as expected/observed may show it."""
        return show(self.value, secret=self.secret, quote=False)


def _plain(value: Secret | None) -> str | None:
    return value.reveal() if value is not None else None


def from_environment(names: list[str], environ: Mapping[str, str] | None = None) -> EnvSource:
    """The declared variables as this process's environment has them."""
    environ = os.environ if environ is None else environ
    values = {n: Secret(environ[n], label=n) for n in names if n in environ}
    return EnvSource("the environment of this process", None, values)


def from_file(path: Path, pointer: str | None = None) -> EnvSource:
    """Every variable of a dotenv file, or of the object at ``pointer`` in a JSON file."""
    text = read_text_capped(path, MAX_ENV_FILE_BYTES, EnvUnreadable)
    if path.suffix.lower() == ".json":
        raw = _json_env(text, path, pointer or "")
        where = f"{path} at {pointer}" if pointer else str(path)
    else:
        raw = parse_dotenv(text)
        where = str(path)
    return EnvSource(where, path, {n: Secret(v, label=n) for n, v in raw.items()})


def _json_env(text: str, path: Path, pointer: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvUnreadable(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise EnvUnreadable(f"{path} is JSON nested too deeply to read") from None
    target = resolve_pointer(document, pointer, path)
    if not isinstance(target, dict):
        raise EnvUnreadable(f"{path}: {pointer or 'the document'} is not a JSON object of variables")
    out = {}
    for name, value in target.items():
        if isinstance(value, str):
            out[str(name)] = value
        elif value is not None and not isinstance(value, (dict, list)):
            out[str(name)] = json.dumps(value)
    return out


def resolve_pointer(document: Any, pointer: str, path: Path) -> Any:
    """RFC 6901: ``/mcpServers/jamf/env`` inside ``document``."""
    current = document
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            raise EnvUnreadable(f"{path}: nothing at {pointer} (no {token[:60]!r})")
    return current


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines (``export``, quotes and ``#`` comments understood); later lines win."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            continue
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[name] = value
    return out


# ---- judging values -------------------------------------------------------------------------------------
def url_form_problem(value: str, form: str) -> str | None:
    """Why ``value`` is not of the declared form (None when it is).

    ``url``: an absolute http(s) URL to a server: scheme and host, nothing after them, no trailing
    slash. ``host-or-url``: the same, or a bare host name without a port (the tool adds https://).
    """
    if form == "host-or-url" and "://" not in value:
        if "/" in value:
            return "ends with a slash" if value.rstrip("/") and "/" not in value.rstrip("/") else "has a path"
        if ":" in value:
            return "has a port but no scheme (write https://host:port)"
        return None if _HOST.match(value) else "is not a host name"
    parts = urllib.parse.urlsplit(value)
    if "://" not in value or not parts.scheme:
        return "has no scheme (https://)"
    if parts.scheme not in ("http", "https"):
        return f"has scheme {parts.scheme[:20]!r}, not https"
    if "@" in parts.netloc:
        return "carries credentials in the URL"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    try:
        _ = parts.port  # urlsplit parses the port lazily; a bad one raises only here
    except ValueError:
        return "has an invalid port"
    if parts.scheme == "http" and not is_loopback(host):
        return "uses plain http"
    if value.endswith("/"):
        return "ends with a slash"
    if parts.path:
        return f"has a path ({parts.path[:60]})"
    if parts.query or parts.fragment:
        return "has a query or fragment"
    return None



def normalise_url(value: str) -> str:
    """A server URL for comparison: https:// added to a bare host, case and default port dropped."""
    if "://" not in value:
        value = "https://" + value
    parts = urllib.parse.urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, {"https": 443, "http": 80}.get(parts.scheme)) else None
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def same_path(value: str, expected: Path) -> bool:
    """Whether a path as a tool would read it (``~`` expanded) names ``expected``."""
    return Path(value).expanduser().resolve(strict=False) == expected.resolve(strict=False)


def show(value: str, *, secret: bool, quote: bool = True) -> str:
    """A value as a message may show it (quoted): secrets and credential-shaped values by length only."""
    if secret or credential_kind(value) is not None:
        return f"a value of {len(value)} characters"
    if len(value) > SHOWN_VALUE_LIMIT:
        value = value[:SHOWN_VALUE_LIMIT] + "..."
    return repr(value) if quote else value
