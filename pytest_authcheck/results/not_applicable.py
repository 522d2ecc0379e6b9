"""The result of a (check, target) pair that does not apply: no test ran, the report still lists it with the reason.

Most pairs of a large policy are such (at a thousand clients, 23,000 of 38,000 results), and they are known from
collection on, so they live the whole run. Each is a read-only view of its check plus the values of its own (the
test function and target its node id is made of, the target, the reason, whether it blocks the gate), most of them
shared with other pairs: a fifth of the memory of the plain dict it reads as, or less.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from .._checks import Check
from .._interned import KeptOnce

# The members a plain result dict has, in its order; those of the check come from it.
_FROM_CHECK = {"check": "id", "title": "title", "severity": "severity", "area": "area", "level": "level",
               "refs": "refs_list", "remediation": "remediation"}
_KEYS = ("nodeid", "check", "title", "severity", "area", "level", "refs", "remediation", "target", "status",
         "message", "duration")
_FIXED = {"status": "skipped", "duration": 0.0}
_UNSET: Any = object()
# A reason is mostly one of a check's few sentences with the target in it ("app-0001 declares no ..."): split at the
# target, it is the same parts for every target of the sentence, kept once (a thousand clients: 23,000 pairs, 17
# sentences; 2.4 MiB as strings of their own).
_REASON_PARTS = KeptOnce[tuple[str, ...]](100_000)
# A node id is its test function's and its target's parts, each shared by many pairs (a string of its own each:
# 21 MiB at ten thousand clients): "suites/x.py::test_y[" and "app-0001]".
_NODE_ID_PARTS = KeptOnce[str](100_000)


class NotApplicable(MutableMapping[str, Any]):
    """Reads as the result dict ``{"nodeid", "check", ..., "status": "skipped", "message": reason, ...}``; what the
    outcome adds later (``blocking``, a ``cause``, a ``baseline`` mark) is kept beside it."""

    # ``blocking`` has a place of its own: the outcome marks every result with it
    __slots__ = ("_test", "_param", "_check", "target", "_reason", "_blocking", "_added")

    def __init__(self, check: Check, *, test: str, param: str, target: str | None, message: str) -> None:
        """``test`` is the test function's node id, ``param`` its id for the target (``test[param]``)."""
        self._test, self._param = _NODE_ID_PARTS(f"{test}["), _NODE_ID_PARTS(f"{param}]")
        self._check, self.target = check, target
        self._reason = _REASON_PARTS(tuple(message.split(target)) if target else (message,))
        self._blocking: Any = _UNSET
        self._added: dict[str, Any] | None = None

    @property
    def nodeid(self) -> str:
        """The node id the pair's test would have had."""
        return self._test + self._param

    @property
    def test(self) -> str:
        """The node id of the pair's test function."""
        return self._test[:-1]

    def order(self) -> tuple[str, str]:
        """Sorts pairs as their node ids do (a test function's node id holds no "[")."""
        return self._test, self._param

    @property
    def message(self) -> str:
        """Why the check does not apply to the target."""
        return self.target.join(self._reason) if self.target else self._reason[0]

    def __getitem__(self, key: str) -> Any:
        if key == "nodeid":
            return self.nodeid
        if key == "target":
            return self.target
        if key == "message":
            return self.message
        if key in _FIXED:
            return _FIXED[key]
        member = _FROM_CHECK.get(key)
        if member is not None:
            return getattr(self._check, member)
        if key == "blocking" and self._blocking is not _UNSET:
            return self._blocking
        if self._added is not None and key in self._added:
            return self._added[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _KEYS:
            # what makes it this pair's result is fixed: a writer wanting another status needs a result of its own
            raise TypeError(f"the {key!r} of a not-applicable result is fixed")
        if key == "blocking":
            self._blocking = value
            return
        if self._added is None:
            self._added = {}
        self._added[key] = value

    def __delitem__(self, key: str) -> None:
        if key == "blocking" and self._blocking is not _UNSET:
            self._blocking = _UNSET
            return
        if self._added is None or key not in self._added:
            raise KeyError(key)
        del self._added[key]

    def __iter__(self) -> Iterator[str]:
        yield from _KEYS
        if self._blocking is not _UNSET:
            yield "blocking"
        if self._added is not None:
            yield from self._added

    def __len__(self) -> int:
        return len(_KEYS) + (self._blocking is not _UNSET) + (len(self._added) if self._added is not None else 0)

    def get(self, key: str, default: Any = None) -> Any:
        # the writers read tens of thousands of these member by member: the Mapping default goes through a KeyError
        return self[key] if key in self else default

    def to_dict(self) -> dict[str, Any]:
        """The plain result dict, in its order."""
        check = self._check
        # in _KEYS's order, from the same tables __getitem__ reads
        whole = {"nodeid": self.nodeid, **{key: getattr(check, member) for key, member in _FROM_CHECK.items()},
                 "target": self.target, "status": _FIXED["status"], "message": self.message,
                 "duration": _FIXED["duration"]}
        if self._blocking is not _UNSET:
            whole["blocking"] = self._blocking
        if self._added is not None:
            whole.update(self._added)
        return whole

    def items(self) -> ItemsView[str, Any]:
        # a writer copies a result member by member: one dict rather than a lookup a member
        return self.to_dict().items()

    def __contains__(self, key: object) -> bool:
        return key in _FIXED or key in _FROM_CHECK or key in ("nodeid", "target", "message") or \
            (key == "blocking" and self._blocking is not _UNSET) or (self._added is not None and key in self._added)

    def __repr__(self) -> str:
        return f"NotApplicable({dict(self)!r})"


def shared_form(pairs: Iterable[NotApplicable]) -> dict[str, Any]:
    """The pairs as JSON for the controller (xdist): each check's members once, then five strings a pair.

    As plain result dicts the controller held every pair's title, remediation and references apart: 85 MiB at a
    thousand clients, as much as the rest of what it holds.
    """
    checks: dict[str, dict[str, Any]] = {}
    rows = []
    for pair in pairs:
        if pair._check.id not in checks:
            checks[pair._check.id] = pair._check.to_dict()
        rows.append([pair.test, pair._param[:-1], pair._check.id, pair.target, pair.message])
    return {"checks": checks, "pairs": rows}


def from_shared_form(data: Any) -> list[NotApplicable]:
    """The inverse of ``shared_form``, one ``Check`` per check shared by its pairs; nothing for what is not that form."""
    if not isinstance(data, Mapping) or not isinstance(data.get("checks"), Mapping) \
            or not isinstance(data.get("pairs"), list):
        return []
    checks = {check_id: Check(**{**members, "refs": tuple(members["refs"])})  # Check.to_dict's members
              for check_id, members in data["checks"].items()}
    return [NotApplicable(checks[check_id], test=test, param=param, target=target, message=message)
            for test, param, check_id, target, message in data["pairs"]]
