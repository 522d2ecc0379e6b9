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
from ._expect import AtMost, Quantity, Satisfies


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _span(seconds: float) -> str:
    return f"{seconds:.0f}s ({format_duration(round(seconds))})" if seconds >= 60 else f"{seconds:.0f}s"


@dataclass
class LifetimeReport:
    """What the policy expects and what was observed (in the same words, see ``_expect``), and what is wrong."""

    expected: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def judge(self, name: str, expected: Any, observed: Any, problem: str | None) -> None:
        """Record one comparison, and its problem when it fails."""
        self.expected[name] = expected
        self.observed[name] = observed
        if problem:
            self.problems.append(problem)


def _bound(max_seconds: float, min_seconds: float | None = None) -> Any:
    if min_seconds is None:
        return AtMost(max_seconds, f"at most {format_duration(max_seconds)}")
    return Satisfies(lambda v: min_seconds <= v <= max_seconds,
                     f"between {format_duration(min_seconds)} and {format_duration(max_seconds)}")


def _lasting(seconds: float) -> Quantity:
    return Quantity(seconds, _span(seconds))


def assess_access_token(*, expires_in: Any, claims: dict[str, Any] | None, received_at: float, max_seconds: float,
                        min_seconds: float | None = None, skew: float = 60.0) -> LifetimeReport:
    """Judge a token response's ``expires_in`` and, for a JWT access token, its ``iat``/``nbf``/``exp``, all as they
    were at issuance (``received_at``): a token cached for a long run is not judged by when a check reads it."""
    report = LifetimeReport()
    declared = _number(expires_in)
    if expires_in is not None and (declared is None or declared <= 0 or declared != int(declared)):
        report.judge("expires_in", "a positive whole number of seconds", repr(expires_in)[:60],
                     f"expires_in {expires_in!r:.60} is not a positive whole number of seconds")
        declared = None
    elif declared is not None:
        problem = None
        if declared > max_seconds:
            problem = f"expires_in {_span(declared)} exceeds the policy's {format_duration(max_seconds)}"
        elif min_seconds is not None and declared < min_seconds:
            problem = f"expires_in {_span(declared)} is below the policy's minimum {format_duration(min_seconds)}"
        report.judge("expires_in", _bound(max_seconds, min_seconds), _lasting(declared), problem)
    claims = claims or {}
    iat, exp, nbf = (_number(claims.get(c)) for c in ("iat", "exp", "nbf"))
    ahead = [(name, value - received_at) for name, value in (("iat", iat), ("nbf", nbf))
             if value is not None and value - received_at > skew]
    if iat is not None or nbf is not None:
        report.judge("iat/nbf", f"not more than {format_duration(skew)} ahead of this machine's clock",
                     "; ".join(f"{name} {seconds:.0f}s ahead" for name, seconds in ahead) or
                     f"not more than {format_duration(skew)} ahead of this machine's clock",
                     "; ".join(f"{name} is {seconds:.0f}s in the future (max_clock_skew {format_duration(skew)})"
                               for name, seconds in ahead) or None)
    if exp is not None and exp + skew <= received_at:
        report.judge("exp", "after issuance", "before issuance", f"exp was already {received_at - exp:.0f}s in the past "
                     f"when the token arrived (max_clock_skew {format_duration(skew)})")
    if exp is not None and iat is not None:
        lifetime = exp - iat
        if declared is not None:
            agree = abs(lifetime - declared) <= skew
            report.judge("exp - iat against expires_in", "agree", "agree" if agree else
                         f"{_span(lifetime)} against {_span(declared)}",
                         None if agree else f"the JWT lives {_span(lifetime)} (exp - iat) but expires_in says {_span(declared)}")
        problem = None
        if lifetime > max_seconds + skew and (declared is None or declared <= max_seconds):
            problem = (f"the JWT lives {_span(lifetime)} (exp - iat), more than the policy's "
                       f"{format_duration(max_seconds)}")
        report.judge("exp - iat", AtMost(max_seconds + skew, f"at most {format_duration(max_seconds)}"), _lasting(lifetime),
                     problem)
    if declared is None and (exp is None or iat is None) and expires_in is None:
        report.judge("lifetime", "stated (expires_in, or exp and iat)", "unknown",
                     "the response has no expires_in and the token no exp/iat: its lifetime is unknown")
    return report


def assess_id_token(claims: dict[str, Any], *, received_at: float, max_seconds: float | None,
                    skew: float = 60.0) -> LifetimeReport:
    """Judge an ID token's ``iat`` and ``exp`` (OIDC Core §2: both required), as they were at issuance."""
    report = LifetimeReport()
    iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
    if iat is None or exp is None:
        report.judge("iat and exp", "present", "missing", "the ID token lacks iat or exp (OIDC Core §2)")
        return report
    ahead = iat - received_at
    report.judge("iat", f"not more than {format_duration(skew)} ahead of this machine's clock",
                 f"{ahead:.0f}s ahead" if ahead > skew else f"not more than {format_duration(skew)} ahead of this machine's clock",
                 f"iat is {ahead:.0f}s in the future (max_clock_skew {format_duration(skew)})" if ahead > skew else None)
    lifetime = exp - iat
    if max_seconds is not None:
        report.judge("exp - iat", AtMost(max_seconds, f"at most {format_duration(max_seconds)}"), _lasting(lifetime),
                     f"the ID token lives {_span(lifetime)}, more than the policy's {format_duration(max_seconds)}"
                     if lifetime > max_seconds else None)
    report.judge("exp after iat", "yes", "yes" if exp > iat else "no", None if exp > iat else "exp is not after iat")
    return report
