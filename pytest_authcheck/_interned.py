"""Values many records share, kept once: pytest keeps every report, and the run every exchange, to the end of the
session, and most of what they hold recurs (a header line, a check's title, a status)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class KeptOnce(Generic[T]):
    """``kept(value)``: the first equal value seen, for up to ``limit`` distinct values (then ``value`` itself), so
    all-distinct values from a hostile provider cost no more than keeping each where it is used."""

    def __init__(self, limit: int) -> None:
        self._kept: dict[T, T] = {}
        self._limit = limit

    def __call__(self, value: T) -> T:
        if len(self._kept) < self._limit:
            return self._kept.setdefault(value, value)
        return self._kept.get(value, value)
