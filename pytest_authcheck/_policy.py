"""Loading the policy: find it, parse TOML, validate against the shipped schema, resolve ``${VAR}``.

Everything that can be wrong with a policy is found here, before any request is sent, and reported
as one ``PolicyError`` line naming the file, the line, the key path and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ._duration import parse_duration
from ._errors import PolicyError
from ._jamf.url import JamfUrlError, lint_url
from ._policy_lines import KeyPath, key_lines, line_of
from ._redact import Secret

POLICY_FILE = "authcheck.toml"
# Fields whose values are credentials: resolved into ``Secret`` and redacted everywhere.
SECRET_FIELDS = frozenset({"client_secret", "password", "value", "bearer", "secret", "token"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")

DEFAULT_SETTINGS: dict[str, Any] = {
    "reports": "reports",
    "timeout": 10.0,
    "ca_bundle": None,
    "cert_min_days": 21,
    "max_clock_skew": 60.0,
    "max_response_bytes": 2 * 1024 * 1024,
    "retries": 2,
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
    """Parse, validate and resolve the policy at ``path``; raise ``PolicyError`` on any problem."""
    environ = os.environ if environ is None else environ
    shown = _display_path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror}", path=shown) from None
    text = raw_bytes.decode("utf-8", errors="replace")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise PolicyError(f"not valid TOML: {exc}", path=shown, line=line) from None
    prefix: KeyPath = ()
    if pyproject:
        prefix = ("tool", "authcheck")
        document = document.get("tool", {}).get("authcheck")
        if not isinstance(document, dict):
            raise PolicyError("no [tool.authcheck] table in pyproject.toml", path=shown)
    lines = key_lines(text)
    document = _normalise(document)
    _validate(document, shown, lines, prefix)
    secrets: list[Secret] = []
    resolved = _resolve(document, (), environ, shown, lines, prefix, secrets)
    _check_references(resolved, shown, lines, prefix)
    settings = _settings(resolved.get("settings", {}), path.parent, shown, lines, prefix)
    return Policy(
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        data=resolved,
        settings=settings,
        secrets=tuple(secrets),
        _lines=lines,
        _prefix=prefix,
        source=text,
        unresolved=document,
    )


@cache
def policy_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the policy."""
    text = resources.files("pytest_authcheck").joinpath("schemas/policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _normalise(value: Any) -> Any:
    # TOML has native dates and times; the schema speaks JSON, so they become ISO strings.
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    return value


def _validate(document: dict[str, Any], shown: str, lines: Mapping[KeyPath, int], prefix: KeyPath) -> None:
    validator = jsonschema.Draft202012Validator(policy_schema())
    errors = list(validator.iter_errors(document))
    if not errors:
        return
    error = min(errors, key=_error_rank)
    path = tuple(error.absolute_path)
    key, message = _describe(error, path)
    raise PolicyError(message, path=shown, line=line_of(lines, prefix + key) or None,
                      key=_dotted(key) or "(top level)")


def _error_rank(error: jsonschema.ValidationError) -> tuple[int, int]:
    # Prefer the error that explains most: unknown keys and wrong types deep in the tree first.
    relevance = jsonschema.exceptions.relevance(error)
    return (0 if error.validator == "additionalProperties" else 1, -len(error.absolute_path), *relevance[:0])


def _describe(error: jsonschema.ValidationError, path: KeyPath) -> tuple[KeyPath, str]:
    best = jsonschema.exceptions.best_match([error])
    if best.validator in ("oneOf", "anyOf", "allOf") and best.context:
        best = min(best.context, key=lambda e: -len(e.absolute_path))
        path = tuple(best.absolute_path) or path
    if best.validator == "additionalProperties":
        allowed = sorted(best.schema.get("properties", {}))
        unknown = sorted(set(best.instance) - set(allowed))
        if unknown:
            name = unknown[0]
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known keys: {', '.join(allowed)})"
            return path + (name,), f"unknown key{suggestion}"
    if best.validator == "required":
        return path, f"missing required key: {best.message.split(' ')[0]}"
    if best.validator == "type":
        return path, f"expected {best.validator_value}, got {_json_type(best.instance)} ({_short(best.instance)})"
    if best.validator == "enum":
        return path, f"{_short(best.instance)} is not one of {', '.join(map(repr, best.validator_value))}"
    if best.validator == "pattern" or best.validator == "oneOf":
        if "duration" in json.dumps(best.schema) or "smhd" in json.dumps(best.schema):
            return path, f"{_short(best.instance)} is not a duration such as '30s', '15m', '1h' or '29d'"
        return path, f"{_short(best.instance)} does not have the expected form ({best.schema.get('pattern', '')})"
    if best.validator == "const":
        return path, f"must be {best.validator_value!r}"
    return path, best.message


