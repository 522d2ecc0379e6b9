"""The run's HTTP evidence: each exchange once, by id, as the reports will write it, compressed in batches.

A thousand clients make some twenty thousand exchanges, tens of megabytes as Python objects held to the end of the
run; their JSON compresses some twenty-fold in batches (header lines, URLs and error bodies recur), a few-fold one by
one. Results arrive in the order the reports read them, so reading decompresses each batch about once. The results'
own details wait in such batches too (``TextBatches``, each found by an int its result holds).
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

BATCH_CHARS = 256 * 1024
_DECODED_BATCHES = 4
# Where an exchange is, as one int (batch << _POSITION_BITS | position) rather than a tuple of two: a run keeps one
# per exchange to its end, and each long-lived small object holds its allocator's pools (a tuple and an int: 84
# bytes; one int: 28 to 32). A batch is sealed before its texts outnumber what the low bits count.
_POSITION_BITS = 20


class TextBatches:
    """Texts without a raw newline, compressed in batches: ``add`` one, get back the int that finds it (``text``)."""

    def __init__(self, batch_chars: int = BATCH_CHARS) -> None:
        self._batch_chars = batch_chars
        self._sealed: list[bytes] = []
        self._firsts = [0]  # the arrival order of each batch's first text
        self._open: list[str] = []
        self._open_chars = 0
        self._decoded: OrderedDict[int, list[str]] = OrderedDict()

    def add(self, text: str) -> int:
        where = len(self._sealed) << _POSITION_BITS | len(self._open)
        self._open.append(text)
        self._open_chars += len(text)
        if self._open_chars >= self._batch_chars or len(self._open) >= 1 << _POSITION_BITS:
            self._sealed.append(zlib.compress("\n".join(self._open).encode("utf-8", "surrogatepass"), 1))
            self._firsts.append(self._firsts[-1] + len(self._open))
            self._open, self._open_chars = [], 0
        return where

    def order(self, where: int) -> int:
        """The arrival order of the text at ``where`` (0 for the first added)."""
        return self._firsts[where >> _POSITION_BITS] + (where & ((1 << _POSITION_BITS) - 1))

    def text(self, where: int) -> str:
        return self._texts(where >> _POSITION_BITS)[where & ((1 << _POSITION_BITS) - 1)]

    def _texts(self, batch: int) -> list[str]:
        if batch == len(self._sealed):
            return self._open
        texts = self._decoded.get(batch)
        if texts is None:
            texts = zlib.decompress(self._sealed[batch]).decode("utf-8", "surrogatepass").split("\n")
            self._decoded[batch] = texts
            if len(self._decoded) > _DECODED_BATCHES:
                self._decoded.popitem(last=False)
        else:
            self._decoded.move_to_end(batch)
        return texts


def compact_json(value: Any) -> str:
    """``value`` as one line of JSON (compact JSON escapes every newline inside strings), as a batch holds it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class ExchangeStore(Mapping[str, dict[str, Any]]):
    """``add`` an exchange (a JSON-able dict with an ``id``; the first of an id is kept), read it back by id."""

    def __init__(self, batch_chars: int = BATCH_CHARS) -> None:
        self._batches = TextBatches(batch_chars)
        self._where: dict[str, int] = {}

    def add(self, exchange: Mapping[str, Any]) -> None:
        """Keep ``exchange`` unless one with its id is kept already."""
        exchange_id = str(exchange["id"])
        if exchange_id not in self._where:
            self._where[exchange_id] = self._batches.add(compact_json(exchange))

    def __getitem__(self, exchange_id: str) -> dict[str, Any]:
        whole: dict[str, Any] = json.loads(self._batches.text(self._where[exchange_id]))
        return whole

    def text(self, exchange_id: str) -> str:
        """The exchange as kept: ``compact_json`` of it (the writers put it out as it is, rather than decode it only
        to encode it again)."""
        return self._batches.text(self._where[exchange_id])

    def order(self, exchange_id: str) -> int | None:
        """The arrival order of the exchange (0 for the first kept), None for an id not kept."""
        where = self._where.get(exchange_id)
        return None if where is None else self._batches.order(where)

    def __contains__(self, exchange_id: object) -> bool:
        return exchange_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)
