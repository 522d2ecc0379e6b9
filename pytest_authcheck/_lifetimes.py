"""Token lifetime arithmetic (RFC 6749 §5.1, RFC 7519 §4.1.4-4.1.6, RFC 9068 §2.2), free of I/O for unit tests.

A token response states its lifetime twice when the access token is a JWT: ``expires_in`` for the
client and ``exp - iat`` for every resource server. Both must stay within the policy's bound, and they
must agree: a provider that says one hour while minting eight-hour tokens hides the real exposure.

Everything is judged as of the token's arrival (``received_at``), never as of the moment a check reads
it: a token cached for a long run may have expired since, and that says nothing about the provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._duration import format_duration


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _span(seconds: float) -> str:
    return f"{seconds:.0f}s ({format_duration(round(seconds))})" if seconds >= 60 else f"{seconds:.0f}s"


@dataclass
class LifetimeReport:
    """What was observed and what is wrong with it."""

    observed: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def assess_access_token(*, expires_in: Any, claims: dict[str, Any] | None, received_at: float, max_seconds: float,
                        min_seconds: float | None = None, skew: float = 60.0) -> LifetimeReport:
    """Judge a token response's ``expires_in`` and, for a JWT access token, its ``iat``/``nbf``/``exp``, at receipt."""
    report = LifetimeReport()
    declared = _number(expires_in)
    if expires_in is None:
        report.observed["expires_in"] = None
    elif declared is None or declared <= 0 or declared != int(declared):
        report.observed["expires_in"] = repr(expires_in)[:60]
        report.problems.append(f"expires_in {expires_in!r:.60} is not a positive whole number of seconds")
        declared = None
    else:
        report.observed["expires_in"] = int(declared)
        if declared > max_seconds:
            report.problems.append(f"expires_in {_span(declared)} exceeds the policy's {format_duration(max_seconds)}")
        if min_seconds is not None and declared < min_seconds:
            report.problems.append(f"expires_in {_span(declared)} is below the policy's minimum {format_duration(min_seconds)}")
    claims = claims or {}
    iat, exp, nbf = (_number(claims.get(c)) for c in ("iat", "exp", "nbf"))
    for name, value in (("iat", iat), ("nbf", nbf)):
        if value is not None and value - received_at > skew:
            report.problems.append(f"{name} is {value - received_at:.0f}s in the future (max_clock_skew {format_duration(skew)})")
    if exp is not None:
        if exp + skew <= received_at:
            report.problems.append(f"exp was already {received_at - exp:.0f}s in the past when the token arrived "
                                   f"(max_clock_skew {format_duration(skew)})")
        if iat is not None:
            lifetime = exp - iat
            report.observed["exp - iat"] = int(lifetime)
            if declared is not None and abs(lifetime - declared) > skew:
                report.problems.append(f"the JWT lives {_span(lifetime)} (exp - iat) but expires_in says {_span(declared)}")
            if lifetime > max_seconds + skew and (declared is None or declared <= max_seconds):
                report.problems.append(f"the JWT lives {_span(lifetime)} (exp - iat), more than the policy's "
                                       f"{format_duration(max_seconds)}")
    if declared is None and (exp is None or iat is None) and expires_in is None:
        report.problems.append("the response has no expires_in and the token no exp/iat: its lifetime is unknown")
    return report


def assess_id_token(claims: dict[str, Any], *, received_at: float, max_seconds: float | None,
                    skew: float = 60.0) -> LifetimeReport:
    """Judge an ID token's ``iat`` and ``exp`` (OIDC Core §2: both required)."""
    report = LifetimeReport()
    iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
    if iat is None or exp is None:
        report.problems.append("the ID token lacks iat or exp (OIDC Core §2)")
        return report
    report.observed["exp - iat"] = int(exp - iat)
    if iat - received_at > skew:
        report.problems.append(f"iat is {iat - received_at:.0f}s in the future (max_clock_skew {format_duration(skew)})")
    if exp <= iat:
        report.problems.append("exp is not after iat")
    if max_seconds is not None and exp - iat > max_seconds:
        report.problems.append(f"the ID token lives {_span(exp - iat)}, more than the policy's {format_duration(max_seconds)}")
    return report
