"""Reading a local file the user points at: bounded in size, UTF-8, and never quoted in an error."""

from __future__ import annotations

from pathlib import Path


def read_text_capped(path: Path, limit: int, error: type[Exception]) -> str:
    """The file's text, or ``error`` naming what is wrong (unreadable, too large, not UTF-8), never its content."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise error(f"{path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (byte {exc.start})") from None
