"""Reading ``authcheck.html`` without a browser: the findings document the page's script renders.

The document and the chunks of HTTP exchanges are gzip-compressed base64 in the page
(``pytest_authcheck/report/html_data.py``): ``readable`` gives the page with each of them decompressed in
place, which is what a test that looks for a leaked secret or for raw markup must search.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

_PACKED = re.compile(r'<script type="application/octet-stream" id="(ac-data|ac-x\d+)" data-encoding="gzip\+base64">'
                     r'([^<]*)</script>')


def _text(page: str | Path) -> str:
    return page.read_text(encoding="utf-8") if isinstance(page, Path) else page


def _unpack(packed: str) -> str:
    return gzip.decompress(base64.b64decode(packed, validate=True)).decode("utf-8")


def packed(page: str | Path) -> dict[str, str]:
    """Each compressed element's decompressed text, by element id (``ac-data``, ``ac-x0``, ...)."""
    found = _PACKED.findall(_text(page))
    ids = [element_id for element_id, _ in found]
    assert len(ids) == len(set(ids)) and ids.count("ac-data") == 1, "the page must hold exactly one findings document"
    return {element_id: _unpack(text) for element_id, text in found}


def readable(page: str | Path) -> str:
    """The page with every compressed element replaced by its decompressed text."""
    return _PACKED.sub(lambda m: f'<script type="application/octet-stream" id="{m.group(1)}">{_unpack(m.group(2))}'
                                 '</script>', _text(page))


def findings(page: str | Path) -> dict[str, Any]:
    """The findings document embedded in the page."""
    return dict(json.loads(packed(page)["ac-data"]))


def exchanges(page: str | Path) -> dict[str, dict[str, Any]]:
    """The HTTP exchanges in the page's chunks, by id, checked against the document's summaries of them."""
    texts = packed(page)
    document = json.loads(texts["ac-data"])
    starts = document["chunks"]
    assert [f"ac-x{k}" for k in range(len(starts))] == sorted((k for k in texts if k != "ac-data"),
                                                               key=lambda k: int(k[4:]))
    whole: list[dict[str, Any]] = []
    for k, start in enumerate(starts):
        assert start == len(whole), "a chunk starts where the one before it ends"
        whole.extend(json.loads(texts[f"ac-x{k}"]))
    assert [[x.get("method"), x.get("url"), x.get("status"), x.get("error")] for x in whole] == document["exchanges"]
    return {x["id"]: x for x in whole}


def privilege_diffs(page: str | Path) -> str:
    """The privilege diff tables of every result, as the page inserts them (HTML escaped by the writer)."""
    return "\n".join(r["p"] for r in findings(page)["results"] if "p" in r)