def _resolve(value: Any, path: KeyPath, environ: Mapping[str, str], shown: str,
             lines: Mapping[KeyPath, int], prefix: KeyPath, secrets: list[Secret]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, path + (k,), environ, shown, lines, prefix, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, path + (i,), environ, shown, lines, prefix, secrets) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in environ:
            raise PolicyError(f"environment variable {name} is not set", path=shown,
                              line=line_of(lines, prefix + path), key=_dotted(path))
        return environ[name]

    text = _VAR.sub(substitute, value)
    field_name = next((p for p in reversed(path) if isinstance(p, str)), "")
    if field_name in SECRET_FIELDS:
        secret = Secret(text, label=_dotted(path))
        secrets.append(secret)
        return secret
    return text


def _check_references(data: Mapping[str, Any], shown: str, lines: Mapping[KeyPath, int], prefix: KeyPath) -> None:
    """Cross-references the schema cannot express: a client's provider must exist, and so on."""
    providers = data.get("providers", {})
    clients = data.get("clients", {})
    users = data.get("users", {})

    def require(name: Any, known: Mapping[str, Any], what: str, path: KeyPath) -> None:
        if name not in known:
            hint = difflib.get_close_matches(str(name), list(known), n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else (f" (declared: {', '.join(known)})" if known else "")
            raise PolicyError(f"no {what} named '{name}'{extra}", path=shown,
                              line=line_of(lines, prefix + path), key=_dotted(path))

    for name, provider in providers.items():
        if provider.get("kind") == "jamf":
            try:
                lint_url(provider["url"])
            except JamfUrlError as exc:
                raise PolicyError(str(exc), path=shown, line=line_of(lines, prefix + ("providers", name, "url")),
                                  key=f"providers.{name}.url") from None
    for name, client in clients.items():
        require(client["provider"], providers, "provider", ("clients", name, "provider"))
    for name, user in users.items():
        require(user["provider"], providers, "provider", ("users", name, "provider"))
    for name, pset in data.get("privileges", {}).items():
        require(pset["principal"], {**clients, **users}, "client or user", ("privileges", name, "principal"))
    credentials = data.get("credentials", {})
    for name, cred in credentials.items():
        if "provider" in cred:
            require(cred["provider"], providers, "provider", ("credentials", name, "provider"))
        if "client" in cred:
            require(cred["client"], clients, "client", ("credentials", name, "client"))
            client_provider = clients[cred["client"]]["provider"]
            if "provider" in cred and cred["provider"] != client_provider:
                raise PolicyError(f"clients.{cred['client']} belongs to provider '{client_provider}', not "
                                  f"'{cred['provider']}'", path=shown,
                                  line=line_of(lines, prefix + ("credentials", name, "client")),
                                  key=f"credentials.{name}.client")
    for name, client in clients.items():
        kind = providers[client["provider"]].get("kind")
        for variable, rule in client.get("env", {}).items():
            where: KeyPath = ("clients", name, "env", variable, "equals")
            reference = rule.get("equals", "")
            if reference.startswith("credentials."):
                require(reference.removeprefix("credentials."), credentials, "credentials file", where)
            elif reference == "issuer" and kind != "oidc":
                raise PolicyError(f"provider '{client['provider']}' is not an oidc provider and has no issuer "
                                  "(use provider_url)", path=shown, line=line_of(lines, prefix + where),
                                  key=_dotted(where))
        if "env_pointer" in client and not str(client.get("env_file", "")).endswith(".json"):
            pointer: KeyPath = ("clients", name, "env_pointer")
            raise PolicyError("env_pointer needs a .json env_file", path=shown, line=line_of(lines, prefix + pointer),
                              key=_dotted(pointer))
    for name, api in data.get("apis", {}).items():
        if "provider" in api:
            require(api["provider"], providers, "provider", ("apis", name, "provider"))
        _check_api(name, api, require, providers, clients, users, shown, lines, prefix)


# The implicit principal of every API that sends no credential (see _api.ANONYMOUS).
_ANONYMOUS = "anonymous"
_CREDENTIAL_KINDS = ("client", "user", "header", "bearer")


def _check_api(name: str, api: Mapping[str, Any], require: Callable[..., None], providers: Mapping[str, Any],
               clients: Mapping[str, Any], users: Mapping[str, Any], shown: str, lines: Mapping[KeyPath, int],
               prefix: KeyPath) -> None:
    """An API's principals, roles, rules and probes must refer to one another consistently."""
    base: KeyPath = ("apis", name)

    def error(message: str, path: KeyPath) -> PolicyError:
        return PolicyError(message, path=shown, line=line_of(lines, prefix + path), key=_dotted(path))

    roles = list(api.get("roles", []))
    principals = api.get("principals", {})
    for pname, principal in principals.items():
        path = base + ("principals", pname)
        if pname == _ANONYMOUS:
            raise error("'anonymous' is reserved: it is the implicit principal that sends no credential", path)
        kinds = [k for k in _CREDENTIAL_KINDS if k in principal]
        if "user" in principal and "client" in principal:
            kinds.remove("client")  # a user logs in through a client: one credential
        if len(kinds) != 1:
            raise error("a principal needs exactly one of client, user (with client), header (with value) or bearer"
                        + (f", not {', '.join(kinds)}" if kinds else ""), path)
        if "header" in principal and "value" not in principal:
            raise error("an API key principal needs a value", path)
        if "value" in principal and "header" not in principal:
            raise error("value belongs to an API key principal (with header)", path + ("value",))
        if "client" in principal:
            require(principal["client"], clients, "client", path + ("client",))
        if "user" in principal:
            require(principal["user"], users, "user", path + ("user",))
            _check_user_principal(api, principal, providers, clients, users, path, error)
        if "role" in principal and principal["role"] not in roles:
            raise error(f"role '{principal['role']}' is not one of the API's roles ({', '.join(roles) or 'none declared'})",
                        path + ("role",))
    known = [*principals, _ANONYMOUS]
    for index, rule in enumerate(api.get("rules", [])):
        path = base + ("rules", index)
        if "min_role" in rule and rule["min_role"] not in roles:
            raise error(f"min_role '{rule['min_role']}' is not one of the API's roles ({', '.join(roles) or 'none declared'})",
                        path + ("min_role",))
        for key in ("allow", "deny"):
            for principal_name in rule.get(key, []):
                if principal_name not in known:
                    raise error(f"no principal named '{principal_name}' (declared: {', '.join(known)})", path + (key,))
        both = set(rule.get("allow", [])) & set(rule.get("deny", []))
        if both:
            raise error(f"{', '.join(sorted(both))} both allowed and denied", path)
    requests = [r["request"] for r in api.get("rules", [])]
    duplicates = sorted({r for r in requests if requests.count(r) > 1})
    if duplicates:
        raise error(f"more than one rule for {duplicates[0]}", base + ("rules",))
    for probe, source in api.get("probes", {}).items():
        if "client" in source:
            require(source["client"], clients, "client", base + ("probes", probe, "client"))



def _check_user_principal(api: Mapping[str, Any], principal: Mapping[str, Any], providers: Mapping[str, Any],
                          clients: Mapping[str, Any], users: Mapping[str, Any], path: KeyPath,
                          error: Callable[[str, KeyPath], PolicyError]) -> None:
    """A user principal logs its user in through its client's authorization-code flow at the API's provider.

    ``user`` without ``client`` is refused rather than guessed: which client (redirect URI, scopes) the
    login goes through decides what token the API sees.
    """
    user_name = principal["user"]
    user = users[user_name]
    if "client" not in principal:
        raise error(f"a user principal needs client = NAME: the client whose authorization-code flow logs "
                    f"users.{user_name} in", path)
    if principal.get("revoked"):
        raise error("revoked applies to API keys, bearer tokens and clients: a user principal is logged in, so "
                    "there would be no credential to send", path + ("revoked",))
    if "password" not in user:
        raise error(f"users.{user_name} has no password, so it cannot log in (declare password, or plug in your "
                    "own login step and still name the account's password)", path + ("user",))
    api_provider = api.get("provider", user["provider"])
    if user["provider"] != api_provider:
        raise error(f"users.{user_name} belongs to provider '{user['provider']}', not the API's provider "
                    f"'{api_provider}'", path + ("user",))
    if providers[user["provider"]].get("kind", "oidc") != "oidc":
        raise error(f"users.{user_name} belongs to provider '{user['provider']}', which is not an oidc provider: "
                    "no authorization-code login", path + ("user",))
    client_name = principal["client"]
    client = clients[client_name]
    if client["provider"] != user["provider"]:
        raise error(f"clients.{client_name} belongs to provider '{client['provider']}', not '{user['provider']}' "
                    f"(the provider of users.{user_name})", path + ("client",))
    grants = client.get("grant_types") or ["authorization_code"]
    if "authorization_code" not in grants or not client.get("redirect_uris"):
        raise error(f"clients.{client_name} declares no authorization_code grant with redirect_uris, so "
                    f"users.{user_name} cannot log in through it", path + ("client",))


def _settings(raw: Mapping[str, Any], base: Path, shown: str, lines: Mapping[KeyPath, int], prefix: KeyPath) -> Settings:
    merged = {**DEFAULT_SETTINGS, **raw}
    try:
        timeout = parse_duration(merged["timeout"])
        skew = parse_duration(merged["max_clock_skew"])
    except ValueError as exc:
        raise PolicyError(str(exc), path=shown, line=line_of(lines, prefix + ("settings",)), key="settings") from None
    if timeout <= 0:
        raise PolicyError("must be more than 0s", path=shown, line=line_of(lines, prefix + ("settings", "timeout")),
                          key="settings.timeout")
    ca_bundle = None
    if merged["ca_bundle"]:
        ca_bundle = (base / Path(merged["ca_bundle"]).expanduser()).resolve()
        if not ca_bundle.is_file():
            raise PolicyError(f"file not found: {ca_bundle}", path=shown,
                              line=line_of(lines, prefix + ("settings", "ca_bundle")), key="settings.ca_bundle")
    return Settings(
        reports=Path(merged["reports"]),
        timeout=timeout,
        ca_bundle=ca_bundle,
        cert_min_days=int(merged["cert_min_days"]),
        max_clock_skew=skew,
        max_response_bytes=int(merged["max_response_bytes"]),
        retries=int(merged["retries"]),
        checks=tuple((base / c).resolve() for c in merged["checks"]),
    )


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value)[:60]
    return text if len(text) <= 60 else text[:57] + "..."


def _unique(paths: list[Path]) -> list[Path]:
    seen: list[Path] = []
    for p in paths:
        if p.resolve() not in [s.resolve() for s in seen]:
            seen.append(p)
    return seen
