"""Evidence of bounded size in printable text, whatever a provider answered.

A hostile provider chooses what its answers hold: a 1 MiB claim, 10,000 keys, JSON nested a thousand
deep, NUL and right-to-left overrides. Evidence keeps what a reader needs and stays small:

- a string longer than ``TEXT_LIMIT`` keeps its head and tail around a marker that gives the length
  cut and the sha256 of the whole value (``abc…[cut 1048000 chars, sha256:ab12…]…xyz``), so two cut
  values can still be told apart;
- arrays and objects keep their first ``ITEM_LIMIT`` members, the whole value at most ``NODE_BUDGET``
  nodes, nesting at most ``DEPTH_LIMIT`` levels; the rest is named by a marker;
- control characters (C0 and C1 except tab and newline, DEL, and the bidirectional overrides and
  isolates U+202A-202E, U+2066-2069) are shown escaped (``\\u202e``): no terminal, browser or CI page
  renders them, so no answer can recolour, reorder or truncate what a reader sees.

``shape`` bounds the structure before anything walks the strings; ``finish`` cuts and escapes the
strings once they are redacted (secrets are found in the whole string, never in half of one).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

TEXT_LIMIT = 1000
KEEP = 200
MESSAGE_LIMIT = 4000
ITEM_LIMIT = 100
NODE_BUDGET = 2000
DEPTH_LIMIT = 12
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_TABLE = {c: f"\\u{c:04x}" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
                                             *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_CUT = "\u2026[cut {n} chars, sha256:{digest}]\u2026"


def printable(text: str) -> str:
    """``text`` with every control and bidi-override character written as ``\\uXXXX``."""
    return text.translate(_CONTROL_TABLE) if _CONTROL.search(text) else text


def clip(text: str, limit: int = TEXT_LIMIT, keep: int = KEEP) -> str:
    """``text`` if it is at most ``limit`` characters, else its ends around a marker with the cut length and hash."""
    if len(text) <= limit:
        return text
    keep = min(keep, limit // 2)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return text[:keep] + _CUT.format(n=len(text) - 2 * keep, digest=digest) + text[len(text) - keep:]


def bounded_text(text: str, limit: int = TEXT_LIMIT, keep: int = KEEP) -> str:
    """Cut, then escaped: what a message or a header value may show."""
    return printable(clip(text, limit, keep))


def shape(value: Any) -> Any:
    """A copy of a JSON-like value with at most ``ITEM_LIMIT`` members per container, ``NODE_BUDGET`` nodes
    and ``DEPTH_LIMIT`` levels (strings are kept whole: they are cut after redaction, by ``finish``)."""
    budget = [NODE_BUDGET]
    return _shape(value, 0, budget)


def _shape(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if isinstance(value, dict):
        if depth >= DEPTH_LIMIT:
            return f"[cut: an object nested deeper than {DEPTH_LIMIT} levels]"
        out: dict[Any, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= ITEM_LIMIT or budget[0] <= 0:
                out["\u2026"] = f"[cut {len(value) - index} of {len(value)} members]"
                break
            out[key] = _shape(item, depth + 1, budget)
        return out
    if isinstance(value, (list, tuple)):
        if depth >= DEPTH_LIMIT:
            return f"[cut: an array nested deeper than {DEPTH_LIMIT} levels]"
        items: list[Any] = []
        for index, item in enumerate(value):
            if index >= ITEM_LIMIT or budget[0] <= 0:
                items.append(f"[cut {len(value) - index} of {len(value)} items]")
                break
            items.append(_shape(item, depth + 1, budget))
        return items
    return value


def finish(value: Any, limit: int = TEXT_LIMIT) -> Any:
    """Cut and escape every string (keys too) of a value ``shape`` already bounded."""
    if isinstance(value, str):
        return bounded_text(value, limit)
    if isinstance(value, dict):
        return {bounded_text(k, limit) if isinstance(k, str) else k: finish(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [finish(v, limit) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return "NaN"
    return value
