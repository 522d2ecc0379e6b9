"""Reading ``authcheck.html`` without a browser: the findings document the page's script renders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_DATA = re.compile(r'<script type="application/json" id="ac-data">(.*?)</script>', re.S)


def findings(page: str | Path) -> dict[str, Any]:
    """The findings document (``pytest_authcheck/report/html_data.py``) embedded in the page."""
    text = page.read_text(encoding="utf-8") if isinstance(page, Path) else page
    found = _DATA.findall(text)
    assert len(found) == 1, "the page must hold exactly one findings document"
    return dict(json.loads(found[0]))


def privilege_diffs(page: str | Path) -> str:
    """The privilege diff tables of every result, as the page inserts them (HTML escaped by the writer)."""
    return "\n".join(r["p"] for r in findings(page)["results"] if "p" in r)
