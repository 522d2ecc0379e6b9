"""Durations as written in a policy: ``30s``, ``15m``, ``1h``, ``29d`` (or a bare number of seconds)."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*[smhd]\s*$"
# No bound, timeout or lifetime in a policy is meaningfully longer than this; a longer one is a typo, and
# 10**23 days would overflow the date arithmetic the checks do with it.
MAX_DURATION = 3650 * 86400


def parse_duration(value: str | int | float) -> float:
    """Return the duration in seconds; raise ``ValueError`` with the accepted forms otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '15m', '1h' or '29d'")
    if isinstance(value, float) and value != value:
        raise ValueError("nan is not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = float(value) if value <= MAX_DURATION else float("inf")
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration such as '30s', '15m', '1h' or '29d'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ValueError(f"{_short(value)} is longer than 10 years (3650d): write the bound meant, such as '30d'")
    return seconds


def _short(value: str | int | float) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    """Render seconds the way a policy would write them (``3600`` -> ``1h``)."""
    seconds = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
