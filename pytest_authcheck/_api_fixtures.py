"""Fixtures of the API suites (``api_matrix``, ``api_tokens``): the API under test, its principals' credentials
and the cells of its authorization matrix. Registered only when ``--authcheck`` is given.

A user principal's token comes from the login driver (``authcheck_code_flows``, so a team's ``authcheck_login``
override is honoured); it is only requested when an API has user principals.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ._api import MATRIX_FACT, ApiPrincipal, ApiRule, ApiSpec, Expectation, api_spec, parse_cell
from ._clients import PolicyClient
from ._codeflow import CodeFlows, UserTokens
from ._errors import EvaluationError
from ._http import Response
from ._login import LoginUser
from ._record import CheckRecord
from ._redact import Secret
from ._run import AuthcheckRun
from ._tokens import Token
from .observations import NotEvaluated, observe_resource


@dataclass
class Baseline:
    """A real token the API accepts at a safe rule: forged variants of it are sent to the same request."""

    rule: ApiRule
    principal: ApiPrincipal
    token: Secret
    response: Response


@dataclass
class ProbeToken:
    """A real token from a probe source (a policy client or a bearer from the environment)."""

    source: str
    token: Secret
    claims: dict[str, Any] | None
    obtained: Token | None = None


class ApiUnderTest:
    """An API of the policy with the run's HTTP client and token source; credentials are fetched once per run."""

    def __init__(self, spec: ApiSpec, run: AuthcheckRun) -> None:
        self.spec = spec
        self.run = run
        self.code_flows: CodeFlows | None = None  # set by the fixtures when the API has user principals
        self._baseline: Baseline | EvaluationError | None = None
        self._bare: dict[tuple[str, str], Response] = {}
        self._bare_lock = threading.Lock()

    @property
    def name(self) -> str:
        """The API's name in the policy."""
        return self.spec.name

    @property
    def issuer(self) -> str | None:
        """The issuer of the API's provider (the one its tokens must come from)."""
        provider = self.run.policy.section("providers").get(self.spec.provider or "", {})
        issuer = provider.get("issuer")
        return issuer if isinstance(issuer, str) else None

    def client_token(self, client: str, resource: str | None) -> Token:
        """A client-credentials token (one request per client and resource per run)."""
        return self.run.tokens.client_credentials(client, resource=resource)

    def user_token(self, principal: ApiPrincipal) -> UserTokens:
        """A user principal's tokens: its user logged in through its client's authorization-code flow (PKCE,
        the API's audience as RFC 8707 ``resource``), once per (user, client) per run; failures are errors."""
        assert principal.user is not None and principal.client is not None  # the policy check guarantees both
        if self.code_flows is None:
            raise EvaluationError(f"no login driver for {principal.name}: the authcheck_code_flows fixture was not set up")
        account = self.run.policy.section("users")[principal.user]
        user = LoginUser(name=principal.user, username=str(account["username"]), password=account["password"])
        client = PolicyClient.from_policy(principal.client, self.run.policy.section("clients")[principal.client])
        return self.code_flows.user_tokens(client, user, self.spec.audience)

    def credential(self, principal: ApiPrincipal, record: CheckRecord | None = None) -> dict[str, Any]:
        """The headers that carry ``principal``'s credential (values are ``Secret``)."""
        if principal.kind == "anonymous":
            return {}
        if principal.kind == "api_key":
            assert principal.header is not None and principal.value is not None
            return {principal.header: principal.value}
        if principal.kind == "bearer":
            assert principal.value is not None
            return self.bearer(principal.value.reveal())
        if principal.kind == "client":
            assert principal.client is not None
            token = self.client_token(principal.client, self.spec.audience)
            if record is not None:
                record.attach(token.response.exchange)
            return self.bearer(token.access_token.reveal())
        if principal.kind == "user":
            tokens = self.user_token(principal)
            if record is not None:
                record.attach(tokens.token.response.exchange)
                record.fact("credential", f"access token of users.{principal.user} logged in through "
                                          f"clients.{principal.client} (authorization code + PKCE)")
            return self.bearer(tokens.token.access_token.reveal())
        raise EvaluationError(f"principal {principal.name} has no credential kind this release knows ({principal.kind})")

    def bearer(self, token: str) -> dict[str, Any]:
        """An ``Authorization: Bearer`` header for ``token`` (registered as a secret first)."""
        self.run.redactor.add(token)
        return {"Authorization": Secret(f"Bearer {token}", label="authorization")}

    def send(self, rule: ApiRule, headers: Mapping[str, Any]) -> Response:
        """``rule``'s request with ``headers`` (no body; redirects not followed).

        A safe request without any credential is sent once per run and its answer reused: api.no-credential, the
        matrix's anonymous cell and tokens.query-refused (is it served to anybody?) all ask that same question.
        """
        if headers or not rule.safe:
            return self.run.http.request(rule.method, self.spec.url(rule.path), headers=headers)
        with self._bare_lock:
            key = (rule.method, rule.path)
            if key not in self._bare:
                self._bare[key] = self.run.http.request(rule.method, self.spec.url(rule.path), headers={})
            return self._bare[key]

    def baseline(self) -> Baseline:
        """A token principal the policy allows at the first GET rule, and the API's acceptance of its real token.

        Skips when the policy gives no such pair; *not evaluated* when the API refuses the real token (refusing
        forged ones would then prove nothing). Computed once per run.
        """
        if self._baseline is None:
            try:
                self._baseline = self._find_baseline()
            except EvaluationError as exc:
                self._baseline = exc
        if isinstance(self._baseline, EvaluationError):
            raise self._baseline
        return self._baseline

    def _find_baseline(self) -> Baseline:
        rule = self.spec.safe_rule()
        if rule is None:
            raise _NotApplicable(f"apis.{self.name} has no GET rule to send token probes to (safe requests only)")
        candidates = [p for p in self.spec.token_principals() if self.spec.expectation(rule, p).outcome == "allow"]
        if not candidates:
            raise _NotApplicable(f"apis.{self.name} has no client or bearer principal allowed at {rule.request}, "
                                 "so there is no real token to forge from")
        principal = candidates[0]
        headers = self.credential(principal)
        token = Secret(str(headers["Authorization"].reveal()).removeprefix("Bearer "), label="baseline")
        response = self.send(rule, headers)
        answer = observe_resource(response)
        if not answer.accepted:
            why = answer.why_not_evaluable() if not answer.decisive else f"it was refused ({answer.summary})"
            raise NotEvaluated(f"the real token of {principal.name} got HTTP {response.status} at {rule.request}, where "
                               f"the policy allows it: {why}; refusing forged tokens would prove nothing",
                               exchange=response.exchange)
        return Baseline(rule=rule, principal=principal, token=token, response=response)

    def probe_token(self, probe: str) -> ProbeToken:
        """The real token of the probe source ``probe`` (``other_audience``, ...); skips when none is declared."""
        source = self.spec.probes.get(probe)
        if source is None:
            pytest.skip(f"apis.{self.name}.probes.{probe} is not declared, so there is no such token to send")
        if "bearer" in source:
            value = source["bearer"].reveal()
            self.run.redactor.add(value)
            return ProbeToken(source=f"apis.{self.name}.probes.{probe}.bearer", token=Secret(value, label=probe),
                              claims=_claims(value))
        client = source["client"]
        config = self.run.policy.section("clients").get(client, {})
        resource = config.get("resource")
        if probe in ("short_lived", "not_yet_valid", "other_issuer") and not resource:
            resource = self.spec.audience  # only the property under test should differ from a good token
        token = self.client_token(client, resource)
        return ProbeToken(source=f"clients.{client}", token=token.access_token, claims=token.claims, obtained=token)


