"""Fixtures of the client suites: the client under test, probes of its provider's endpoints, and logins.

Registered only when ``--authcheck`` is given. ``authcheck_login`` is the extension point for providers
whose login is not an HTML form (an API, a JavaScript page, MFA): override it in a ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import pytest

from ._authz import AuthzOutcome, authorization_params, probe
from ._clients import PolicyClient
from ._codeflow import CodeFlows, UserTokens
from ._errors import EvaluationError
from ._fixtures import check_record
from ._http import Response
from ._login import FormLogin, LoginFlow, LoginStep, LoginUser, Session, WalkEnd
from ._oidc import OidcProvider, provider_hosts
from ._record import CheckRecord
from ._redact import Secret
from ._run import AuthcheckRun
from ._tokens import Token
from .probes import AuthorizationProbes, TokenProbes
from .probes.openid import OpenidLogins
from .probes.userinfo import UserinfoProbes


@pytest.fixture
def oidc_client(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun) -> PolicyClient:
    """The policy client under test (tests using it run once per client of an oidc provider)."""
    client: PolicyClient = authcheck_run.target_subject("oidc_client", request.param)
    return client


def _require_active(client: PolicyClient) -> PolicyClient:
    if not client.active:
        pytest.skip(f"{client.target} is {client.state}: only client-auth.removed-client-refused applies")
    return client


@pytest.fixture
def active_client(oidc_client: PolicyClient) -> PolicyClient:
    """The client under test, skipped when the policy marks it removed or disabled."""
    return _require_active(oidc_client)


@pytest.fixture
def client_provider(oidc_client: PolicyClient, authcheck_run: AuthcheckRun) -> OidcProvider:
    """The OIDC provider the client under test is registered with."""
    return authcheck_run.oidc_providers[oidc_client.provider]


def _metadata(provider: OidcProvider, record: CheckRecord) -> dict[str, Any]:
    record.attach(provider.discovery().exchange)
    return provider.metadata()


@pytest.fixture
def client_metadata(client_provider: OidcProvider, authcheck_record: CheckRecord) -> dict[str, Any]:
    """The client's provider's discovery document (an *error* when it cannot be had)."""
    return _metadata(client_provider, authcheck_record)


class ClientCase(NamedTuple):
    """What a client check starts from: the active client, its provider, the provider's metadata, the check's record."""

    client: PolicyClient
    provider: OidcProvider
    metadata: dict[str, Any]
    record: CheckRecord


@pytest.fixture
def client_case(request: pytest.FixtureRequest, oidc_client: PolicyClient, authcheck_run: AuthcheckRun) -> ClientCase:
    """``active_client``, ``client_provider``, ``client_metadata`` and ``authcheck_record`` in one fixture (the same
    objects, the same skip and *error*), for checks run once per client: pytest's own work per fixture is some
    tens of microseconds a test, a few seconds at a thousand clients for these four."""
    client = _require_active(oidc_client)
    record = check_record(request.node, authcheck_run)
    provider = authcheck_run.oidc_providers[client.provider]
    return ClientCase(client, provider, _metadata(provider, record), record)


@pytest.fixture
def token_request(oidc_client: PolicyClient, client_provider: OidcProvider, client_metadata: dict[str, Any],
                  authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> Callable[..., Response]:
    """``token_request(form, secret=None, method=None, client=None)``: POST to the token endpoint as the client.

    The client's declared authentication is added (``secret``/``method`` override it for probes); the
    exchange is attached as evidence. Credentials are never sent over plain http.
    """
    endpoint = client_provider.endpoint("token_endpoint")
    if not endpoint.startswith("https://") and not client_provider.http_tolerated(endpoint):
        raise EvaluationError(f"the token endpoint {endpoint} is not https; client credentials are never sent "
                              "over plain http")

    def send(form: dict[str, Any], *, secret: Secret | str | None = None, method: str | None = None,
             client: PolicyClient | None = None) -> Response:
        who = client or oidc_client
        data, auth = who.credentials(form, secret=secret, method=method)
        response = authcheck_run.http.post(endpoint, data=data, auth=auth)
        authcheck_record.attach(response.exchange)
        return response

    return send


@pytest.fixture
def authz_probe(oidc_client: PolicyClient, client_provider: OidcProvider, client_metadata: dict[str, Any],
                authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> Callable[..., AuthzOutcome]:
    """``authz_probe(redirect_uri=None, **params)``: one pre-login authorization request, never followed.

    Starts from an ordinary code-flow request for the client (its first registered redirect URI, PKCE S256,
    state, nonce, the policy's scopes); keyword arguments replace members (``None`` removes one).
    """
    endpoint = client_provider.endpoint("authorization_endpoint")
    hosts = provider_hosts(client_provider)

    def send(redirect_uri: str | None = None, **params: str | None) -> AuthzOutcome:
        uri = redirect_uri if redirect_uri is not None else (oidc_client.redirect_uris[0] if oidc_client.redirect_uris else "")
        request = authorization_params(oidc_client.client_id, uri, scope=oidc_client.scope_request())
        for key, value in params.items():
            if value is None:
                request.pop(key, None)
            else:
                request[key] = value
        outcome = probe(authcheck_run.http, endpoint, request, provider_hosts=hosts)
        authcheck_record.attach(outcome.exchange)
        return outcome

    return send


@pytest.fixture
def authz_baseline(active_client: PolicyClient, authz_probe: Callable[..., AuthzOutcome]) -> AuthzOutcome:
    """The control probe: an ordinary request with the first registered redirect URI must proceed to login.

    Probes that expect a refusal use it to prove the refusal is about their variation, not the client;
    when the control itself is refused the test is an *error* (see redirect-uri.registered-accepted).
    """
    if not active_client.declares("authorization_code") or not active_client.redirect_uris:
        pytest.skip(f"{active_client.target} declares no authorization_code grant with redirect_uris")
    outcome = authz_probe()
    if outcome.refused or outcome.kind != "proceeds to login":
        raise EvaluationError(f"the ordinary authorization request of {active_client.target} is not accepted "
                              f"({outcome.describe()}), so refusals of variations prove nothing; see "
                              + ("client-auth.public-client-known" if outcome.error == "invalid_client"
                                 else "redirect-uri.registered-accepted"))
    return outcome


T = TypeVar("T")


class PolicyLogin:
    """The default login step: the policy's accounts through the provider's HTML forms, one session per
    (provider, account) for the whole run, so each account signs in once per provider."""

    def __init__(self, run: AuthcheckRun) -> None:
        self.run = run

    def __call__(self, flow: LoginFlow) -> str:
        username, password = self.account(flow.provider, flow.user)
        login = FormLogin(self.run.http, username, password, session=self.session(flow.provider, username))
        return self._serialised(login, lambda: login(flow))

    def _serialised(self, login: FormLogin, act: Callable[[], T]) -> T:
        # One walk at a time per account: providers rotate the session cookie on each flow, and two walks sharing a
        # jar would each hold a stale one. (Between xdist workers sessions are not shared, for the same reason: each
        # worker signs in once.)
        session = login.session
        assert session is not None
        with session.lock:
            return act()

    def account(self, provider: str, user: LoginUser | None) -> tuple[str, Secret]:
        """The account a flow signs in with: ``flow.user``, else the provider's ``test_user`` (else a skip)."""
        if user is not None:
            return user.username, user.password
        config = self.run.policy.section("providers").get(provider, {})
        test_user = config.get("test_user")
        if not test_user:
            pytest.skip(f"needs a user's login: providers.{provider} declares no test_user and no "
                        "authcheck_login fixture is plugged in")
        return str(test_user["username"]), test_user["password"]

    def has_test_user(self, provider: str) -> bool:
        """Whether signed-in probes can be made at ``provider``."""
        return bool(self.run.policy.section("providers").get(provider, {}).get("test_user"))

    def session(self, provider: str, username: str) -> Session:
        """The run's session of ``username`` at ``provider``."""
        return self.run.sessions.get(provider, username)

    def walk_signed_in(self, provider: str, url: str, *, provider_hosts: set[str], is_end: Callable[[str], bool],
                       consent: bool) -> WalkEnd | None:
        """Follow ``url`` as the provider's test user (signing in once per run if needed); None without one."""
        if not self.has_test_user(provider):
            return None
        username, password = self.account(provider, None)
        login = FormLogin(self.run.http, username, password, session=self.session(provider, username))
        return self._serialised(login, lambda: login.walk(url, provider_hosts=provider_hosts, is_end=is_end,
                                                          consent=consent))

    def signed_in_since(self, provider: str) -> float | None:
        """When the run first signed the provider's test user in (this machine's clock), or None: no session
        can be older than that."""
        if not self.has_test_user(provider):
            return None
        username, _ = self.account(provider, None)
        return self.run.sessions.get(provider, username).first_login_at


@pytest.fixture(scope="session")
def authcheck_login(authcheck_run: AuthcheckRun) -> LoginStep:
    """The login step of authorization-code flows: ``login(flow) -> callback URL``.

    The default logs ``providers.NAME.test_user`` in through the provider's HTML forms (login, consent;
    hidden inputs and cookies kept per flow) and skips the check when no test user is declared; a flow
    for an API's user principal carries that ``[users.NAME]`` account in ``flow.user`` (``.username``,
    ``.password`` a ``Secret``), which the default logs in instead. Override
    it for an API login, a JavaScript page or MFA: ``flow.authorization_url`` is where the browser would
    go, ``flow.is_callback(url)`` recognises the redirect back to ``flow.redirect_uri``; return that URL
    (with ``code`` and ``state``) without requesting it.
    """
    return PolicyLogin(authcheck_run)


@pytest.fixture(scope="session")
def authcheck_code_flows(authcheck_run: AuthcheckRun, authcheck_login: LoginStep) -> Iterator[CodeFlows]:
    """Authorization-code flows for the run's clients (one cached token set per client, fresh ones on demand)."""
    yield CodeFlows(authcheck_run.http, authcheck_run.oidc_providers, authcheck_login, provider_hosts,
                    sessions=authcheck_run.sessions)


@pytest.fixture(scope="session")
def authcheck_authz_probes(authcheck_run: AuthcheckRun, authcheck_login: LoginStep) -> AuthorizationProbes:
    """The run's authorization probes: each client's ordinary request and its variations, before a login and
    signed in as the provider's test user (``decide(client, Variation.of(...))``); each sent once per run."""
    probes = authcheck_run.authz_probes
    probes.use_login(authcheck_login)
    return probes


@pytest.fixture(scope="session")
def authcheck_userinfo_probes(authcheck_run: AuthcheckRun) -> UserinfoProbes:
    """The run's userinfo requests: per provider without a token and with a made-up one, per client its token in
    the Authorization header and in the URL query; each sent once per run."""
    return UserinfoProbes(authcheck_run.http, authcheck_run.oidc_providers, provider_hosts)


@pytest.fixture(scope="session")
def authcheck_openid_logins(authcheck_code_flows: CodeFlows) -> OpenidLogins:
    """One plain OpenID Connect login per client and run (``scope=openid``, ``max_age``): ``.login(client)``."""
    return OpenidLogins(authcheck_code_flows)


@pytest.fixture(scope="session")
def token_probes(authcheck_run: AuthcheckRun) -> TokenProbes:
    """The run's token endpoint probes (``send(client, name, form, secret=..., method=..., as_client=...)``)."""
    return authcheck_run.token_probes


@dataclass
class ClientToken:
    """The run's token for a client: ``token`` (a ``Token``), and ``user`` when it came from a login."""

    token: Token
    user: UserTokens | None = None
    requested_scope: str | None = None  # the scope the request asked for (None: no scope parameter)


@pytest.fixture
def client_token(client_case: ClientCase, authcheck_token: Callable[..., Token],
                 authcheck_code_flows: CodeFlows) -> ClientToken:
    """The run's token for the client under test (client credentials when declared, else the cached login's).

    Skips when the client has neither; an *error* when the token cannot be had.
    """
    active_client, authcheck_record = client_case.client, client_case.record
    if active_client.mints_own_tokens:
        scope = " ".join(s for s in active_client.scopes if s != "openid") or None
        return ClientToken(authcheck_token(active_client.name), requested_scope=scope)
    if active_client.uses_login:
        tokens = authcheck_code_flows.tokens(active_client)
        authcheck_record.attach(*tokens.exchanges)
        return ClientToken(tokens.token, tokens, requested_scope=tokens.authorization.scope or None)
    pytest.skip(f"{active_client.target} declares neither client_credentials with a secret nor authorization_code "
                "with redirect_uris: no token to look at")


def iter_fixture_names() -> Iterator[str]:
    """The public fixture names of the client suites (documented in docs/fixtures.md)."""
    yield from ("oidc_client", "client_case", "authcheck_login", "authcheck_code_flows", "token_request", "authz_probe", "client_token",
                "authcheck_authz_probes", "token_probes", "authcheck_userinfo_probes",
                "authcheck_openid_logins")
