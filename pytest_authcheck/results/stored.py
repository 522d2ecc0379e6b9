"""Results held to the end of the run, their bulky members compressed until a report reads them.

A result is kept from its test's end to the writing of the reports. What decides the gate and names the result
(status, check, target, message ...) is read many times and stays a dict; what only the reports read (expected,
observed, the evidence) is most of a result's memory (1.3 KB of 1.9 KB at a thousand clients) and waits in a
store compressed in batches, as the exchanges do. The reports read results in the order they arrived, so each
batch is decompressed about once per report.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, MutableMapping
from typing import Any

from .._interned import KeptOnce
from .exchanges import ExchangeStore

# The members kept compressed; the others stay in the result's dict.
DETAILS = ("expected", "observed", "evidence")
# Most results list their members in one of a few orders: each order is kept once.
_ORDERS = KeptOnce[tuple[str, ...]](10_000)


class ResultStore:
    """Where the run keeps its results' details (``keep`` a result, get back the result to hold instead)."""

    def __init__(self) -> None:
        self._details = ExchangeStore()
        self._last: tuple[str, dict[str, Any]] | None = None

    def keep(self, result: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """``result`` itself when it has no details (or is kept already), else a ``StoredResult`` reading as it."""
        if isinstance(result, StoredResult) or not any(key in result for key in DETAILS):
            return result
        # a position, not the node id: a test run twice (reruns, a plugin's repeat) has two results
        key = str(len(self._details))
        self._details.add({"id": key, **{name: result[name] for name in DETAILS if name in result}})
        head = {name: value for name, value in result.items() if name not in DETAILS}
        return StoredResult(head, self, key, _ORDERS(tuple(result)), _exchange_ids(result))

    def details(self, key: str) -> dict[str, Any]:
        # the members of one result are read one after the other (a writer's row): decompressed and parsed once
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        details = self._details[key]
        del details["id"]
        self._last = (key, details)
        return details


def _exchange_ids(result: Mapping[str, Any]) -> tuple[str, ...]:
    evidence = result.get("evidence")
    return tuple(evidence.get("exchanges", ())) if isinstance(evidence, Mapping) else ()


def exchange_ids(result: Mapping[str, Any]) -> tuple[str, ...]:
    """The ids of the exchanges a result's evidence names, without decompressing a stored result's details."""
    if isinstance(result, StoredResult) and "evidence" not in result._head:
        return result._exchanges if "evidence" in result._order else ()
    return _exchange_ids(result)


class StoredResult(MutableMapping[str, Any]):
    """A result dict whose details are in the run's ``ResultStore``; it reads, iterates and takes new members
    (the outcome's ``blocking``, ``cause`` ...) in the same order as the dict it was made from."""

    __slots__ = ("_head", "_store", "_key", "_order", "_exchanges")

    def __init__(self, head: dict[str, Any], store: ResultStore, key: str, order: tuple[str, ...],
                 exchanges: tuple[str, ...] = ()) -> None:
        self._head, self._store, self._key, self._order = head, store, key, order
        # what the JSON report asks of every result before writing any (which exchanges to write)
        self._exchanges = exchanges

    def __getitem__(self, name: str) -> Any:
        if name in self._head:
            return self._head[name]
        if name in DETAILS and name in self._order:
            return self._store.details(self._key)[name]
        raise KeyError(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._head[name] = value  # a member set now (even a detail) is read from here on

    def __delitem__(self, name: str) -> None:
        if name in self._head:
            del self._head[name]
        elif name in DETAILS and name in self._order:
            self._order = tuple(key for key in self._order if key != name)
        else:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        for name in self._order:
            if name in DETAILS or name in self._head:
                yield name
        for name in self._head:
            if name not in self._order:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return name in self._head or (name in DETAILS and name in self._order)

    def items(self) -> ItemsView[str, Any]:
        # one read of the details for all members (a writer copies a result member by member)
        return self.to_dict().items()

    def to_dict(self) -> dict[str, Any]:
        """The plain result dict."""
        details = self._store.details(self._key)
        return {name: self._head[name] if name in self._head else details[name] for name in self}

    def __repr__(self) -> str:
        return f"StoredResult({self.to_dict()!r})"
