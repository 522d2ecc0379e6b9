"""Fixtures of the local hygiene suites: credentials files, client env configurations, the policy file.

All of them work offline: they read files and the environment of the machine running the checks.
Values read from files are wrapped as ``Secret`` and registered with the run's redactor before any
check sees them, so no report, traceback or log can show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ._credentials import (
    DEFAULT_FIELDS,
    DEFAULT_MODE,
    TOKEN_FIELDS,
    CredentialsUnreadable,
    FileFacts,
    StoredToken,
    inspect_file,
    read_json_object,
    stored_token,
)
from ._duration import parse_duration
from ._envcheck import EnvRule, EnvSource, EnvUnreadable, from_environment, from_file, rules_of
from ._errors import EvaluationError
from ._record import CheckRecord
from ._redact import SECRET_KEYS
from ._run import AuthcheckRun
from ._secrets_scan import credential_kind
from .policy.defaults import default
from .policy.load import Policy


def policy_relative(policy: Policy, written: str) -> Path:
    """A path from the policy: ``~`` expanded, relative ones taken from the policy's folder."""
    path = Path(written).expanduser()
    return path if path.is_absolute() else policy.path.parent / path


@dataclass(frozen=True)
class CredentialFile:
    """One ``[credentials.NAME]``: the file, and what the policy says about it."""

    name: str
    config: Mapping[str, Any]
    path: Path

    @property
    def target(self) -> str:
        """``credentials.cli``."""
        return f"credentials.{self.name}"

    @property
    def written(self) -> str:
        """The path as the policy writes it."""
        return str(self.config["path"])

    @property
    def allowed_mode(self) -> int:
        """The broadest permission bits allowed (``mode``, default 0600)."""
        return int(self.config["mode"], 8) if "mode" in self.config else DEFAULT_MODE

    @property
    def fields(self) -> tuple[str, ...]:
        """Members the file must hold."""
        return tuple(self.config.get("fields", DEFAULT_FIELDS))

    @property
    def expiry_warning(self) -> float | None:
        """Seconds before expiry from which a stored token is reported as expiring soon."""
        value = self.config.get("expiry_warning")
        return parse_duration(value) if value is not None else None

    def inspect(self) -> FileFacts:
        """Stat the file and its directory now."""
        return inspect_file(self.path)


@dataclass(frozen=True)
class ClientConfig:
    """A client whose tool is configured by environment variables (``env`` / ``env_file``)."""

    name: str
    config: Mapping[str, Any]
    rules: tuple[EnvRule, ...]
    env_file: Path | None

    @property
    def target(self) -> str:
        """``clients.jamfmcp``."""
        return f"clients.{self.name}"


@pytest.fixture
def credential_file(request: pytest.FixtureRequest, authcheck_policy: Policy) -> CredentialFile:
    """The credentials file this test runs against (tests using it run once per ``[credentials.NAME]``)."""
    name = request.param
    config = authcheck_policy.section("credentials")[name]
    return CredentialFile(name=name, config=config, path=policy_relative(authcheck_policy, config["path"]))


@pytest.fixture
def credential_file_facts(credential_file: CredentialFile, authcheck_record: CheckRecord) -> FileFacts:
    """``stat`` facts of the credentials file and its directory (recorded as evidence).

    A test using it is an *error* when there is no file to judge (``credentials.file-present`` fails then).
    """
    facts = credential_file.inspect()
    authcheck_record.fact("file", facts.to_dict())
    if not facts.exists:
        raise EvaluationError(f"there is no credentials file at {credential_file.path}"
                              + (f" ({facts.kind})" if facts.kind else ""))
    return facts


@pytest.fixture
def credential_document(credential_file: CredentialFile, authcheck_run: AuthcheckRun) -> dict[str, Any]:
    """The credentials file's JSON object; every token and secret in it is registered for redaction first.

    A test using it is an *error* when the file is missing or is not a JSON object.
    """
    try:
        document = read_json_object(credential_file.path)
    except CredentialsUnreadable as exc:
        raise EvaluationError(str(exc)) from None
    register_secrets(authcheck_run, document)
    return document


@pytest.fixture
def stored_access_token(credential_file: CredentialFile, credential_document: dict[str, Any]) -> StoredToken:
    """The access token stored in the credentials file (a ``Secret``, decoded when it is a JWT)."""
    token = stored_token(credential_document, credential_file.target)
    if token is None:
        raise EvaluationError(f"{credential_file.path} holds no access_token string")
    return token


@pytest.fixture
def credential_provider_jwks(credential_file: CredentialFile, stored_access_token: StoredToken,
                             authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> dict[str, Any]:
    """The JWK Set of the credentials file's provider, to verify the stored token with (fetched once per run).

    The only network access of the credentials suite. Skipped when there is nothing to verify (no oidc
    provider declared, an opaque token); an *error* when the provider cannot be reached.
    """
    name = str(credential_file.config.get("provider", ""))
    provider = authcheck_run.policy.section("providers").get(name)
    if provider is None or provider.get("kind") != "oidc":
        pytest.skip(f"{credential_file.target} declares no oidc provider whose keys could verify its token")
    if not stored_access_token.is_jwt:
        pytest.skip(f"the access token in {credential_file.path} is opaque (not a JWT); it has no signature to verify")
    authcheck_record.jwt(f"access token in {credential_file.target}", stored_access_token.access_token.reveal())
    document = authcheck_run.oidc_providers[name].jwks()
    authcheck_record.attach(document.exchange)
    return document.json_object()


@pytest.fixture
def client_config(request: pytest.FixtureRequest, authcheck_policy: Policy) -> ClientConfig:
    """A client with ``env`` rules or an ``env_file`` (tests using it run once per such client)."""
    name = request.param
    config = authcheck_policy.section("clients")[name]
    env_file = policy_relative(authcheck_policy, config["env_file"]) if config.get("env_file") else None
    return ClientConfig(name=name, config=config, rules=tuple(rules_of(config)), env_file=env_file)


@pytest.fixture
def client_env(client_config: ClientConfig, authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> EnvSource:
    """The client tool's variables, from its ``env_file`` or else from this process's environment.

    Every value is a ``Secret`` registered for redaction; the names found are recorded as evidence.
    A test using it is an *error* when the env file cannot be read.
    """
    if client_config.env_file is not None:
        try:
            source = from_file(client_config.env_file, client_config.config.get("env_pointer", default("clients.*.env_pointer")))
        except EnvUnreadable as exc:
            raise EvaluationError(str(exc)) from None
    else:
        source = from_environment([rule.name for rule in client_config.rules])
    secret_names = {rule.name for rule in client_config.rules if rule.secret}
    for name, value in source.values.items():
        if name in secret_names or credential_kind(value.reveal()) is not None or name.lower() in SECRET_KEYS:
            authcheck_run.redactor.add(value)
    authcheck_record.fact("source", source.description)
    authcheck_record.fact("variables set", sorted(n for n, v in source.values.items() if v))
    return source


@pytest.fixture
def policy_file(authcheck_policy: Policy) -> Policy:
    """The policy as its author wrote it (``.source``, ``.unresolved``), for checks of the policy itself."""
    return authcheck_policy


def register_secrets(run: AuthcheckRun, document: Mapping[str, Any]) -> None:
    """Hide every token-like member of a credentials document from all output from now on."""
    for key, value in document.items():
        if isinstance(value, Mapping):
            register_secrets(run, value)
        elif isinstance(value, str) and (key in TOKEN_FIELDS or key.lower() in SECRET_KEYS
                                         or credential_kind(value) is not None):
            run.redactor.add(value)
