"""Text as every writer puts it out: control characters visible, HTML escaped where markup is read.

The result model's strings are already bounded and printable (``_bounds``); the writers pass what they
add themselves (policy values, waiver reasons, run facts) through here as well, so no report depends on
every value having been cleaned upstream.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .._bounds import printable

# Characters JSON leaves raw with ensure_ascii=False that terminals and browsers act on; inside a JSON
# text they can only stand in strings, where \uXXXX means the same character.
_JSON_TABLE = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                          0x2028, 0x2029]}
# str.translate looks every character up in the table: megabytes of report cost a second. The regex finds the
# rare ones in C and replaces only those.
_JSON_RAW = re.compile("[" + "".join(re.escape(chr(c)) for c in _JSON_TABLE) + "]")


def escape(value: Any, quote: bool = True) -> str:
    """``value`` as text for HTML (or Markdown with inline HTML): escaped, control characters as ``\\uXXXX``."""
    return html.escape(printable(str(value)), quote=quote)


def json_text(document: Any, **options: Any) -> str:
    """``json.dumps`` of ``document`` (UTF-8 kept) with no raw control or bidi character in the text; any mapping
    (a not-applicable result, say) is written as the dict it reads as."""
    options["default"] = _mapping_as_dict(options.get("default"))
    return safe_json(json.dumps(document, ensure_ascii=False, **options))


def safe_json(text: str) -> str:
    """A JSON text (UTF-8 kept) with its raw control and bidi characters escaped, as ``json_text`` writes it."""
    return _JSON_RAW.sub(lambda m: _JSON_TABLE[ord(m.group())], text)


@runtime_checkable
class Encoded(Protocol):
    """A mapping that holds its values as compact JSON texts already (the run's evidence store): ``write_json`` puts
    them out as they are, rather than decode each only to encode it again."""

    def encoded_items(self) -> Iterator[tuple[str, str]]: ...


def _mapping_as_dict(otherwise: Any) -> Any:
    def default(value: Any) -> Any:
        if isinstance(value, Mapping):
            return dict(value)
        if otherwise is not None:
            return otherwise(value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return default


# Members written this many items at a time: one dumps() per batch keeps the C encoder's speed, and the text in
# memory at once is a batch's rather than the document's (tens of megabytes at a thousand clients, twice over
# when encoded).
_BATCH = 512


class Writable(Protocol):
    """Where ``write_json`` writes: a text file, or the HTML writer's compressor."""

    def write(self, text: str, /) -> Any: ...


def write_json(handle: Writable, document: dict[str, Any], **options: Any) -> None:
    """``json_text(document, separators=(",", ":"))`` written to ``handle`` piece by piece: a large list or
    dict member of ``document``, and any other sequence or mapping member, goes out in batches."""
    compact = {**options, "separators": (",", ":")}
    handle.write("{")
    for position, (key, value) in enumerate(document.items()):
        handle.write(("," if position else "") + json_text(key) + ":")
        if isinstance(value, Sequence) and not isinstance(value, (str, tuple)) and \
                (len(value) > _BATCH or not isinstance(value, list)):
            # A sequence that is not a list makes its items as they are written (the JSON report's results).
            handle.write("[")
            for start in range(0, len(value), _BATCH):
                handle.write(("," if start else "") + json_text(list(value[start:start + _BATCH]), **compact)[1:-1])
            handle.write("]")
        elif isinstance(value, Encoded):
            handle.write("{")
            encoded = value.encoded_items()
            separator = ""
            while pairs := list(itertools.islice(encoded, _BATCH)):
                handle.write(separator + ",".join(json_text(key) + ":" + safe_json(text) for key, text in pairs))
                separator = ","
            handle.write("}")
        elif isinstance(value, Mapping) and (len(value) > _BATCH or not isinstance(value, dict)):
            # A mapping that is not a dict reads its values as they are written (the run's evidence store).
            items = iter(value.items())
            handle.write("{")
            separator = ""
            while batch := dict(itertools.islice(items, _BATCH)):
                handle.write(separator + json_text(batch, **compact)[1:-1])
                separator = ","
            handle.write("}")
        else:
            handle.write(json_text(value, **compact))
    handle.write("}")


def write_texts(handle: Writable, texts: Sequence[str]) -> None:
    """A JSON array of ``texts``, each already a JSON text, written in batches as ``write_json`` writes its members."""
    handle.write("[")
    for start in range(0, len(texts), _BATCH):
        handle.write(("," if start else "") + ",".join(texts[start:start + _BATCH]))
    handle.write("]")
