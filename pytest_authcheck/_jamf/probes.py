"""Harmless GETs that need exactly one read privilege: effective privileges are decided by status codes.

A read privilege is probed with a GET that takes no path parameter and needs that privilege alone: from
the 11.7.1 endpoint map (Jamf Pro API, ``/api/v1`` preferred, deprecated paths last) or else the Classic
API table. 200 means the privilege is effective, 403 that it is not; anything else is inconclusive and
said so. Bodies are not read for the verdict (the 403 error code of Jamf Pro is not documented).
"""

from __future__ import annotations

from functools import cache

from .catalogue import deprecated_endpoints, endpoint_map
from .derive import CLASSIC_READ

PROBE_VERBS = ("Read ", "View ")


def is_probeable(privilege: str) -> bool:
    """Only read-type privileges are probed: a GET cannot show a write privilege without using it."""
    return privilege.startswith(PROBE_VERBS)


@cache
def probe_path(privilege: str) -> str | None:
    """The GET path to probe ``privilege`` with, or None when no harmless endpoint needs exactly it."""
    deprecated = deprecated_endpoints()
    candidates = []
    for key, privileges in endpoint_map().items():
        method, path = key.split(" ", 1)
        if method == "GET" and "{" not in path and privileges == (privilege,):
            candidates.append((key in deprecated, not path.startswith("/api/v1/"), path.count("/"), path))
    if candidates:
        return min(candidates)[3]
    for resource, reads in CLASSIC_READ.items():
        if reads == (privilege,):
            return f"/JSSResource/{resource}"
    return None


def probe_params(path: str) -> dict[str, str] | None:
    """Keep list answers small on the Jamf Pro API (one item)."""
    return None if path.startswith("/JSSResource/") else {"page": "0", "page-size": "1"}
