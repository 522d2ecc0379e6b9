"""What a check is: a stable id, a title, a severity, an area, spec references and a remediation.

Suites declare checks with the ``@check(...)`` decorator on ordinary pytest test functions. The
decorator adds the ``authcheck`` marker (carrying the ``Check``), a marker for the area (``-m
discovery``), one for the severity (``-m severity_high``) and one per framework whose requirements the check
tests (``-m rfc9700``, ``-m asvs``, ``-m fapi2``; see ``results.frameworks``); the check id is a keyword (``-k
discovery.issuer-match``). Teams decorate their own checks the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from .results.frameworks import catalog, markers_of

SEVERITIES = ("critical", "high", "medium", "low", "info")
LEVELS = ("MUST", "SHOULD", "MAY")
AREAS = {
    "discovery": "provider metadata (OIDC Discovery 1.0, RFC 8414)",
    "jwks": "signing keys published by a provider (RFC 7517, RFC 7518)",
    "tls": "transport security of a provider's endpoints (RFC 9325, RFC 8996)",
    "clock": "clock agreement between a provider and this machine",
    "jamf": "Jamf Pro authentication: URL, accounts, API clients and their tokens",
    "clients": "client registration, authentication, grants and tokens",
    "privileges": "privilege sets and least privilege",
    "api": "resource-server authorization and token validation",
    "credentials": "credential hygiene on this machine",
    "custom": "a team's own checks",
}
SEVERITY_MARKER = "severity_{}"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Check:
    """The identity and guidance of one check; the same for every target it runs against."""

    id: str
    title: str
    severity: str
    area: str
    refs: tuple[str, ...]
    remediation: str
    level: str = "MUST"
    # What the check sends to the systems under test (or reads without sending), in a sentence or two: docs/checks.md
    # shows it, so an operator knows what an audit does before running one.
    sends: str = ""
    # Revokes or replays the tokens it obtains: at many providers that ends the whole grant of the signed-in session,
    # so such checks run after those that read the run's shared tokens.
    spends_grant: bool = False
    # Whether a target is one the check can look at, from the policy alone: None when it applies, else the reason;
    # ``applies(target)`` or ``applies(target, policy)``. Pairs that do not apply become no test at all (the report
    # still lists them, with the reason).
    applies: Callable[..., str | None] | None = field(default=None, compare=False, repr=False)
    # The targets the check must sign in for (through a login client, as the provider's test user): where no account
    # can sign in, those pairs are not applicable either, decided at collection instead of a skip per test.
    signs_in: Callable[[Any], bool] | None = field(default=None, compare=False, repr=False)

    @functools.cached_property
    def refs_list(self) -> list[str]:
        """``refs`` as the one list every result of the check shares (tens of thousands at scale); never edited."""
        return list(self.refs)

    def not_applicable(self, target: Any, policy: Any = None) -> str | None:
        """Why the check does not apply to ``target`` (a PolicyClient, a provider's config ...), or None."""
        if self.applies is None:
            return None
        if _takes_policy(self.applies):
            return self.applies(target, policy)
        return self.applies(target)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for reports."""
        return {"id": self.id, "title": self.title, "severity": self.severity, "area": self.area,
                "refs": list(self.refs), "remediation": self.remediation, "level": self.level}


@functools.cache  # asked once per (check, target) at collection: 150,000 times at 10,000 clients
def _takes_policy(rule: Callable[..., str | None]) -> bool:
    try:
        return len(inspect.signature(rule).parameters) >= 2
    except (TypeError, ValueError):
        return False


def check(id: str, *, title: str, severity: str, area: str, refs: list[str] | tuple[str, ...],
          remediation: str, level: str = "MUST", sends: str = "", spends_grant: bool = False,
          applies: Callable[..., str | None] | None = None,
          signs_in: Callable[[Any], bool] | None = None) -> Callable[[F], F]:
    """Declare a test function as the check ``id``.

    ``severity`` is one of critical/high/medium/low/info, ``area`` one of ``AREAS``, ``refs`` the spec
    clauses (``"RFC 8414 §3.3"``), ``remediation`` what to do when it fails, ``level`` the requirement
    level (MUST/SHOULD/MAY) of the clause it enforces, ``sends`` what it sends to the systems under test
    (every shipped check says; docs/checks.md lists it). ``applies`` says which targets it can look at from the
    policy (``applies(target)`` or ``applies(target, policy)``: None, or why not); ``signs_in(target)`` which ones
    it must sign in for.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"check {id}: severity must be one of {SEVERITIES}, not {severity!r}")
    if area not in AREAS:
        raise ValueError(f"check {id}: area must be one of {tuple(AREAS)}, not {area!r}")
    if level not in LEVELS:
        raise ValueError(f"check {id}: level must be one of {LEVELS}, not {level!r}")
    definition = Check(id=id, title=title, severity=severity, area=area, refs=tuple(refs),
                       remediation=" ".join(remediation.split()), level=level, sends=" ".join(sends.split()),
                       spends_grant=spends_grant, applies=applies, signs_in=signs_in)

    def apply(function: F) -> F:
        function = pytest.mark.authcheck(definition)(function)
        function = getattr(pytest.mark, area)(function)
        function = getattr(pytest.mark, SEVERITY_MARKER.format(severity))(function)
        for marker in markers_of(id):
            function = getattr(pytest.mark, marker)(function)
        function.__authcheck__ = definition  # type: ignore[attr-defined]
        return function

    return apply


def check_of_function(function: Any) -> Check | None:
    """The ``Check`` a test function was declared with, if any."""
    definition = getattr(function, "__authcheck__", None)
    return definition if isinstance(definition, Check) else None


def check_of(item: pytest.Item) -> Check | None:
    """The ``Check`` an item was declared with, if any."""
    marker = item.get_closest_marker("authcheck")
    if marker is None or not marker.args or not isinstance(marker.args[0], Check):
        return None
    return marker.args[0]


def register_markers(config: pytest.Config) -> None:
    """Make the check markers known (``--strict-markers`` accepts them, ``--markers`` lists them)."""
    config.addinivalue_line("markers", "authcheck(check): an authcheck check (set by @check)")
    for area, text in AREAS.items():
        config.addinivalue_line("markers", f"{area}: authcheck checks of {text}")
    for severity in SEVERITIES:
        config.addinivalue_line("markers", f"{SEVERITY_MARKER.format(severity)}: authcheck checks of {severity} severity")
    for framework in catalog().frameworks.values():
        config.addinivalue_line("markers", f"{framework.marker}: authcheck checks that test requirements of "
                                           f"{framework.name} ({framework.version})")


def shipped_checks() -> list[Check]:
    """Every check in the shipped suites, in suite order (for docs/checks.md and the report's rule list)."""
    import importlib
    import pkgutil

    import pytest_authcheck.suites as suites

    found: list[Check] = []
    for module_info in pkgutil.iter_modules(suites.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"pytest_authcheck.suites.{module_info.name}")
        for value in vars(module).values():
            definition = getattr(value, "__authcheck__", None)
            if isinstance(definition, Check) and definition not in found:
                found.append(definition)
    return found
