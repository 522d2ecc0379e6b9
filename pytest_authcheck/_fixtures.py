"""The fixtures the shipped suites use, public so teams can write their own checks beside them.

Registered only when ``--authcheck`` is given. Override any of them in a ``conftest.py`` the usual way.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._checks import Check, check_of_function
from ._documents import Document
from ._errors import EvaluationError
from ._http import HttpClient
from ._oidc import OidcProvider
from ._provider import Provider
from ._record import CheckRecord
from ._run import AuthcheckRun
from ._targets import TARGET_KINDS
from ._tls import TlsFacts
from ._tokens import Token
from .policy.load import Policy
from .results.build import record_key

run_key = pytest.StashKey[AuthcheckRun]()


def _run(config: pytest.Config) -> AuthcheckRun:
    return config.stash[run_key]


def run_fixture(run: AuthcheckRun) -> types.ModuleType:
    """A plugin serving ``authcheck_run`` from the run it was made with.

    As a plain fixture it would take ``pytestconfig`` to find the run. pytest resolves a session fixture's arguments
    again for every test that uses it, and ``pytestconfig`` asks for ``request``, for which pytest builds a new
    ``FixtureDef`` each time: one per test, 15,000 at a thousand clients. A module, not an object: pytest 9.2 warns
    of (and pytest 10 refuses) a session fixture that is a method of an instance.
    """
    plugin = types.ModuleType(f"{__name__}.run")

    @pytest.fixture(scope="session", name="authcheck_run")
    def authcheck_run() -> AuthcheckRun:
        """The state of this ``--authcheck`` run: policy, redactor, HTTP client, providers and tokens."""
        return run

    plugin.authcheck_run = authcheck_run  # type: ignore[attr-defined]
    return plugin


@pytest.fixture(scope="session")
def authcheck_policy(authcheck_run: AuthcheckRun) -> Policy:
    """The loaded policy: ``.data`` (secrets as ``Secret``), ``.settings``, ``.sha256``, ``.path``."""
    return authcheck_run.policy


@pytest.fixture(scope="session")
def authcheck_http(authcheck_run: AuthcheckRun) -> HttpClient:
    """The run's HTTP client: verified TLS (plus ``ca_bundle``), timeouts, retries, size cap, redacted evidence.

    Attach what it returns to your check's evidence with ``authcheck_record.attach(response.exchange)``.
    """
    return authcheck_run.http


@pytest.fixture
def authcheck_record(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun) -> CheckRecord:
    """This check's evidence record: ``attach(exchange)``, ``expect(expected, observed)``, ``fact(name, value)``,
    ``jwt(label, token)`` and ``fail(message, expected=..., observed=...)``."""
    return check_record(request.node, authcheck_run)


def check_record(item: pytest.Item, run: AuthcheckRun) -> CheckRecord:
    """The item's evidence record, made the first time it is asked for."""
    record: CheckRecord | None = item.stash.get(record_key, None)
    if record is None:
        record = item.stash[record_key] = CheckRecord(run.redactor)
    return record


@pytest.fixture
def oidc_provider(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun) -> OidcProvider:
    """The OIDC provider this test runs against (tests using it are parametrized by provider name)."""
    return authcheck_run.oidc_providers[request.param]


@pytest.fixture
def oidc_discovery(oidc_provider: OidcProvider, authcheck_record: CheckRecord) -> Document:
    """The provider's discovery response as a ``Document`` (status, headers, body), whatever it answered.

    Only when no answer arrived at all (connection refused, TLS failure, timeout) do tests using it end
    in *error*; the first attempt's cause is reused for the rest of the run.
    """
    return _answered(oidc_provider.discovery(), authcheck_record)


@pytest.fixture
def oidc_tls(oidc_provider: OidcProvider, authcheck_record: CheckRecord) -> TlsFacts:
    """TLS facts of the issuer's host (chain, certificate, versions), inspected once per run.

    Tests using it are not applicable (skipped, saying why) when the issuer is not https.
    """
    return _tls_of(oidc_provider, authcheck_record)


