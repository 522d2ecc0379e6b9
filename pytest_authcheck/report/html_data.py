"""The findings of ``authcheck.html`` as one JSON document, rendered by the page's script on demand.

Every piece is stored once and referenced: a check's title, severity, references and remediation in
``checks``, target names in ``targets``, and every evidence value (expected, observed, facts, decoded JWTs,
waivers) in ``values`` by index, so a value many results share (a discovery document, the same token decoded
by five checks) is written once.
Results keep the run's order: a result's index is its anchor (``#ac-r12``) in the page. ``causes`` holds, once
each, why results could not be evaluated when the reason is not their own (``[sentence, index of the result that
is the cause or -1]``); such a result's ``k`` is its position there.

The HTTP exchanges are most of a run's bytes (80% at 1,000 clients) and are read one at a time. Results name
them by position (``x``) in ``exchanges``, which holds only what the findings show and search without opening
one: ``[method, url, status, error]``. The whole exchanges are in chunks of about ``CHUNK_CHARS`` characters of
JSON (``chunks`` lists the position each starts at), each decompressed by the page the first time one of its
exchanges is opened.

The document and each chunk are gzip-compressed (about a tenth of the text: answers repeat) and base64 in
inert ``<script type="application/octet-stream">`` elements; the page decompresses them with the browser's
``DecompressionStream``. Base64 holds no ``<``, ``>`` or ``&``, so nothing an IdP sent can close an element
or open a tag; the texts are also escaped before compression (``<``, ``>`` and ``&`` as JSON escapes), so
they hold no markup once decompressed either. The script builds the page with ``textContent``, never as
markup, except the privilege diff, which is HTML rendered and escaped here by ``privilege_diff.render``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from .._jamf.grants import PRIVILEGE_DIFF_FACT
from .._run import AuthcheckRun
from ..results.causes import because
from . import privilege_diff
from .text import Writable, json_text, safe_json, write_texts

# Display and sort order of statuses (failures first); results store the index.
STATUS_ORDER = ("failed", "error", "waived", "skipped", "passed")
NOT_APPLICABLE = "not applicable (the policy declares no target of this kind)"
SCRIPT_ID = "ac-data"
CHUNK_ID = "ac-x"  # + the chunk's index
# Decompressing and parsing this much JSON takes a few milliseconds; a chunk of it compresses to about 50 KB.
CHUNK_CHARS = 500_000
_BASE64_PIECE = 3 * 64 * 1024
_PACK_BATCH_CHARS = 64 * 1024


class _Interned:
    """Distinct JSON values, each kept as the text it is written as; ``index`` returns where a value is (adding it the
    first time). Values are told apart by a digest of their canonical text, so what is held to the end of the page is
    one text a value, not the decoded value beside its canonical text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._seen: dict[bytes, int] = {}

    def index(self, value: Any) -> int:
        canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        key = hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=20).digest()
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = len(self.texts)
            self.texts.append(json_text(value, separators=(",", ":"), default=str))
        return found


def _results(run: AuthcheckRun, out: _Packed) -> tuple[dict[str, Any], _Interned, list[str]]:
    """Write the document's ``results`` member to ``out`` row by row; return the members the rows index into (the
    values apart, as their texts) and the ids of the exchanges results name, in the order of its ``exchanges``."""
    checks: dict[str, int] = {}
    check_rows: list[list[Any]] = []
    targets: dict[str, int] = {}
    values = _Interned()
    positions_x: dict[str, int] = {}
    # A result blocked by a cause other than itself points at it (``k``): the cause's sentence and, when the
    # cause is a result, that result's index.
    causes: dict[str, int] = {}
    cause_rows: list[list[Any]] = []
    outcome = getattr(run, "outcome", None) or {}
    known = {c["id"]: c for c in outcome.get("causes") or ()}
    # where the results that are causes stand (a dict of every result's was a third of this function's peak memory)
    causing = {c["result"] for c in known.values() if c.get("result")}
    positions = {r["nodeid"]: i for i, r in enumerate(run.results) if r["nodeid"] in causing}
    out.write('"results":[')
    for position, result in enumerate(run.results):
        check_id = result["check"]
        if check_id not in checks:
            checks[check_id] = len(check_rows)
            check_rows.append([check_id, result["title"], result["severity"], result.get("area") or "",
                               result.get("level") or "", list(result.get("refs") or ()), result.get("remediation") or ""])
        row = _result(result, checks[check_id], values)
        if "x" in row:
            row["x"] = [positions_x.setdefault(x, len(positions_x)) for x in row["x"] if x in run.exchanges]
        target = result.get("target")
        if target:
            row["t"] = targets.setdefault(target, len(targets))
        cause = known.get(result.get("cause") or "")
        if cause is not None and cause.get("result") != result["nodeid"]:
            if cause["id"] not in causes:
                causes[cause["id"]] = len(cause_rows)
                cause_rows.append([because(cause), positions.get(cause.get("result") or "", -1)])
            row["k"] = causes[cause["id"]]
        # written as it is made: tens of thousands of rows held until the end were most of the writer's memory
        out.write(("," if position else "") + json_text(row, separators=(",", ":"), default=str))
    out.write("]")
    return {
        "statuses": list(STATUS_ORDER),
        "notApplicable": NOT_APPLICABLE,
        "checks": check_rows,
        "targets": list(targets),
        "causes": cause_rows,
    }, values, list(positions_x)


def _summary(exchange: Mapping[str, Any]) -> list[Any]:
    return [exchange.get("method"), exchange.get("url"), exchange.get("status"), exchange.get("error")]


