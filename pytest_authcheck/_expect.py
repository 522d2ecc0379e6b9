"""Expected values a check states beside what it observed, and the one comparison the result model makes.

A check records ``authcheck_record.expect(expected, observed)``; the result model refuses a pass when the two
do not match, so a check can never pass against its own evidence, and a shipped check that states nothing
cannot pass at all. Write both in the same vocabulary:

- plain values compare equal: ``expect({"none": "refused"}, {"none": "refused"})``;
- a ``Matcher`` in ``expected`` states a bound or a choice: ``AtMost(3600, "at most 1h")``,
  ``AtLeast(21, "at least 21 days")``, ``OneOf(("TLSv1.2", "TLSv1.3"), "TLS 1.2 or 1.3")``,
  ``Satisfies(lambda s: set(s) <= allowed, "a subset of deploy read")``;
- ``observed`` may hold ``Quantity(900, "15m")`` (compared as 900, shown as 15m) and ``Observation`` or
  ``Comparison`` objects, which compare as their kind (``"refused"``) or outcome (``"enforced"``) and show
  their summary;
- dicts compare key by key with the same keys, lists item by item.

Put details that are not part of the verdict (status codes, headers, counts) in ``fact(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class Matcher:
    """A named condition on an observed value."""

    text: str

    def matches(self, observed: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True, repr=False)
class AtMost(Matcher):
    """A number no larger than ``limit`` (``text`` shows it: ``"at most 1h"``)."""

    limit: float
    text: str

    def matches(self, observed: Any) -> bool:
        return _number(observed) is not None and _number(observed) <= self.limit  # type: ignore[operator]


@dataclass(frozen=True, repr=False)
class AtLeast(Matcher):
    """A number no smaller than ``limit``."""

    limit: float
    text: str

    def matches(self, observed: Any) -> bool:
        return _number(observed) is not None and _number(observed) >= self.limit  # type: ignore[operator]


@dataclass(frozen=True, repr=False)
class OneOf(Matcher):
    """Any of ``values`` (each matched as an expected value itself)."""

    values: tuple[Any, ...]
    text: str

    def matches(self, observed: Any) -> bool:
        return any(matches(v, observed) for v in self.values)


@dataclass(frozen=True, repr=False)
class Satisfies(Matcher):
    """A condition written as a predicate: ``Satisfies(lambda s: s <= allowed, "a subset of deploy read")``."""

    predicate: Callable[[Any], bool]
    text: str

    def matches(self, observed: Any) -> bool:
        try:
            return bool(self.predicate(_plain(observed)))
        except Exception:  # a predicate that cannot judge the value does not match it
            return False


@dataclass(frozen=True)
class Quantity:
    """An observed number with the words a reader wants: compared as ``value``, shown as ``text``."""

    value: float
    text: str

    @classmethod
    def count(cls, items: Sequence[Any], none_text: str, shown: int = 10) -> Quantity:
        """How many ``items``, shown as the first ``shown`` of them (``none_text`` when there are none)."""
        text = "; ".join(map(str, items[:shown])) + (" [...]" if len(items) > shown else "")
        return cls(len(items), text or none_text)

    def describe(self) -> str:
        """The text shown in reports."""
        return self.text


def matches(expected: Any, observed: Any) -> bool:
    """Whether ``observed`` is what ``expected`` says (dicts key by key, lists item by item)."""
    if isinstance(expected, Matcher):
        return expected.matches(observed)
    if isinstance(expected, Mapping):
        return isinstance(observed, Mapping) and set(expected) == set(observed) and \
            all(matches(expected[k], observed[k]) for k in expected)
    if isinstance(expected, (list, tuple)):
        return isinstance(observed, (list, tuple)) and len(expected) == len(observed) and \
            all(matches(e, o) for e, o in zip(expected, observed, strict=True))
    return bool(expected == _plain(observed))


def mismatches(expected: Any, observed: Any, path: str = "") -> list[str]:
    """Where ``observed`` departs from ``expected``: ``["client_secret_post: expected refused, observed accepted"]``."""
    if isinstance(expected, Mapping) and isinstance(observed, Mapping):
        out = [f"{_at(path, k)}: expected {shown(expected[k])}, observed nothing" for k in expected if k not in observed]
        out += [f"{_at(path, k)}: observed {shown(observed[k])}, not expected" for k in observed if k not in expected]
        for key in expected:
            if key in observed:
                out += mismatches(expected[key], observed[key], _at(path, key))
        return out
    if matches(expected, observed):
        return []
    return [f"{path + ': ' if path else ''}expected {shown(expected)}, observed {shown(observed)}"]


def shown(value: Any) -> Any:
    """The JSON-able form for reports: matchers as their text, observations as their description."""
    if isinstance(value, Matcher):
        return value.text
    describe = getattr(value, "describe", None)
    if callable(describe) and not isinstance(value, (str, bytes, Mapping)):
        return describe()
    if isinstance(value, Mapping):
        return {str(k): shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """What an observed object is compared as: an observation's kind, a comparison's outcome."""
    kind = getattr(value, "kind", None)
    if kind is not None and hasattr(value, "summary"):
        return getattr(kind, "value", kind)
    outcome = getattr(value, "outcome", None)
    if outcome is not None and hasattr(value, "reason"):
        return getattr(outcome, "value", outcome)
    if isinstance(value, Quantity):
        return value.value
    return value


def _number(value: Any) -> float | None:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _at(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
