"""Results held to the end of the run, as compact as a result can be and still read as its dict.

A result is kept from its test's end to the writing of the reports, a hundred and fifty thousand of them at ten
thousand clients. What decides the gate and names the result (status, check, target, message ...) is read many
times: its values stay in one tuple, their names in a layout most results share (as a dict of their own these took
464 bytes a result, the largest thing a run held). What only the reports read (expected, observed, the evidence) is
most of a result's memory and waits in batches compressed as the exchanges are, found by one int the result holds.
The reports read results in the order they arrived, so each batch is decompressed about once per report.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping
from typing import Any

from .._interned import KeptOnce
from .exchanges import TextBatches, compact_json

# The members kept compressed; the others stay in the result's values.
DETAILS = ("expected", "observed", "evidence")
_NO_DETAILS = -1


class _Layout:
    """The names of a result's own values, in order, and where each is (shared by every result with those names)."""

    __slots__ = ("names", "index")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index = {name: position for position, name in enumerate(names)}


# Results list their members in one of a few orders, and hold their own values under one of a few layouts.
_ORDERS = KeptOnce[tuple[str, ...]](10_000)
_LAYOUTS: dict[tuple[str, ...], _Layout] = {}
_LAYOUT_LIMIT = 10_000


def _layout(names: tuple[str, ...]) -> _Layout:
    layout = _LAYOUTS.get(names)
    if layout is None:
        layout = _Layout(names)
        if len(_LAYOUTS) < _LAYOUT_LIMIT:
            _LAYOUTS[names] = layout
    return layout


class ResultStore:
    """Where the run keeps its results' details (``keep`` a result, get back the result to hold instead)."""

    def __init__(self) -> None:
        self._details = TextBatches()
        self._last: tuple[int, dict[str, Any]] | None = None

    def keep(self, result: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """A ``StoredResult`` reading as ``result`` (``result`` itself when it is one already)."""
        if isinstance(result, StoredResult):
            return result
        details = {name: result[name] for name in DETAILS if name in result}
        # a position, not the node id: a test run twice (reruns, a plugin's repeat) has two results
        where = self._details.add(compact_json(details)) if details else _NO_DETAILS
        layout = _layout(tuple(name for name in result if name not in DETAILS))
        values = tuple(result[name] for name in layout.names)
        return StoredResult(self, where, layout, values, _ORDERS(tuple(result)), _exchange_ids(result))

    def details(self, where: int) -> dict[str, Any]:
        # the members of one result are read one after the other (a writer's row): decompressed and parsed once
        if self._last is not None and self._last[0] == where:
            return self._last[1]
        details: dict[str, Any] = json.loads(self._details.text(where))
        self._last = (where, details)
        return details


def _exchange_ids(result: Mapping[str, Any]) -> tuple[str, ...]:
    evidence = result.get("evidence")
    return tuple(evidence.get("exchanges", ())) if isinstance(evidence, Mapping) else ()


def exchange_ids(result: Mapping[str, Any]) -> tuple[str, ...]:
    """The ids of the exchanges a result's evidence names, without decompressing a stored result's details."""
    if isinstance(result, StoredResult) and "evidence" not in result._layout.index:
        return result._exchanges if "evidence" in result._order else ()
    return _exchange_ids(result)


class StoredResult(MutableMapping[str, Any]):
    """A result dict whose details are in the run's ``ResultStore``; it reads, iterates and takes new members
    (the outcome's ``blocking``, ``cause`` ...) in the same order as the dict it was made from."""

    __slots__ = ("_store", "_where", "_layout", "_values", "_order", "_exchanges")

    def __init__(self, store: ResultStore, where: int, layout: _Layout, values: tuple[Any, ...],
                 order: tuple[str, ...], exchanges: tuple[str, ...] = ()) -> None:
        self._store, self._where, self._layout, self._values, self._order = store, where, layout, values, order
        # what the JSON report asks of every result before writing any (which exchanges to write)
        self._exchanges = exchanges

    def _has_detail(self, name: object) -> bool:
        return name in DETAILS and name in self._order and name not in self._layout.index

    def __getitem__(self, name: str) -> Any:
        position = self._layout.index.get(name)
        if position is not None:
            return self._values[position]
        if self._has_detail(name):
            return self._store.details(self._where)[name]
        raise KeyError(name)

    def __setitem__(self, name: str, value: Any) -> None:
        # a member set now (even a detail) is one of the result's own values from here on
        position = self._layout.index.get(name)
        if position is not None:
            self._values = (*self._values[:position], value, *self._values[position + 1:])
        else:
            self._layout = _layout((*self._layout.names, name))
            self._values = (*self._values, value)

    def __delitem__(self, name: str) -> None:
        position = self._layout.index.get(name)
        if position is not None:
            names = self._layout.names
            self._layout = _layout((*names[:position], *names[position + 1:]))
            self._values = (*self._values[:position], *self._values[position + 1:])
        elif not self._has_detail(name):
            raise KeyError(name)
        # gone from its place: set again, it comes last, as in a dict
        self._order = _ORDERS(tuple(key for key in self._order if key != name))

    def __iter__(self) -> Iterator[str]:
        own = self._layout.index
        for name in self._order:
            if name in own or name in DETAILS:
                yield name
        for name in self._layout.names:
            if name not in self._order:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return name in self._layout.index or self._has_detail(name)

    def items(self) -> ItemsView[str, Any]:
        # one read of the details for all members (a writer copies a result member by member)
        return self.to_dict().items()

    def to_dict(self) -> dict[str, Any]:
        """The plain result dict."""
        own = self._layout.index
        details = self._store.details(self._where) if any(self._has_detail(name) for name in DETAILS) else {}
        return {name: self._values[own[name]] if name in own else details[name] for name in self}

    def __repr__(self) -> str:
        return f"StoredResult({self.to_dict()!r})"