class _NotApplicable(EvaluationError):
    """Raised inside the cached baseline, turned into a skip by the fixture (it is the same on every call)."""


def _claims(token: str) -> dict[str, Any] | None:
    from ._jwt import decode_unverified

    try:
        return decode_unverified(token)[1]
    except ValueError:
        return None


@dataclass
class MatrixCell:
    """One (rule, principal) of an API's authorization matrix and what the policy expects there."""

    api: ApiUnderTest
    rule: ApiRule
    principal: ApiPrincipal
    expectation: Expectation

    def fact(self, observed: int | None = None) -> dict[str, Any]:
        """The cell as evidence, JSON-able (the HTML matrix is built from these)."""
        return {"api": self.api.name, "rule": self.rule.index, "request": self.rule.request,
                "principal": self.principal.name, "expected": self.expectation.label,
                "reason": self.expectation.reason, "observed": observed}


_apis_key = pytest.StashKey[dict[str, ApiUnderTest]]()


def _api_under_test(request: pytest.FixtureRequest, run: AuthcheckRun, name: str) -> ApiUnderTest:
    apis = request.config.stash.setdefault(_apis_key, {})
    if name not in apis:
        apis[name] = ApiUnderTest(api_spec(run.policy, name), run)
    target = apis[name]
    # Only APIs with user principals pull in the login step (a team's override may be costly to set up).
    if target.code_flows is None and any(p.kind == "user" for p in target.spec.principals.values()):
        target.code_flows = request.getfixturevalue("authcheck_code_flows")
    return target


@pytest.fixture(scope="session")
def authcheck_allow_mutations(pytestconfig: pytest.Config) -> bool:
    """Whether requests with side effects may be probed (``--authcheck-allow-mutations``)."""
    return bool(pytestconfig.getoption("authcheck_allow_mutations") or pytestconfig.getini("authcheck_allow_mutations"))


@pytest.fixture
def api(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun) -> ApiUnderTest:
    """The API this test runs against (tests using it are parametrized by API name): ``.spec`` (principals,
    rules, roles, probes), ``.credential(principal)``, ``.send(rule, headers)``, ``.baseline()``, ``.probe_token(name)``."""
    return _api_under_test(request, authcheck_run, request.param)


@pytest.fixture
def api_baseline(api: ApiUnderTest, authcheck_record: CheckRecord) -> Baseline:
    """A real token the API accepts at its first GET rule (the request forged tokens are sent to).

    Skipped when the policy has no GET rule or no token principal allowed there; *not evaluated* when the
    API does not accept the real token.
    """
    try:
        baseline = api.baseline()
    except _NotApplicable as exc:
        pytest.skip(str(exc))
    authcheck_record.attach(baseline.response.exchange)
    authcheck_record.jwt(f"real token of {baseline.principal.name} (forgeries start from it)", baseline.token.reveal())
    return baseline


@pytest.fixture
def api_cell(request: pytest.FixtureRequest, authcheck_run: AuthcheckRun, authcheck_record: CheckRecord) -> MatrixCell:
    """One cell of an API's authorization matrix: ``.rule``, ``.principal``, ``.expectation`` (from the policy
    alone); tests using it run once per (rule, principal) of every API."""
    name, index, principal_name = parse_cell(request.param)
    target = _api_under_test(request, authcheck_run, name)
    rule = target.spec.rules[index]
    principal = target.spec.principals[principal_name]
    cell = MatrixCell(api=target, rule=rule, principal=principal, expectation=target.spec.expectation(rule, principal))
    authcheck_record.fact(MATRIX_FACT, cell.fact())
    return cell


def iter_fixture_names() -> list[str]:
    """The public fixtures of this module."""
    return ["authcheck_allow_mutations", "api", "api_baseline", "api_cell"]

