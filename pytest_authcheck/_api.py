"""APIs of the policy (``[apis.*]``): principals, rules and what each principal should get, from the policy alone.

Everything here is pure: it reads the policy and says, for each (rule, principal), whether the request
must be allowed or refused and with which status. The requests themselves are made by the fixtures
(``_api_fixtures``) through the run's HTTP layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._duration import parse_duration
from ._redact import Secret
from .policy.defaults import seconds
from .policy.load import Policy

# A principal every API has without declaring it: a request that carries no credential at all.
ANONYMOUS = "anonymous"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_LEEWAY = seconds("apis.*.leeway")
DEFAULT_MAX_EXPIRY_WAIT = seconds("apis.*.max_expiry_wait")
# Parameter values of matrix tests: "api#rule-index#principal" (names cannot contain '#').
CELL_SEPARATOR = "#"

MATRIX_CHECK = "api.authorization-matrix"
MATRIX_FACT = "matrix cell"  # the evidence fact of each matrix result; the HTML matrix is built from it

ALLOW = "allow"
DENY_403 = "403"
DENY_401 = "401"


@dataclass(frozen=True)
class ApiPrincipal:
    """Who calls the API: a policy client's token, a policy user's token (logged in through a client's
    authorization-code flow), an API key, a bearer token, or nobody."""

    name: str
    kind: str  # "client", "user", "api_key", "bearer", "anonymous"
    role: str | None = None
    client: str | None = None
    user: str | None = None
    header: str | None = None
    value: Secret | None = None
    revoked: bool = False

    @property
    def authenticates(self) -> bool:
        """Whether the API should accept this principal's credential (and so answer 403, not 401, when it refuses)."""
        return self.kind != "anonymous" and not self.revoked


@dataclass(frozen=True)
class ApiRule:
    """One ``[[apis.X.rules]]`` entry."""

    index: int
    method: str
    path: str
    min_role: str | None = None
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    mutating: bool = False

    @property
    def request(self) -> str:
        """``GET /v1/users/me``."""
        return f"{self.method} {self.path}"

    @property
    def safe(self) -> bool:
        """Whether the method is safe (RFC 9110 §9.2.1): probing it changes nothing."""
        return self.method in SAFE_METHODS


@dataclass(frozen=True)
class Expectation:
    """What a (rule, principal) request must get: ``allow``, ``403`` or ``401``, and why."""

    outcome: str
    reason: str

    @property
    def label(self) -> str:
        """Short form for the matrix: ``allowed``, ``403``, ``401``."""
        return "allowed" if self.outcome == ALLOW else self.outcome


@dataclass(frozen=True)
class ApiSpec:
    """An API of the policy with its principals (``anonymous`` included), rules and probe sources."""

    name: str
    base_url: str
    provider: str | None
    audience: str | None
    roles: tuple[str, ...]
    principals: dict[str, ApiPrincipal]
    rules: tuple[ApiRule, ...]
    probes: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    leeway: float = DEFAULT_LEEWAY
    max_expiry_wait: float = DEFAULT_MAX_EXPIRY_WAIT

    def url(self, path: str) -> str:
        """The absolute URL of a rule's path."""
        return self.base_url.rstrip("/") + path

    def rank(self, role: str | None) -> int | None:
        """The position of ``role`` in the ordered roles (each inherits the ones before it)."""
        return self.roles.index(role) if role in self.roles else None

    def expectation(self, rule: ApiRule, principal: ApiPrincipal) -> Expectation:
        """Whether ``principal`` may make ``rule``'s request, from the policy alone.

        A credential that must not authenticate (none, or a revoked key) is refused with 401 whatever
        the rule says; an explicit ``deny`` beats ``allow``, which beats the role hierarchy.
        """
        if principal.revoked:
            return Expectation(DENY_401, f"{principal.name} is revoked: its credential must not authenticate")
        refused = DENY_403 if principal.authenticates else DENY_401
        if principal.name in rule.deny:
            return Expectation(refused, f"the rule denies {principal.name} explicitly")
        if principal.name in rule.allow:
            return Expectation(ALLOW, f"the rule allows {principal.name} explicitly")
        if principal.kind == "anonymous":
            return Expectation(DENY_401, "no credential: the request must be refused as unauthenticated")
        if rule.min_role is None:
            return Expectation(refused, f"the rule has no min_role and does not allow {principal.name}")
        have, need = self.rank(principal.role), self.rank(rule.min_role)
        if have is None:
            return Expectation(refused, f"{principal.name} has no role, the rule needs {rule.min_role}")
        if have >= (need if need is not None else len(self.roles)):
            return Expectation(ALLOW, f"role {principal.role} >= {rule.min_role}")
        return Expectation(refused, f"role {principal.role} < {rule.min_role}")

    def safe_rule(self) -> ApiRule | None:
        """The first GET rule: where token-validation probes are sent (safe requests only)."""
        return next((r for r in self.rules if r.method == "GET"), None)

    def token_principals(self) -> list[ApiPrincipal]:
        """Principals that present a bearer token the API should accept."""
        return [p for p in self.principals.values() if p.kind in ("client", "user", "bearer") and not p.revoked]

    def api_key_principals(self) -> list[ApiPrincipal]:
        """Principals that present an API key."""
        return [p for p in self.principals.values() if p.kind == "api_key"]


