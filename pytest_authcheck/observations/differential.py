"""What a probe proves against its control: the request that should work, differing in one dimension only.

- control accepted (or going on to login), probe refused: the dimension is enforced;
- probe accepted, or looking the same as an accepted control: it is not enforced (a finding);
- anything else (the control itself refused, a throttle, an unreadable answer, two answers that cannot be told
  apart): the probe proves nothing, and the verdict is *not evaluated*, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .answers import Kind, Observation


class Outcome(StrEnum):
    """The verdict a comparison supports."""

    ENFORCED = "enforced"
    NOT_ENFORCED = "not enforced"
    INDISTINGUISHABLE = "indistinguishable"  # probe looks like a control that has not been judged yet
    NOT_EVALUATED = "not evaluated"


@dataclass(frozen=True)
class Comparison:
    """The outcome and the sentence that explains it."""

    outcome: Outcome
    reason: str
    control: Observation
    probe: Observation

    def describe(self) -> str:
        """``enforced: refused: HTTP 401 invalid_client`` for expected/observed."""
        return f"{self.outcome.value}: {self.reason}"

    @property
    def enforced(self) -> bool:
        """The probe was refused where the control went through."""
        return self.outcome is Outcome.ENFORCED

    @property
    def not_enforced(self) -> bool:
        """The probe went through like the control."""
        return self.outcome is Outcome.NOT_ENFORCED


def compare(control: Observation, probe: Observation) -> Comparison:
    """Compare a probe with its control (see the module docstring)."""
    if probe.kind in (Kind.THROTTLED, Kind.UNREADABLE):
        return Comparison(Outcome.NOT_EVALUATED, probe.why_not_evaluable(), control, probe)
    if control.kind in (Kind.THROTTLED, Kind.UNREADABLE, Kind.REFUSED) and not probe.accepted:
        if control.refused and probe.refused and not probe.same_as(control):
            return Comparison(Outcome.ENFORCED, f"refused ({probe.summary}) where the control got {control.summary}",
                              control, probe)
        return Comparison(Outcome.NOT_EVALUATED, f"the control request itself was not accepted ({control.describe()}), "
                          "so the probe proves nothing", control, probe)
    if probe.accepted:
        return Comparison(Outcome.NOT_ENFORCED, f"accepted: {probe.summary}", control, probe)
    if probe.refused:
        return Comparison(Outcome.ENFORCED, f"refused: {probe.summary}", control, probe)
    # the probe was sent to login
    if control.kind is Kind.SENT_TO_LOGIN and probe.same_as(control):
        return Comparison(Outcome.INDISTINGUISHABLE, f"sent to login like the ordinary request ({probe.summary})",
                          control, probe)
    if control.accepted:
        return Comparison(Outcome.NOT_EVALUATED, f"sent to login ({probe.summary}) where the control went through",
                          control, probe)
    return Comparison(Outcome.NOT_EVALUATED, probe.why_not_evaluable(), control, probe)
