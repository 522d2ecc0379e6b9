"""Batches of pickled messages over a pipe between the tests' process and the prober: a length, then the bytes."""

from __future__ import annotations

import os
import pickle
from typing import Any

_HEADER = 8


def encoded(messages: list[tuple[Any, ...]]) -> bytes:
    """The messages pickled, leaving out any that does not pickle."""
    try:
        return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an answer that does not pickle is sent again by the test that reads it
        kept = []
        for message in messages:
            try:
                pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001
                continue
            kept.append(message)
        return pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)


def write_batch(fd: int, batch: bytes) -> None:
    """Write one batch, however many writes the pipe takes."""
    view = memoryview(len(batch).to_bytes(_HEADER, "big") + batch)
    while view:
        view = view[os.write(fd, view):]


def read_batch(fd: int) -> bytes | None:
    """The next batch, None once the other end has closed."""
    header = _read_exactly(fd, _HEADER)
    if header is None:
        return None
    body = _read_exactly(fd, int.from_bytes(header, "big"))
    if body is None:
        raise EOFError("the prober's pipe closed inside a batch")
    return body


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = []
    while size:
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