@pytest.fixture
def oidc_tls_endpoints(oidc_provider: OidcProvider, authcheck_record: CheckRecord) -> list[TlsFacts]:
    """TLS facts of every https origin the provider sends clients to (issuer and advertised endpoints).

    The endpoints are known only from the metadata; when it cannot be had, the issuer's host is still judged.
    Tests using it are not applicable (skipped, saying why) when there is no https origin at all.
    """
    return _tls_endpoints_of(oidc_provider, authcheck_record)


@pytest.fixture
def any_provider(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun) -> Provider:
    """A provider of any kind, OIDC or Jamf Pro (tests using it run once per ``[providers.*]``): what every kind
    shares, its URL, TLS and clock."""
    return authcheck_run.providers[request.param]


@pytest.fixture
def provider_home(any_provider: Provider, authcheck_record: CheckRecord) -> Document:
    """The answer at the provider's URL, whatever it answered: an OIDC provider's discovery response, a GET of
    the URL of the others. Tests using it end in *error* only when no answer arrived at all."""
    return _answered(any_provider.home(), authcheck_record)


@pytest.fixture
def provider_tls(any_provider: Provider, authcheck_record: CheckRecord) -> TlsFacts:
    """TLS facts of the provider's host (the issuer's, the Jamf Pro URL's), inspected once per run; not applicable
    (skipped, saying why) when that URL is not https."""
    return _tls_of(any_provider, authcheck_record)


@pytest.fixture
def provider_tls_endpoints(any_provider: Provider, authcheck_record: CheckRecord) -> list[TlsFacts]:
    """TLS facts of every https origin the provider sends clients to (an OIDC provider's issuer and advertised
    endpoints, a Jamf Pro server's URL); not applicable (skipped, saying why) when there is none."""
    return _tls_endpoints_of(any_provider, authcheck_record)


def _answered(document: Document, record: CheckRecord) -> Document:
    record.attach(document.exchange)
    if document.error is not None and document.response is None:
        raise document.error.with_traceback(None)
    return document


def _tls_of(provider: Provider, record: CheckRecord) -> TlsFacts:
    reason = provider.no_tls_reason()
    if reason is not None:
        pytest.skip(reason)
    return _reached(provider.tls(), record)


def _tls_endpoints_of(provider: Provider, record: CheckRecord) -> list[TlsFacts]:
    origins = provider.https_origins()
    if not origins:
        pytest.skip(provider.no_https_origin_reason())
    return [_reached(provider.tls(url), record) for url in origins]


def _reached(facts: TlsFacts, record: CheckRecord) -> TlsFacts:
    if not facts.reachable:
        raise EvaluationError(facts.error or f"cannot reach {facts.host}:{facts.port}")
    record.fact(f"TLS {facts.host}:{facts.port}", facts.to_dict())
    return facts


@pytest.fixture
def oidc_metadata(oidc_provider: OidcProvider, authcheck_record: CheckRecord) -> dict[str, Any]:
    """The provider's discovery document as a dict (fetched once per run; its exchange is attached as evidence).

    Endpoints that only the RFC 8414 document advertises are included (``OidcProvider.metadata``); the
    RFC 8414 exchange is then attached too, and the members so taken are a fact of the evidence.
    If it cannot be fetched or parsed, tests using it end in *error* (could not evaluate), with the cause.
    """
    document = oidc_provider.discovery()
    authcheck_record.attach(document.exchange)
    metadata = oidc_provider.metadata()
    extra = oidc_provider.rfc8414_endpoints()
    if extra:
        authcheck_record.attach(oidc_provider.rfc8414().exchange)
        authcheck_record.fact("endpoints only in the RFC 8414 metadata", extra)
    return metadata


@pytest.fixture
def oidc_jwks(oidc_provider: OidcProvider, oidc_metadata: dict[str, Any], authcheck_record: CheckRecord) -> dict[str, Any]:
    """The provider's JWK Set as a dict (fetched once per run from ``jwks_uri``, exchange attached)."""
    document = oidc_provider.jwks()
    authcheck_record.attach(document.exchange)
    return document.json_object()


