"""Python's cyclic garbage collector during an audit, from the start of collection to the end of the session.

A run keeps what it makes to the end: pytest every item and report, the run every result, answer and piece of
evidence. The collector's full passes walk all of it, more often the more there is: at a thousand clients 16 full
passes took 3.6 s of a 50 s run, a tenth of the main thread. Collecting less often (young objects every 20,000
allocations instead of 700, a full pass after 50 middle ones instead of 10) cut the collector's time to 2 s and left
the peak memory as it was; the previous thresholds come back at the end of the session.
"""

from __future__ import annotations

import gc

AUDIT_THRESHOLDS = (20_000, 20, 50)


class QuietCollector:
    """``start()`` raises the collector's thresholds (never lowers one set higher, never turns collection back on);
    ``stop()`` restores them."""

    def __init__(self) -> None:
        self._before: tuple[int, int, int] | None = None

    def start(self) -> None:
        # a threshold of 0 turns collection off: whoever did that keeps it so
        if self._before is None and gc.get_threshold()[0] > 0:
            self._before = gc.get_threshold()
            gc.set_threshold(*(max(mine, theirs) for mine, theirs in zip(AUDIT_THRESHOLDS, self._before, strict=True)))

    def stop(self) -> None:
        if self._before is not None:
            gc.set_threshold(*self._before)
            self._before = None
