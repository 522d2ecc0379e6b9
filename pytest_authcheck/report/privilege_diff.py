"""The ``privilege diff`` fact as an HTML table: one row per category, each privilege with where it comes from.

Rendered here rather than by the page's script because it is structured (categories, patterns,
sources) and its escaping is tested without a browser; every value goes through ``html.escape``.
"""

from __future__ import annotations

from typing import Any

from .text import escape

# Rows of the privilege diff table: fact member, label, whether each name shows the source of its grant.
_DIFF_ROWS = (("required", "Required", False), ("derived", "Derived from calls", False), ("granted", "Granted", True),
              ("missing", "Missing", False), ("derived_missing", "Missing for calls", False),
              ("excess", "Excess", True), ("forbidden", "Forbidden", True), ("unknown", "Unknown names", False))


def render(diff: dict[str, Any]) -> str:
    """The ``privilege diff`` fact as a table: one row per category, each name with its evidence."""
    sources = diff.get("sources") if isinstance(diff.get("sources"), dict) else {}

    def item(value: Any, with_source: bool) -> str:
        if isinstance(value, dict) and "pattern" in value:
            name = str(value.get("privilege"))
            text = f"{name} (matches {value.get('pattern')})"
        elif isinstance(value, dict):
            name, text = str(value.get("name")), str(value.get("finding", value.get("name")))
        else:
            name = text = str(value)
        origin = sources.get(name) if with_source and sources else None
        if isinstance(origin, list) and origin:
            text += " \u2190 " + ", ".join(map(str, origin))
        return f"<li>{escape(text)}</li>"

    rows = []
    for key, label, with_source in _DIFF_ROWS:
        values = diff.get(key)
        if not isinstance(values, list):
            continue
        css = ' class="ac-failed"' if key in ("missing", "derived_missing", "excess", "forbidden", "unknown") and values else ""
        names = "".join(item(v, with_source) for v in values)
        rows.append(f'<tr><th{css}>{escape(label)}</th><td>{len(values)}</td><td><ul>{names}</ul></td></tr>')
    notes = diff.get("notes")
    if isinstance(notes, list) and notes:
        rows.append(f'<tr><th>Notes</th><td>{len(notes)}</td><td><ul>{"".join(f"<li>{escape(str(n))}</li>" for n in notes)}</ul></td></tr>')
    caption = f'Privilege diff of {diff.get("principal")}' + (f' ({diff.get("catalogue")})' if diff.get("catalogue") else "")
    return (f'<details open class="ac-privilege-diff"><summary>{escape(caption)}</summary><table>'
            f'<tr><th>Category</th><th>Count</th><th>Privileges (\u2190 granted by)</th></tr>{"".join(rows)}</table></details>')
