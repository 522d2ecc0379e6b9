"""One cause, one finding: results that could not be evaluated for the same reason roll up under that reason.

A provider whose TLS is broken makes every check that talks to it unevaluable: counted one by one, a run
with two such providers reports a hundred and fifty "findings" where there are two. Here every failed or
unevaluated result gets the id of its *cause*, and the gate counts causes.

- A failed result is its own cause.
- A result that could not be evaluated names why in its message, in the words the HTTP layer and the
  observations use; they are read back here, in this order:

  1. a pointer at another check (``see client-auth.secret-accepted``) whose result on the same target (or on
     the target's provider) failed or could not be evaluated itself: the cause of that result;
  2. a transport failure (``TLS handshake with <origin> failed``, ``cannot connect to <origin>``, ``no complete
     answer from <origin>``, ``exchange with <origin> failed``): one cause per origin and kind of failure;
  3. a throttle (``throttled``): one cause per provider;
  4. a pointer whose check did not fail (the control request itself was refused, say): one cause per pointer
     and target, shared by every result that points the same way;
  5. anything else: the result is its own cause.

Nothing here knows a product or a suite: only the sentences this package writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._bounds import bounded_text
from .._checks import SEVERITIES
from ..policy.load import Policy

SUMMARY_LIMIT = 400
UNEVALUATED = ("error",)
# What _http._describe_transport writes, keyed by the kind of failure (the origin is the first group).
_TRANSPORT = (
    ("tls", re.compile(r"TLS handshake with (\S*) failed")),
    ("timeout", re.compile(r"no complete answer from (\S*) within")),
    ("connect", re.compile(r"cannot connect to (\S*?):(?:\s|$)")),
    ("exchange", re.compile(r"exchange with (\S*) failed")),
)
_CHECK_ID = r"[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*"
_POINTER = re.compile(rf"\bsee ({_CHECK_ID}(?:(?:,\s*|\s+and\s+|\s+or\s+){_CHECK_ID})*)")
_THROTTLED = re.compile(r"\bthrottl(?:ed|es|ing)\b")
_PREFIXES = ("could not evaluate: ", "not evaluated: ")


@dataclass
class Cause:
    """Why one or more results are findings: a failed result, or a reason several could not be evaluated."""

    id: str
    kind: str  # "failed", "unevaluated", "transport", "throttled", "pointer"
    summary: str  # reads after "because ": "TLS handshake with https://idp:443 failed: ..."
    result: str | None = None  # nodeid of the result that is the cause (kinds "failed" and "unevaluated")
    members: list[Mapping[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        blocked = [r["nodeid"] for r in self.members if r["nodeid"] != self.result]
        severities = [r["severity"] for r in self.members if r["severity"] in SEVERITIES]
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "summary": self.summary,
            "severity": min(severities, key=SEVERITIES.index) if severities else "info",
            "status": "failed" if self.kind == "failed" else "error",
            "blocking": any(r.get("blocking") for r in self.members),
            "count": len(blocked), "blocked": blocked,
            "targets": sorted({str(r["target"]) for r in self.members if r.get("target")}),
        }
        if self.result is not None:
            out["result"] = self.result
        return out


def _message(result: Mapping[str, Any]) -> str:
    text = str(result.get("message") or "")
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _provider_of(policy: Policy | None, target: str | None) -> str | None:
    """``providers.sso`` for ``clients.cli`` (or any policy entry with a ``provider`` key); None otherwise."""
    if policy is None or not target or "." not in target:
        return None
    section, _, name = target.partition(".")
    entry = policy.section(section).get(name)
    provider = entry.get("provider") if isinstance(entry, Mapping) else None
    return f"providers.{provider}" if isinstance(provider, str) else None


class _Resolver:
    def __init__(self, results: Sequence[MutableMapping[str, Any]], policy: Policy | None) -> None:
        self.results = results
        self.policy = policy
        self.by_pair: dict[tuple[str, str | None], MutableMapping[str, Any]] = {}
        for result in results:
            if result["status"] in ("failed", *UNEVALUATED):
                self.by_pair.setdefault((result["check"], result.get("target")), result)
        self.causes: dict[str, Cause] = {}
        self.of_result: dict[int, Cause] = {}
        self._own_ids: dict[str, int] = {}
        self._visiting: set[int] = set()

    def _new(self, key: str, kind: str, summary: str, result: str | None = None) -> Cause:
        cause = self.causes.get(key)
        if cause is None:
            cause = self.causes[key] = Cause(id=key, kind=kind, summary=bounded_text(summary, SUMMARY_LIMIT),
                                             result=result)
        return cause

    def _own(self, result: Mapping[str, Any], kind: str) -> Cause:
        base = f"{result['check']}@{result.get('target') or '-'}"
        seen = self._own_ids.get(base, 0) + 1
        self._own_ids[base] = seen
        key = base if seen == 1 else f"{base}#{seen}"
        target = result.get("target") or "no target"
        summary = (f"{result['check']} failed on {target}" if kind == "failed"
                   else f"{result['check']} could not be evaluated on {target}: {_message(result)}")
        return self._new(key, kind, summary, result["nodeid"])

    def cause_of(self, result: Mapping[str, Any]) -> Cause:
        known = self.of_result.get(id(result))
        if known is not None:
            return known
        self._visiting.add(id(result))
        try:
            cause = self._find(result)
        finally:
            self._visiting.discard(id(result))
        self.of_result[id(result)] = cause
        cause.members.append(result)
        return cause

    def _find(self, result: Mapping[str, Any]) -> Cause:
        if result["status"] == "failed":
            return self._own(result, "failed")
        message = _message(result)
        target = result.get("target")
        pointer = _POINTER.search(message)
        checks = re.split(r",\s*|\s+and\s+|\s+or\s+", pointer.group(1)) if pointer else []
        provider = _provider_of(self.policy, target)
        for check in checks:
            for where in (target, *((provider,) if provider else ())):
                referenced = self.by_pair.get((check, where))
                if referenced is not None and referenced is not result and id(referenced) not in self._visiting:
                    return self.cause_of(referenced)
        for kind, pattern in _TRANSPORT:
            found = pattern.search(message)
            if found:
                detail = message[found.start():].split("; see ")[0]
                return self._new(f"{kind}@{found.group(1)}", "transport", detail)
        if _THROTTLED.search(message):
            where = provider or target or "the provider"
            return self._new(f"throttled@{where}", "throttled",
                             f"{where} throttled the probes; run again later or from another address")
        if checks:
            return self._new(f"see {'+'.join(checks)}@{target or '-'}", "pointer", message)
        return self._own(result, "unevaluated")


def roll_up(results: Sequence[MutableMapping[str, Any]], policy: Policy | None = None) -> list[dict[str, Any]]:
    """Set ``cause`` (an id) on every failed or unevaluated result, in place; return the causes.

    Call after ``blocking`` is set on the results: a cause blocks when one of its results does. Causes come
    worst first (blocking, then severity, then the number of results they hold).
    """
    resolver = _Resolver(results, policy)
    for result in results:
        if result["status"] in ("failed", *UNEVALUATED):
            result["cause"] = resolver.cause_of(result).id
    causes = [c.to_dict() for c in resolver.causes.values()]
    causes.sort(key=lambda c: (not c["blocking"], SEVERITIES.index(c["severity"]), -c["count"], c["id"]))
    return causes


def because(cause: Mapping[str, Any]) -> str:
    """The sentence the writers show: ``76 checks could not be evaluated because TLS handshake ... failed``."""
    count = int(cause["count"])
    checks = f"{count} check{'s' if count != 1 else ''}"
    return f"{checks} could not be evaluated because {cause['summary']}"


def rolled_up(causes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The causes that hold results other than their own (the ones a reader would otherwise count many times)."""
    return [c for c in causes if c["count"]]
