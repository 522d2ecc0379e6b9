"""Validating the policy against the shipped JSON Schema: every violation, each as one plain sentence.

Two things the stock validator does not say are added here: a duration longer than anyone means (a
custom keyword on the schema's ``duration``), and, for an unknown key, where in the policy that key does
belong (``resource`` is a key of clients, not of a probe), besides spelling suggestions.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from .._duration import DURATION_PATTERN, parse_duration
from .lines import KeyPath, dotted
from .problems import Problems

DURATION_KEYWORD = "x-authcheck-duration"
MAX_SCHEMA_PROBLEMS = 300
_NAME = "NAME"  # a placeholder for a name the user chooses: [clients.NAME]
_INDEX = -1  # a placeholder for an array index: [[waivers]]
# Where a reference to another section's entry is written in a table (a probe's client, a client's provider).
_REFERENCES = {"clients": "client", "providers": "provider", "users": "user"}
# Errors about the value itself, one per key (the best of them): a wrong type makes a pattern moot.
_VALUE_RANK = {"type": 0, "enum": 1, "const": 1, "format": 2, DURATION_KEYWORD: 2, "oneOf": 2, "anyOf": 2,
               "pattern": 3}


@cache
def policy_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the policy."""
    text = resources.files("pytest_authcheck").joinpath("schemas/policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate(document: Mapping[str, Any], problems: Problems) -> None:
    """Record every schema violation of ``document``, one per key and kind of problem."""
    validator = _validator_class()(policy_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    best: dict[tuple[KeyPath, str], tuple[int, str]] = {}
    unsaid = 0
    for error in validator.iter_errors(document):
        room = MAX_SCHEMA_PROBLEMS - len(best)
        count = 1
        if error.validator == "additionalProperties":
            count = sum(1 for name in error.instance if name not in error.schema.get("properties", {}))
        # Past this many, a file is not a policy with mistakes; counting is enough (difflib per key is not free).
        unsaid += max(0, count - max(room, 0))
        if room <= 0:
            continue
        for path, kind, rank, message in _describe(error, room):
            slot = (path, kind)
            if slot not in best or rank < best[slot][0]:
                best[slot] = (rank, message)
    unknown_in: dict[KeyPath, list[str]] = {}
    for path, kind in best:
        if kind == "unknown":
            unknown_in.setdefault(path[:-1], []).append(str(path[-1]))
    for (path, kind), (_, message) in best.items():
        if kind == "count" and path in unknown_in:
            continue  # "needs exactly one of client or bearer" only repeats the unknown key beside it
        if kind.startswith("required:") and difflib.get_close_matches(kind.removeprefix("required:"),
                                                                       unknown_in.get(path, []), n=1):
            continue  # "issuer is required" beside "isuer: unknown key (did you mean 'issuer'?)" says it twice
        problems.add(message, path, key=dotted(path) or "(top level)")
    if unsaid:
        problems.add(f"and about {unsaid} more problems the schema found (the first {MAX_SCHEMA_PROBLEMS} are shown)")


@cache
def _validator_class() -> Any:
    def duration(validator: Any, enabled: Any, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        # Only values of the right form are judged here; the rest is the oneOf's error.
        if not enabled or isinstance(instance, bool):
            return
        if isinstance(instance, str) and re.match(DURATION_PATTERN, instance) or \
                isinstance(instance, int) and instance >= 0:
            try:
                parse_duration(instance)
            except ValueError as exc:
                yield jsonschema.ValidationError(str(exc))

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {DURATION_KEYWORD: duration})


def _describe(error: jsonschema.ValidationError, room: int) -> list[tuple[KeyPath, str, int, str]]:
    """(key path, kind, rank, message) for one validation error; an unknown-keys error gives one per key (up to room)."""
    path: KeyPath = tuple(error.absolute_path)
    validator, value, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.absolute_schema_path:
        what = ("an environment variable name (letters, digits and _, not starting with a digit)"
                if str(value).startswith("^[A-Za-z_]") else
                "a valid name (letters, digits, '-', '_' and '.', starting with a letter or digit)")
        return [(path + (instance,), "name", 0, f"{_short(instance)} is not {what}")]
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = [name for name in instance if name not in allowed][:room]
        return [(path + (name,), "unknown", 0, _unknown_key(path + (name,), instance, allowed)) for name in unknown]
    if validator == "required":
        return [(path, f"required:{name}", 0, _required(name, error.schema)) for name in value if name not in instance]
    if validator in ("minProperties", "maxProperties"):
        properties = list(error.schema.get("properties", {}))
        if error.schema.get("minProperties") == error.schema.get("maxProperties") == 1 and properties:
            return [(path, "count", 0, f"needs exactly one of {' or '.join(properties)}")]
        return [(path, "count", 0, "must not be empty" if validator == "minProperties" else error.message)]
    if validator in ("oneOf", "anyOf") and DURATION_KEYWORD not in error.schema and error.context:
        deepest = jsonschema.exceptions.best_match(error.context)
        return [(p, kind, _VALUE_RANK["oneOf"], m) for p, kind, _, m in _describe(deepest, room)]
    rank = _VALUE_RANK.get(str(validator), 4)
    return [(path, "value", rank, _value_message(str(validator), value, instance, error))]


def _value_message(validator: str, value: Any, instance: Any, error: jsonschema.ValidationError) -> str:
    if validator == "type":
        expected = " or ".join(_type_name(t) for t in ([value] if isinstance(value, str) else value))
        return f"expected {expected}, got {_json_type(instance)} ({_short(instance)})"
    if validator == "enum":
        return f"{_short(instance)} is not one of {', '.join(map(repr, value))}"
    if validator == "const":
        return f"must be {value!r}"
    if validator in ("oneOf", "anyOf", DURATION_KEYWORD) and DURATION_KEYWORD in error.schema:
        if validator == DURATION_KEYWORD:
            return str(error.message)
        return f"{_short(instance)} is not a duration such as '30s', '15m', '1h' or '29d'"
    if validator == "format" and value == "date":
        return f"{_short(instance)} is not a date (YYYY-MM-DD, a real day of a real month)"
    if validator == "pattern":
        return f"{_short(instance)} does not have the expected form ({value})"
    if validator == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters long"
    if validator == "minimum":
        return f"{_short(instance)} is less than the minimum, {value}"
    if validator == "maximum":
        return f"{_short(instance)} is more than the maximum, {value}"
    if validator == "uniqueItems":
        return "lists an item more than once"
    if validator == "minItems":
        return "must not be empty"
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


def _required(name: str, schema: Mapping[str, Any]) -> str:
    prop = _resolve(schema.get("properties", {}).get(name, {}))
    choices = prop.get("enum")
    return f"{name} is required" + (f" ({' | '.join(map(str, choices))})" if choices else "")


# ---- unknown keys: a typo, or a key of another table ------------------------------------------------------
def _unknown_key(path: KeyPath, table: Mapping[str, Any], allowed: list[str]) -> str:
    """A typo of a key of this table first; else where the key does belong (``clients.billing.resource``)."""
    name = str(path[-1])
    typo = difflib.get_close_matches(name, allowed, n=1)
    if typo:
        return f"unknown key (did you mean '{typo[0]}'?)"
    homes: list[str] = []
    notes: list[str] = []
    for template, qualifier in _places().get(name, []):
        if _same_shape(template, path):
            if qualifier:  # the same table of another kind: a jamf key in an oidc provider
                notes.append(f"{name} is a key of {dotted(path[:-2])} with {qualifier}")
            continue
        rendered = f"'{_render(template, path, table)}'"
        if rendered not in homes:
            homes.append(rendered)
    if homes:
        shown = homes[:3]
        notes.insert(0, f"did you mean {', '.join(shown[:-1]) + ' or ' if len(shown) > 1 else ''}{shown[-1]}?")
    if notes:
        return f"unknown key ({' '.join(notes)})"
    return f"unknown key (known keys: {', '.join(sorted(allowed))})" if allowed else "unknown key"


@cache
def _places() -> dict[str, list[tuple[tuple[str | int, ...], str | None]]]:
    """Every key the schema knows, with the table templates it is valid in (``clients.NAME.resource``)."""
    places: dict[str, list[tuple[tuple[str | int, ...], str | None]]] = {}

    def walk(node: Mapping[str, Any], path: tuple[str | int, ...], qualifier: str | None, depth: int) -> None:
        node = _resolve(node)
        if depth > 12:
            return
        for key, sub in node.get("properties", {}).items():
            entry = (path + (key,), qualifier)
            if entry not in places.setdefault(key, []) and (path + (key,), None) not in places[key]:
                places[key].append(entry)
            walk(sub, path + (key,), None, depth + 1)
        for branch in node.get("allOf", []):
            condition = branch.get("if", {}).get("properties", {})
            when = ", ".join(f'{k} = "{v["const"]}"' for k, v in condition.items() if "const" in v) or None
            walk(branch.get("then", {}), path, when, depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + (_NAME,), None, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + (_INDEX,), None, depth + 1)

    walk(policy_schema(), (), None, 0)
    # Shallow places first: a top-level home is the likelier one.
    return {k: sorted(v, key=lambda e: len(e[0])) for k, v in places.items()}


def _same_shape(template: tuple[str | int, ...], path: KeyPath) -> bool:
    return len(template) == len(path) and all(
        t == p or (t == _NAME and isinstance(p, str)) or (t == _INDEX and isinstance(p, int))
        for t, p in zip(template, path, strict=True))


def _render(template: tuple[str | int, ...], path: KeyPath, table: Mapping[str, Any]) -> str:
    """The template with the user's own names where they are known: the same entry, or the one referenced."""
    parts: list[str | int] = []
    for i, part in enumerate(template):
        if part == _NAME:
            same_section = i < len(path) and tuple(parts) == tuple(path[:i]) and isinstance(path[i], str)
            referenced = table.get(_REFERENCES.get(str(template[i - 1]), "")) if i else None
            if same_section:
                part = path[i]
            elif isinstance(referenced, str) and i == 1:
                part = referenced
        parts.append(part)
    return dotted(tuple(parts)).replace(f"[{_INDEX}]", "[N]")


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref", "")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = policy_schema()["$defs"][ref.removeprefix("#/$defs/")]
        return {**resolved, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type_name(name: str) -> str:
    return {"object": "table"}.get(name, name)


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value, default=str)[:70]
    return text if len(text) <= 60 else text[:57] + "..."
