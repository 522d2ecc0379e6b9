"""The authorization matrix of each API as an HTML table: requests down, principals across.

Built from the policy (which cells exist and what each expects) and the results of the
``api.authorization-matrix`` check (what was observed), so a cell that did not run says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._api import MATRIX_CHECK, MATRIX_FACT, api_spec
from ..policy.load import Policy
from .text import escape

STYLE = """<style>
.ac-matrix td.ac-cell-passed{background:#e8f5e9}.ac-matrix td.ac-cell-failed{background:#ffcdd2;font-weight:600}
.ac-matrix td.ac-cell-error{background:#e1bee7}.ac-matrix td.ac-cell-skipped,.ac-matrix td.ac-cell-missing{background:#f5f5f5;color:#616161}
</style>"""


def cells_by_key(results: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int, str], dict[str, Any]]:
    """(api, rule index, principal) -> {status, message, expected, observed} from the matrix results."""
    found: dict[tuple[str, int, str], dict[str, Any]] = {}
    for result in results:
        if result.get("check") != MATRIX_CHECK:
            continue
        fact = result.get("evidence", {}).get("facts", {}).get(MATRIX_FACT)
        if not isinstance(fact, dict):
            continue
        found[(str(fact.get("api")), int(fact.get("rule", -1)), str(fact.get("principal")))] = {
            "status": result.get("status"), "message": result.get("message"),
            "expected": fact.get("expected"), "observed": fact.get("observed")}
    return found


def render_matrices(policy: Policy, results: Iterable[Mapping[str, Any]]) -> str:
    """One table per API with rules; empty when the policy declares none."""
    cells = cells_by_key(results)
    tables = []
    for name in policy.section("apis"):
        spec = api_spec(policy, name)
        if not spec.rules:
            continue
        principals = list(spec.principals.values())
        header = "".join(f"<th>{escape(p.name)}" + (f"<br><small>{escape(p.role)}</small>" if p.role else "")
                         + ("<br><small>revoked</small>" if p.revoked else "") + "</th>" for p in principals)
        rows = []
        for rule in spec.rules:
            row = [f"<th>{escape(rule.request)}" + (" <small>(mutating)</small>" if rule.mutating else "") + "</th>"]
            for principal in principals:
                expected = spec.expectation(rule, principal).label
                cell = cells.get((name, rule.index, principal.name))
                row.append(_cell(expected, cell))
            rows.append("<tr>" + "".join(row) + "</tr>")
        tables.append(f'<h3>Authorization matrix: apis.{escape(name)} ({escape(spec.base_url)})</h3>'
                      f'<table class="ac-matrix"><tr><th>request \\ principal</th>{header}</tr>{"".join(rows)}</table>')
    if not tables:
        return ""
    legend = ("<p>Each cell: expected (allowed = a 2xx answer) / observed HTTP status. Findings are highlighted; "
              "an answer that says neither allowed nor refused (429, 5xx, a redirect) leaves its cell not evaluated.</p>")
    return STYLE + '<div class="ac-block">' + legend + "".join(tables) + "</div>"


def _cell(expected: str, cell: dict[str, Any] | None) -> str:
    if cell is None:
        return f'<td class="ac-cell-missing">{escape(expected)} / not run</td>'
    status = str(cell.get("status") or "missing")
    observed = cell.get("observed")
    shown = f"HTTP {observed}" if observed is not None else status
    title = f' title="{escape(str(cell["message"]), quote=True)}"' if cell.get("message") else ""
    mark = " &#9888;" if status == "failed" else ""
    return f'<td class="ac-cell-{escape(status)}"{title}>{escape(expected)} / {escape(shown)}{mark}</td>'
