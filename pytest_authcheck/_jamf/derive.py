"""Least privilege from the calls an integration makes: ``derive = ["GET /api/v1/computers-inventory", ...]``.

Jamf Pro API calls are looked up in the 11.7.1 endpoint map (``x-required-privileges``; an entry with
several names needs all of them). Classic API calls (``/JSSResource/<resource>``) have no published map;
``CLASSIC_READ`` below is a small table inferred from the object names (Jamf's rule for the Pro API is
Create/Read/Update/Delete for POST/GET/PUT/DELETE, applied here by analogy). Where a Classic resource
lists two privileges, either one serves the call (computer groups are smart or static).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .catalogue import endpoint_map

# Classic resource -> the Read privilege(s) a GET needs; inferred from names, not confirmed by Jamf.
CLASSIC_READ: dict[str, tuple[str, ...]] = {
    "computers": ("Read Computers",),
    "computerhistory": ("Read Computers",),
    "policies": ("Read Policies",),
    "scripts": ("Read Scripts",),
    "packages": ("Read Packages",),
    "buildings": ("Read Buildings",),
    "departments": ("Read Departments",),
    "sites": ("Read Sites",),
    "users": ("Read User",),
    "osxconfigurationprofiles": ("Read macOS Configuration Profiles",),
    "computerextensionattributes": ("Read Computer Extension Attributes",),
    "computergroups": ("Read Smart Computer Groups", "Read Static Computer Groups"),
    "usergroups": ("Read Smart User Groups", "Read Static User Groups"),
    "networksegments": ("Read Network Segments",),
    "categories": ("Read Categories",),
    "advancedcomputersearches": ("Read Advanced Computer Searches",),
    "restrictedsoftware": ("Read Restricted Software",),
    "licensedsoftware": ("Read Licensed Software",),
    "ldapservers": ("Read LDAP Servers",),
    "directorybindings": ("Read Directory Bindings",),
    "webhooks": ("Read Webhooks",),
    "accounts": ("Read Accounts",),
}
CLASSIC_VERBS = {"GET": "Read", "POST": "Create", "PUT": "Update", "DELETE": "Delete"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Need:
    """One privilege requirement of a call: any one of ``alternatives`` serves it."""

    alternatives: tuple[str, ...]

    def satisfied_by(self, granted: set[str] | frozenset[str]) -> bool:
        """Whether a grant covers this need."""
        return any(a in granted for a in self.alternatives)

    def label(self) -> str:
        """``Read Computers`` or ``one of (Read Smart Computer Groups | Read Static Computer Groups)``."""
        if len(self.alternatives) == 1:
            return self.alternatives[0]
        return "one of (" + " | ".join(self.alternatives) + ")"


@dataclass(frozen=True)
class DerivedCall:
    """What one declared call needs, and where that came from."""

    call: str
    needs: tuple[Need, ...]
    source: str  # "11.7.1 OpenAPI x-required-privileges", "Classic API table (inferred)", or why unknown
    known: bool


@dataclass
class Derivation:
    """The minimal privilege set of a list of calls."""

    calls: list[DerivedCall] = field(default_factory=list)

    @property
    def needs(self) -> list[Need]:
        """Every distinct need of the known calls, in call order."""
        seen: list[Need] = []
        for call in self.calls:
            for need in call.needs:
                if need not in seen:
                    seen.append(need)
        return seen

    @property
    def unknown_calls(self) -> list[DerivedCall]:
        """Calls the endpoint map and the Classic table do not know."""
        return [c for c in self.calls if not c.known]

    def minimal(self, granted: set[str] | frozenset[str]) -> set[str]:
        """The least set that serves every call: for an either/or need, the alternative already granted."""
        out: set[str] = set()
        for need in self.needs:
            chosen = next((a for a in need.alternatives if a in granted), need.alternatives[0])
            out.add(chosen)
        return out

    def missing(self, granted: set[str] | frozenset[str]) -> list[Need]:
        """Needs no granted privilege serves: those calls would be refused with 403."""
        return [n for n in self.needs if not n.satisfied_by(granted)]

    def to_fact(self) -> list[dict[str, object]]:
        """JSON-able evidence: each call with its privileges and their source."""
        return [{"call": c.call, "needs": [n.label() for n in c.needs], "source": c.source} for c in self.calls]


def parse_call(call: str) -> tuple[str, str]:
    """``"get /api/v1/x?y=1"`` -> ``("GET", "/api/v1/x")``; ``ValueError`` when it is not ``METHOD /path``."""
    method, _, path = call.strip().partition(" ")
    method, path = method.upper(), path.strip().split("?", 1)[0].split("#", 1)[0]
    if method not in METHODS or not path.startswith("/"):
        raise ValueError(f"{call!r} is not 'METHOD /path' (METHOD one of {', '.join(METHODS)})")
    return method, path.rstrip("/") or "/"


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    params: int
    privileges: tuple[str, ...]


def _routes() -> list[_Route]:
    routes = []
    for key, privileges in endpoint_map().items():
        method, template = key.split(" ", 1)
        pattern = "".join(r"[^/]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{[^}]+\})", template))
        routes.append(_Route(method, re.compile(f"^{pattern}$"), template.count("{"), privileges))
    routes.sort(key=lambda r: r.params)  # a literal segment beats a {param}
    return routes


_ROUTES: list[_Route] | None = None


def derive_call(call: str) -> DerivedCall:
    """The privileges one call needs."""
    global _ROUTES
    try:
        method, path = parse_call(call)
    except ValueError as exc:
        return DerivedCall(call, (), str(exc), False)
    if path.lower().startswith("/jssresource/"):
        resource = path.split("/")[2].lower()
        reads = CLASSIC_READ.get(resource)
        verb = CLASSIC_VERBS.get(method)
        if reads is None or verb is None:
            return DerivedCall(call, (), f"Classic API resource '{resource}' is not in the Classic table", False)
        alternatives = tuple(verb + r[len("Read"):] for r in reads)
        return DerivedCall(call, (Need(alternatives),), "Classic API table (inferred from object names)", True)
    if not path.startswith("/api/"):
        path = "/api" + path  # the map's keys carry the /api base path; users often write /v1/...
    if _ROUTES is None:
        _ROUTES = _routes()
    for route in _ROUTES:
        if route.method == method and route.regex.match(path):
            needs = tuple(Need((p,)) for p in route.privileges)
            return DerivedCall(call, needs, "Jamf Pro 11.7.1 OpenAPI x-required-privileges", True)
    return DerivedCall(call, (), "not in the Jamf Pro 11.7.1 endpoint map", False)


def derive(calls: list[str] | tuple[str, ...]) -> Derivation:
    """The needs of every declared call."""
    return Derivation([derive_call(c) for c in calls])
