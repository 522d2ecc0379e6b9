"""Jamf Pro privilege names: the catalogue of a version, renamed and invented names, ``*`` patterns.

The data ship with the package (``data/jamf/``): the 501 API-role privilege names of Jamf Pro 11.12
(terraform-provider-jamfpro's "all privileges" role) and the 11.7.1 OpenAPI map from ``METHOD /api/path``
to ``x-required-privileges``. Names are case-sensitive and "can and do change between Jamf Pro versions",
so a policy name that is not in the catalogue is a finding, not a typo to forgive.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Catalogues shipped, by "major.minor". A declared version without its own catalogue is not guessed at.
SHIPPED_CATALOGUES = {"11.12": "privileges-11.12.json"}
ENDPOINT_MAP_VERSION = "11.7.1"

# Names that do not exist, with what they are now. Sources: the Jamf Pro 11.12 list checked against
# JamfMCP's documented privilege lists, and the 11.7.1 -> 11.12 rename seen in the OpenAPI documents.
REPLACED_NAMES: dict[str, tuple[str, ...]] = {
    "Read Computer Groups": ("Read Smart Computer Groups", "Read Static Computer Groups"),
    "Read Computer MDM Command Information": ("View MDM command information in Jamf Pro API",),
    "Read Users": ("Read User",),
    "Read User Groups": ("Read Smart User Groups", "Read Static User Groups"),
    "Read Extension Attributes": ("Read Computer Extension Attributes", "Read Mobile Device Extension Attributes",
                                  "Read User Extension Attributes"),
    "Read Jamf Content Distribution Server Files": ("Read Jamf Cloud Distribution Service Files",),
    "Create Jamf Content Distribution Server Files": ("Create Jamf Cloud Distribution Service Files",),
    "Delete Jamf Content Distribution Server Files": ("Delete Jamf Cloud Distribution Service Files",),
}
# 11.7.1 endpoint-map names that 11.12 spells differently (the map predates the catalogue).
MAP_RENAMES = {old: new[0] for old, new in REPLACED_NAMES.items() if "Content Distribution Server" in old}


def _data(name: str) -> Any:
    return json.loads(resources.files("pytest_authcheck").joinpath(f"data/jamf/{name}").read_text("utf-8"))


def release(version: str) -> str | None:
    """``"11.12"`` from ``"11.12"``, ``"11.12.1"`` or ``"11.12.1-t1733313288"``; None when unreadable."""
    match = re.match(r"^\s*(\d+)\.(\d+)", version or "")
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


@cache
def shipped_catalogue(version: str) -> frozenset[str] | None:
    """The privilege names of a Jamf Pro version, or None when no catalogue ships for it."""
    key = release(version)
    filename = SHIPPED_CATALOGUES.get(key or "")
    if filename is None:
        return None
    names = _data(filename)
    return frozenset(n for n in names if isinstance(n, str))


@cache
def endpoint_map() -> dict[str, tuple[str, ...]]:
    """``"GET /api/v1/computers-inventory" -> ("Read Computers",)`` from the 11.7.1 OpenAPI document."""
    table: dict[str, tuple[str, ...]] = {}
    for key, meta in _data(f"endpoint-privileges-{ENDPOINT_MAP_VERSION}.json").items():
        privileges = meta.get("x-required-privileges") or []
        table[key] = tuple(MAP_RENAMES.get(p, p) for p in privileges)
    return table


@cache
def deprecated_endpoints() -> frozenset[str]:
    """Endpoint keys the 11.7.1 document marks deprecated."""
    return frozenset(k for k, m in _data(f"endpoint-privileges-{ENDPOINT_MAP_VERSION}.json").items()
                     if m.get("deprecated"))


def is_pattern(name: str) -> bool:
    """``Delete *`` is a pattern; ``Delete Policies`` a name."""
    return "*" in name


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; everything else literally, case-sensitive like Jamf's names."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def matches(pattern: str, name: str) -> bool:
    """Whether a privilege name matches a policy name or ``*`` pattern."""
    return pattern_regex(pattern).match(name) is not None if is_pattern(pattern) else pattern == name


@dataclass(frozen=True)
class UnknownName:
    """A policy privilege name (or pattern) the catalogue does not know, and what it is now."""

    name: str
    now: tuple[str, ...]
    reason: str

    def describe(self) -> str:
        """One sentence for a failure message."""
        if self.now:
            return f"'{self.name}' {self.reason}; it is now " + " + ".join(f"'{n}'" for n in self.now)
        return f"'{self.name}' {self.reason}"


def unknown_name(name: str, catalogue: frozenset[str]) -> UnknownName | None:
    """None when ``name`` exists in ``catalogue`` (or, as a pattern, matches something there)."""
    if is_pattern(name):
        if any(matches(name, n) for n in catalogue):
            return None
        return UnknownName(name, (), "matches no privilege of this version")
    if name in catalogue:
        return None
    replaced = tuple(n for n in REPLACED_NAMES.get(name, ()) if n in catalogue)
    if replaced:
        return UnknownName(name, replaced, "does not exist in this version")
    by_case = [n for n in catalogue if n.lower() == name.lower()]
    if by_case:
        return UnknownName(name, tuple(by_case), "does not exist (names are case-sensitive)")
    close = tuple(difflib.get_close_matches(name, sorted(catalogue), n=2, cutoff=0.85))
    if close:
        return UnknownName(name, close, "does not exist in this version (closest name)")
    return UnknownName(name, (), "does not exist in this version")