def _principal(name: str, raw: Mapping[str, Any]) -> ApiPrincipal:
    role, revoked = raw.get("role"), bool(raw.get("revoked", False))
    if "user" in raw:  # the policy check guarantees its client (the one whose login flow it goes through)
        return ApiPrincipal(kind="user", user=raw["user"], client=raw.get("client"), name=name, role=role,
                            revoked=revoked)
    if "client" in raw:
        return ApiPrincipal(kind="client", client=raw["client"], name=name, role=role, revoked=revoked)
    if "header" in raw:
        return ApiPrincipal(kind="api_key", header=raw["header"], value=raw.get("value"), name=name, role=role,
                            revoked=revoked)
    return ApiPrincipal(kind="bearer", value=raw.get("bearer"), name=name, role=role, revoked=revoked)


def api_spec(policy: Policy, name: str) -> ApiSpec:
    """The API ``name`` of a (validated) policy."""
    raw = policy.section("apis")[name]
    principals = {n: _principal(n, p) for n, p in raw.get("principals", {}).items()}
    principals[ANONYMOUS] = ApiPrincipal(name=ANONYMOUS, kind="anonymous")
    rules = []
    for index, rule in enumerate(raw.get("rules", [])):
        method, _, path = rule["request"].partition(" ")
        rules.append(ApiRule(index=index, method=method, path=path, min_role=rule.get("min_role"),
                             allow=tuple(rule.get("allow", ())), deny=tuple(rule.get("deny", ())),
                             mutating=bool(rule.get("mutating", False))))
    return ApiSpec(
        name=name, base_url=raw["base_url"], provider=raw.get("provider"), audience=raw.get("audience"),
        roles=tuple(raw.get("roles", ())), principals=principals, rules=tuple(rules),
        probes=dict(raw.get("probes", {})),
        leeway=parse_duration(raw["leeway"]) if "leeway" in raw else DEFAULT_LEEWAY,
        max_expiry_wait=(parse_duration(raw["max_expiry_wait"]) if "max_expiry_wait" in raw
                         else DEFAULT_MAX_EXPIRY_WAIT),
    )


def matrix_cells(policy: Policy) -> list[str]:
    """Every (api, rule, principal) as ``api#index#principal``, in policy order: one matrix test each."""
    cells: list[str] = []
    for name in policy.section("apis"):
        spec = api_spec(policy, name)
        for rule in spec.rules:
            cells.extend(CELL_SEPARATOR.join((name, str(rule.index), p)) for p in spec.principals)
    return cells


def parse_cell(value: str) -> tuple[str, int, str]:
    """``("platform", 0, "viewer")`` from ``platform#0#viewer``."""
    api, index, principal = value.split(CELL_SEPARATOR)
    return api, int(index), principal


def cell_id(policy: Policy, value: str) -> str:
    """The test id of a matrix cell: ``platform|GET /v1/users/me|viewer``."""
    api, index, principal = parse_cell(value)
    rule = api_spec(policy, api).rules[index]
    return f"{api}|{rule.request}|{principal}"


def cell_target(value: str) -> str:
    """The result's target of a matrix cell: ``apis.platform``."""
    return f"apis.{parse_cell(value)[0]}"


def matrix_finding(expectation: Expectation, principal: str, status: int) -> str | None:
    """Why ``status`` is wrong for a (rule, principal) with ``expectation``, or None when it is right.

    Allowed principals must get an answer that is neither 401 nor 403; refused ones exactly the status due. Only
    answers that can carry the verdict reach it (``_api_answers.matrix_undecided`` sets the others aside).
    """
    if expectation.outcome == ALLOW:
        if status in (401, 403):
            return (f"{principal} was refused with HTTP {status} where the policy allows it "
                    f"({expectation.reason})")
        return None
    due = int(expectation.outcome)
    if status == due:
        return None
    if 200 <= status < 300:
        return (f"answered HTTP {status} where {due} is due: {principal} was let through, or the refusal is "
                f"reported as success ({expectation.reason})")
    if status == 404:
        return (f"answered HTTP 404 where {due} is due: the refusal is disguised as a missing resource "
                f"({expectation.reason})")
    if due == 403 and status == 401:
        return (f"answered HTTP 401 where 403 is due: {principal}'s credential was not accepted, so its "
                f"permissions were never evaluated ({expectation.reason})")
    if due == 401 and status == 403:
        return (f"answered HTTP 403 where 401 is due: the credential was accepted as authentication and only "
                f"its permissions refused ({expectation.reason})")
    return f"answered HTTP {status} where {due} is due ({expectation.reason})"


def refusal_problem(status: int, *, malformed: bool = False) -> str | None:
    """Why ``status`` is not a proper refusal of an invalid credential (RFC 6750 §3.1), or None."""
    if status == 401 or (malformed and status == 400):
        return None
    if 200 <= status < 400:
        return f"accepted (HTTP {status})"
    if status == 403:
        return "HTTP 403: treated as authenticated, only its permissions refused (401 invalid_token is due)"
    return f"HTTP {status} instead of 401"