@pytest.fixture
def authcheck_token(authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> Callable[..., Token]:
    """``authcheck_token("deployer", scope=None, resource=None)``: a client-credentials token for a policy client.

    One request per (client, scope, resource) per run; the token is a ``Secret`` (``.access_token.reveal()``),
    a JWT access token is decoded in ``.header`` / ``.claims``. The token exchange is attached as evidence.
    """

    def get(client: str, *, scope: str | None = None, resource: str | None = None) -> Token:
        token = authcheck_run.tokens.client_credentials(client, scope=scope, resource=resource)
        authcheck_record.attach(token.response.exchange)
        return token

    return get


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize target fixtures from the static policy, so every xdist worker collects the same tests.

    Only the targets a check applies to become tests; the others are recorded with the reason (the reports list
    them as not applicable), so a large policy does not pay for a test per pair that cannot be looked at. A check
    with no target at all is collected once and skipped with the reason.
    """
    run = _run(metafunc.config)
    policy = run.policy
    definition = check_of_function(metafunc.function)
    for fixture, kind in TARGET_KINDS.items():
        if fixture not in metafunc.fixturenames:
            continue
        names = []
        for name in kind.names(policy):
            # built once per target, not once per (check, target): 38,000 times at a thousand clients
            subject = run.target_subject(fixture, name)
            reason = _not_applicable(metafunc, definition, subject, fixture, policy)
            if reason is None:
                names.append(name)
            elif definition is not None:
                run.not_applicable_to(definition, kind.target_of(name), metafunc.definition.nodeid,
                                      kind.id_of(policy, name), reason)
        if names:
            metafunc.parametrize(fixture, names, ids=[kind.id_of(policy, n) for n in names], indirect=True)
        else:
            reason = kind.none_reason if not kind.names(policy) else "it applies to none of the policy's targets here"
            metafunc.parametrize(fixture, [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                                 ids=[f"no-{fixture.replace('_', '-')}"], indirect=True)
        return


# Fixtures that skip a client the policy marks removed or disabled: a check asking for one does not apply to it.
ACTIVE_ONLY = frozenset({"active_client", "client_case"})


def _not_applicable(metafunc: pytest.Metafunc, definition: Check | None, subject: Any, fixture: str,
                    policy: Policy) -> str | None:
    if fixture == "oidc_client" and not subject.active and ACTIVE_ONLY.intersection(metafunc.fixturenames):
        return f"{subject.target} is {subject.state}: only client-auth.removed-client-refused applies"
    if definition is None:
        return None
    reason = definition.not_applicable(subject, policy)
    if reason is None and definition.signs_in is not None and definition.signs_in(subject) \
            and not _can_sign_in(metafunc, policy, subject.provider):
        reason = (f"needs a user's login: providers.{subject.provider} declares no test_user and no authcheck_login "
                  "fixture is plugged in")
    return reason


_DEFAULT_LOGIN_MODULE = "pytest_authcheck._client_fixtures"  # where the default authcheck_login is defined


def _can_sign_in(metafunc: pytest.Metafunc, policy: Policy, provider: str) -> bool:
    """Whether a login client's flows can sign in at ``provider``: a test user, or a team's own login step."""
    if policy.section("providers").get(provider, {}).get("test_user"):
        return True
    # pytest keeps the fixture definitions a test sees here; when it no longer does, assume a login is plugged in
    # (the check then skips at run time, as it did before collection knew)
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("authcheck_login")
    if not definitions:
        return True
    return getattr(definitions[-1].func, "__module__", None) != _DEFAULT_LOGIN_MODULE


def iter_fixture_names() -> Iterator[str]:
    """The public fixture names (documented in docs/fixtures.md)."""
    yield from ("authcheck_run", "authcheck_policy", "authcheck_http", "authcheck_record", "oidc_provider",
                "oidc_discovery", "oidc_metadata", "oidc_jwks", "oidc_tls", "oidc_tls_endpoints", "any_provider",
                "provider_home", "provider_tls", "provider_tls_endpoints", "authcheck_token")