def _result(result: Mapping[str, Any], check: int, values: _Interned) -> dict[str, Any]:
    row: dict[str, Any] = {"c": check, "s": STATUS_ORDER.index(result["status"])}
    if result.get("message"):
        row["m"] = result["message"]
    if "expected" in result or "observed" in result:
        row["e"] = values.index(result.get("expected"))
        row["o"] = values.index(result.get("observed"))
    evidence = result.get("evidence") or {}
    if evidence.get("exchanges"):
        row["x"] = list(evidence["exchanges"])
    facts = []
    for name, value in (evidence.get("facts") or {}).items():
        if name == PRIVILEGE_DIFF_FACT and isinstance(value, dict):
            row["p"] = privilege_diff.render(value)
        else:
            facts.append([name, values.index(value)])
    if facts:
        row["f"] = facts
    jwts = [[str(token.get("label", "")), str(token.get("fingerprint", "")),
             values.index({k: token[k] for k in ("header", "claims", "error") if k in token})]
            for token in evidence.get("jwts") or ()]
    if jwts:
        row["j"] = jwts
    if result.get("waiver"):
        row["w"] = values.index(result["waiver"])
    if result.get("baseline"):
        row["b"] = result["baseline"]
    return row


def script_elements(run: AuthcheckRun) -> str:
    """``write_script_elements`` as one string (for a page small enough to hold, and for tests)."""
    out = io.StringIO()
    write_script_elements(out, run)
    return out.getvalue()


def write_script_elements(handle: Writable, run: AuthcheckRun) -> None:
    """Write the chunks of exchanges, then the document, compressed, each in an inert ``<script>`` element.

    Each chunk's element goes out as soon as it is full and the document's last (the page's script finds them by id):
    at ten thousand clients they are some 16 MiB of base64, and held as one string and then copied into the page
    pytest-html renders as one string, they were a tenth of the run's peak memory."""
    # Everything is compressed as it is written: the document's text and the exchanges' are tens of megabytes at a
    # thousand clients, compressed a tenth of it. The document's members go out in the order they are known: the
    # rows, then the exchanges they name, then the tables the rows index into.
    document = _Packed(escape=True)
    document.write("{")
    members, values, ids = _results(run, document)
    document.write(',"exchanges":[')
    starts: list[int] = []
    chunk: _Packed | None = None
    size = CHUNK_CHARS
    stored: Callable[[str], str] | None = getattr(run.exchanges, "text", None)  # as kept, when the store keeps it
    for position, exchange_id in enumerate(ids):
        exchange = run.exchanges[exchange_id]
        document.write(("," if position else "") + json_text(_summary(exchange), separators=(",", ":"), default=str))
        text = _safe(safe_json(stored(exchange_id)) if stored is not None else
                     json_text(exchange, separators=(",", ":"), default=str))
        if chunk is None or size + len(text) > CHUNK_CHARS:
            if chunk is not None:
                chunk.write("]")
                chunk.write_element(handle, f"{CHUNK_ID}{len(starts) - 1}")
            chunk = _Packed()
            chunk.write("[")
            starts.append(position)
            size = 0
        else:
            chunk.write(",")
        chunk.write(text)
        size += len(text)
    if chunk is not None:
        chunk.write("]")
        chunk.write_element(handle, f"{CHUNK_ID}{len(starts) - 1}")
    document.write("]")
    for name, value in members.items():
        document.write(f",{json_text(name)}:{json_text(value, separators=(',', ':'), default=str)}")
    document.write(',"values":')
    write_texts(document, values.texts)
    document.write(f',"chunks":{json_text(starts, separators=(",", ":"))}}}')
    document.write_element(handle, SCRIPT_ID)


class _Packed:
    """Text written piece by piece, gzip-compressed as it comes (the bytes ``gzip.compress(text, 6, mtime=0)``
    gives the whole text); ``escape`` passes each piece through ``_safe`` first."""

    def __init__(self, *, escape: bool = False) -> None:
        # wbits 31: a gzip member with mtime 0, so the same findings give the same bytes (reports are hashed into
        # the manifest)
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._parts: list[bytes] = []
        self._escape = escape
        # pieces are compressed a batch at a time: a row at a time, the calls cost more than the compressing did
        self._pending: list[str] = []
        self._pending_chars = 0

    def write(self, text: str) -> None:
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= _PACK_BATCH_CHARS:
            self._pack()

    def _pack(self) -> None:
        text = "".join(self._pending)
        self._pending, self._pending_chars = [], 0
        packed = self._deflate.compress((_safe(text) if self._escape else text).encode("utf-8"))
        if packed:
            self._parts.append(packed)

    def write_element(self, handle: Writable, element_id: str) -> None:
        """Write the element holding the text written so far, its base64 a piece at a time."""
        handle.write(f'<script type="application/octet-stream" id="{element_id}" data-encoding="gzip+base64">')
        pending = bytearray()
        self._pack()
        self._parts.append(self._deflate.flush())
        for part in self._parts:
            pending += part
            if len(pending) >= _BASE64_PIECE:
                whole = len(pending) - len(pending) % 3  # base64 of whole 3-byte groups joins up seamlessly
                handle.write(base64.b64encode(pending[:whole]).decode("ascii"))
                del pending[:whole]
        handle.write(base64.b64encode(pending).decode("ascii") + "</script>")
        self._parts = []


def _safe(text: str) -> str:
    # three str.replace passes run in C; translate would look up every character of megabytes in a dict
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
