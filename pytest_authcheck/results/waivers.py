"""Waivers: a known, accepted finding of one check on one target, with a reason and an expiry date.

A waiver comes from the policy's ``[[waivers]]`` (so it is part of the hashed policy). A failed result it
matches is *waived*: still shown, counted apart, and no reason to fail the run. An expired waiver waives
nothing and fails the run on its own; a waiver that matched no failure is *stale* (the check passed, or
did not run), so the policy can be cleaned up. Matching happens where the result is built (xdist workers
know the policy); staleness is known only at the end, on the controller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..policy.load import Policy


@dataclass(frozen=True)
class Waiver:
    """One ``[[waivers]]`` entry; ``index`` is its position in the policy (for its line number)."""

    index: int
    check: str
    target: str
    reason: str
    expires: dt.date
    owner: str | None = None
    ticket: str | None = None

    def expired(self, today: dt.date) -> bool:
        """A waiver is valid through its expiry date, and expired the day after."""
        return today > self.expires

    def matches(self, check: str, target: str | None) -> bool:
        """The waiver names this check on this target."""
        return self.check == check and self.target == (target or "")

    def to_dict(self, today: dt.date) -> dict[str, Any]:
        """JSON-able form, with its state on ``today``."""
        out: dict[str, Any] = {"index": self.index, "check": self.check, "target": self.target, "reason": self.reason,
                               "expires": self.expires.isoformat(), "expired": self.expired(today)}
        if self.owner:
            out["owner"] = self.owner
        if self.ticket:
            out["ticket"] = self.ticket
        return out


def today_utc() -> dt.date:
    """The date waivers are judged on (UTC, like every timestamp in the reports)."""
    return dt.datetime.now(dt.UTC).date()


def waivers_of(policy: Policy) -> list[Waiver]:
    """The policy's waivers (the schema has already checked their shape and date format)."""
    raw = policy.data.get("waivers", [])
    out = []
    for index, entry in enumerate(raw if isinstance(raw, Sequence) else []):
        if not isinstance(entry, Mapping):
            continue
        out.append(Waiver(index=index, check=str(entry["check"]), target=str(entry["target"]),
                          reason=str(entry["reason"]), expires=dt.date.fromisoformat(str(entry["expires"])[:10]),
                          owner=entry.get("owner"), ticket=entry.get("ticket")))
    return out


def find_waiver(waivers: Iterable[Waiver], check: str, target: str | None) -> Waiver | None:
    """The first waiver naming this check and target (expired or not)."""
    return next((w for w in waivers if w.matches(check, target)), None)


def apply_waiver(result: dict[str, Any], waivers: Iterable[Waiver], today: dt.date) -> None:
    """Mark a failed result waived when a valid waiver matches; note an expired one without waiving.

    Only *failed* results are waived: an *error* means the check could not be evaluated, and a waiver
    accepts a known finding, not an unknown state.
    """
    if result["status"] != "failed":
        return
    waiver = find_waiver(waivers, result["check"], result.get("target"))
    if waiver is None:
        return
    result["waiver"] = waiver.to_dict(today)
    if not waiver.expired(today):
        result["status"] = "waived"


def waiver_text(waiver: Mapping[str, Any]) -> str:
    """``waived until 2027-01-31 (SEC-142, alice): IdP upgrade scheduled``: one line for terminal and JUnit."""
    who = ", ".join(str(waiver[k]) for k in ("ticket", "owner") if waiver.get(k))
    return f"waived until {waiver['expires']}" + (f" ({who})" if who else "") + f": {waiver['reason']}"


def waiver_states(waivers: Sequence[Waiver], results: Iterable[Mapping[str, Any]], today: dt.date,
                  policy: Policy) -> dict[str, list[dict[str, Any]]]:
    """Waivers by state at the end of the run: ``applied``, ``expired`` and ``stale`` (with why)."""
    seen: dict[int, list[str]] = {w.index: [] for w in waivers}
    for result in results:
        waiver = find_waiver(waivers, result["check"], result.get("target"))
        if waiver is not None:
            seen[waiver.index].append(result["status"])
    states: dict[str, list[dict[str, Any]]] = {"applied": [], "expired": [], "stale": []}
    for waiver in waivers:
        entry = {**waiver.to_dict(today), "line": policy.line("waivers", waiver.index)}
        statuses = seen[waiver.index]
        if waiver.expired(today):
            states["expired"].append(entry)
        elif "waived" in statuses:
            states["applied"].append(entry)
        else:
            why = (f"the check {' and '.join(sorted(set(statuses)))} on this target" if statuses
                   else "no result of this check on this target in this run")
            states["stale"].append({**entry, "why": why})
    return states
