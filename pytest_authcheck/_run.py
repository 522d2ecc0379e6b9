"""The state of one ``pytest --authcheck`` run: policy, redactor, HTTP client, providers, results."""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._bounds import clip, printable
from ._confine import Confinement
from ._http import HttpClient, worker_prefix
from ._jamf.url import lint_url
from ._login import Sessions
from ._oidc import OidcProvider, provider_hosts
from ._provider import Provider
from ._redact import Redactor
from ._shared import SharedStore
from ._tokens import TokenSource
from .policy.load import Policy
from .probes.authorization import AuthorizationProbes
from .probes.token import TokenProbes, token_endpoint_of
from .results.exchanges import ExchangeStore
from .results.not_applicable import NotApplicable
from .results.stored import ResultStore

LOG_LIMIT = 16 * 1024


class AuthcheckRun:
    """Created at configure time on the controller and on every xdist worker."""

    def __init__(self, policy: Policy, *, reports_dir: Any, argv: list[str], run_id: str | None = None,
                 shared_dir: Path | None = None) -> None:
        self.policy = policy
        self.redactor = Redactor(policy.secrets)
        self.reports_dir = reports_dir
        self.argv = [self.redactor.text(a) for a in argv]
        self.run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
        self.started = datetime.now(UTC)
        self.started_monotonic = time.monotonic()
        self.shared = SharedStore(shared_dir)
        self._http: HttpClient | None = None
        self._providers: dict[str, OidcProvider] | None = None
        self._all_providers: dict[str, Provider] | None = None
        self._tokens: TokenSource | None = None
        self._token_probes: TokenProbes | None = None
        self._authz_probes: AuthorizationProbes | None = None
        self.sessions = Sessions()
        # what a suite worked out once for the run (a control shared by every client of a provider, say)
        self.memo: dict[Any, Any] = {}
        # what the terminal header says about how the run was made (one process instead of -n N workers, say)
        self.notes: list[str] = []
        self.results: list[MutableMapping[str, Any]] = []
        # (check, target) pairs the policy alone shows a check cannot look at: no test, a result all the same
        self.not_applicable: list[NotApplicable] = []
        self.exchanges = ExchangeStore()
        self.result_store = ResultStore()
        self.finished: datetime | None = None
        self.duration: float | None = None
        self.exit_status: int | None = None
        self.html_path: Any = None
        # where the findings' data goes in pytest-html's page, until it is written there (``report.html.complete``)
        self.html_data_marker: str | None = None
        # The gate, waiver states, baseline comparison and threat roll-up (``_outcome.decide``), set once
        # on the controller at the end of the run and read by every writer.
        self.outcome: dict[str, Any] | None = None

    @property
    def http(self) -> HttpClient:
        """The run's HTTP client (created on first use, so a run without requests opens nothing)."""
        if self._http is None:
            settings = self.policy.settings
            self._http = HttpClient(redactor=self.redactor, timeout=settings.timeout, ca_bundle=settings.ca_bundle,
                                    max_response_bytes=settings.max_response_bytes, retries=settings.retries,
                                    id_prefix=worker_prefix(), confinement=Confinement.from_policy(self.policy))
        return self._http

    @property
    def oidc_providers(self) -> dict[str, OidcProvider]:
        """The policy's OIDC providers by name."""
        if self._providers is None:
            self._providers = {
                name: OidcProvider(name, config, http=self.http, settings=self.policy.settings, shared=self.shared)
                for name, config in self.policy.providers_of_kind("oidc").items()
            }
        return self._providers

    @property
    def providers(self) -> dict[str, Provider]:
        """Every provider of the policy by name, whatever its kind (what the tls and clock checks judge)."""
        if self._all_providers is None:
            settings, oidc = self.policy.settings, self.oidc_providers
            # A Jamf Pro server is reached at its URL as the Jamf checks normalise it (jamf.url-canonical).
            self._all_providers = {
                name: oidc.get(name) or Provider(name, config, url=lint_url(config["url"]).url, http=self.http,
                                                 settings=settings, shared=self.shared)
                for name, config in self.policy.section("providers").items()
            }
        return self._all_providers

    @property
    def tokens(self) -> TokenSource:
        """Tokens for the policy's clients, one per client per run."""
        if self._tokens is None:
            self._tokens = TokenSource(self.http, self.policy.section("clients"), self.oidc_providers, self.token_probes)
        return self._tokens

    @property
    def authz_probes(self) -> AuthorizationProbes:
        """Authorization probes of the run (their login step is set by the ``authcheck_authz_probes`` fixture)."""
        if self._authz_probes is None:
            self._authz_probes = AuthorizationProbes(self.http, self.oidc_providers, None, provider_hosts,
                                                     sessions=self.sessions)
        return self._authz_probes

    @property
    def token_probes(self) -> TokenProbes:
        """Token endpoint probes of the run, each (client, probe) sent once."""
        if self._token_probes is None:
            self._token_probes = TokenProbes(self.http, token_endpoint_of(self.oidc_providers))
        return self._token_probes

    def target_subject(self, fixture: str, name: str) -> Any:
        """What the target ``name`` of ``fixture``'s kind is to the checks (a ``PolicyClient`` for ``oidc_client``),
        built once per run: tens of thousands of tests at a thousand clients read the same few thousand."""
        from ._targets import TARGET_KINDS

        key = ("target subject", fixture, name)
        if key not in self.memo:
            self.memo[key] = TARGET_KINDS[fixture].subject_of(self.policy, name)
        return self.memo[key]

    def not_applicable_to(self, check: Any, target: str, test: str, param: str, reason: str) -> None:
        """Record that ``check`` does not apply to ``target``, as a skipped result without a test (``test[param]``
        would have been its node id)."""
        self.not_applicable.append(NotApplicable(check, test=test, param=param, target=target,
                                                 message=self.redactor.text(reason)))

    def finish(self, exit_status: int) -> None:
        """Note the end of the run (controller only)."""
        self.finished = datetime.now(UTC)
        self.duration = round(time.monotonic() - self.started_monotonic, 3)
        self.exit_status = exit_status

    def close(self) -> None:
        """Release connections."""
        if self._http is not None:
            self._http.close()

    def install_log_redaction(self) -> None:
        """Redact every log record at creation, so no handler (ours, pytest's, the user's) sees a secret."""
        previous = logging.getLogRecordFactory()
        redactor = self.redactor

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logger's problem, not a leak
                return record
            record.msg, record.args = printable(clip(redactor.text(message), LOG_LIMIT, LOG_LIMIT // 2)), None
            return record

        logging.setLogRecordFactory(factory)
        self._previous_factory = previous

    def remove_log_redaction(self) -> None:
        """Restore the log record factory (pytester runs many sessions in one process)."""
        previous = getattr(self, "_previous_factory", None)
        if previous is not None:
            logging.setLogRecordFactory(previous)


def python_version() -> str:
    """``3.11.7`` style."""
    return ".".join(map(str, sys.version_info[:3]))
