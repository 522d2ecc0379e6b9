"""An answer's header lines as checks read them, kept small: a run holds every answer its probes share to the end
(tens of thousands at a thousand clients), and httpx's ``Headers`` keeps each line three times over as bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ._interned import KeptOnce

# Most lines recur from answer to answer (Content-Type, Cache-Control, Connection ...): each distinct line is kept
# once, in a table that lives as long as the process and is never written anywhere. Lines that carry credentials
# (a session cookie, a code in a redirect) are all different anyway: they stay only in their answer.
_LINE = KeptOnce[tuple[str, str]](50_000)
_NOT_SHARED = frozenset({"set-cookie", "location", "authorization", "proxy-authorization"})


def _line(name: str, value: str) -> tuple[str, str]:
    line = (name.lower(), value)
    return line if line[0] in _NOT_SHARED else _LINE(line)


class AnswerHeaders(Mapping[str, str]):
    """Read like ``httpx.Headers``: names case-insensitive, repeated names joined with ", " by ``[]``/``get``,
    each line apart by ``get_list``/``multi_items``."""

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        # httpx.Headers is a Mapping whose items() joins repeated names: its lines are its multi_items()
        multi_items = getattr(lines, "multi_items", None)
        pairs = multi_items() if multi_items is not None else lines.items() if isinstance(lines, Mapping) else lines
        self._lines = tuple(_line(str(name), str(value)) for name, value in pairs)

    def __getitem__(self, key: str) -> str:
        values = self.get_list(key)
        if not values:
            raise KeyError(key)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __len__(self) -> int:
        return len(self._lines)  # as httpx counts: lines, not names

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(name == key.lower() for name, _ in self._lines)

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        """Every value of ``key``, one per line (or per comma-separated item)."""
        wanted = key.lower()
        values = [value for name, value in self._lines if name == wanted]
        if not split_commas:
            return values
        return [item.strip() for value in values for item in value.split(",")]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) line in order, names lower case."""
        return list(self._lines)

    def __repr__(self) -> str:
        return f"AnswerHeaders({len(self._lines)} lines)"
