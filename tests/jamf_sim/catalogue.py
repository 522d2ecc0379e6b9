"""Static Jamf Pro facts the simulator is built from.

Sources (see /work/shared/reference/jamf-pro-auth.md, "the reference"):

* ``data/privileges-11.12.json``: the 501 API-role privilege names of Jamf Pro 11.12
  (terraform-provider-jamfpro "all privileges" role). Copied verbatim from
  /work/shared/data/jamf/ so the simulator does not depend on that folder.
* ``data/endpoint-privileges-11.7.1.json``: ``"METHOD /api/path"`` ->
  ``x-required-privileges`` / ``x-authentication-required`` / ``deprecated`` from Jamf's
  11.7.1 OpenAPI (reference section 0 and 7.3). Copied verbatim.
* JamfMCP privilege lists: reference section 2.5 / 5.7 and the JamfMCP troubleshooting guide
  (seed 002, "Required Minimum Privileges").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")

JAMF_PRO_VERSION = "11.12.1-t1733313288"  # reference 4: real values carry a -t<epoch> suffix [O]


@lru_cache(maxsize=None)
def privilege_catalogue() -> tuple[str, ...]:
    """The 501 privilege names of Jamf Pro 11.12, sorted as in the dump."""
    return tuple(json.loads((DATA_DIR / "privileges-11.12.json").read_text()))


@lru_cache(maxsize=None)
def endpoint_privileges() -> dict[str, dict]:
    """``"GET /api/v1/api-roles" -> {"x-required-privileges": [...], ...}`` (11.7.1)."""
    return json.loads((DATA_DIR / "endpoint-privileges-11.7.1.json").read_text())


def read_privileges() -> tuple[str, ...]:
    """The 127 ``Read ...`` privileges of 11.12 (reference Appendix A)."""
    return tuple(p for p in privilege_catalogue() if p.startswith("Read "))


# The 11-item "Required Minimum Privileges" list of JamfMCP's troubleshooting guide
# (seed 002; reference 5.7 last bullet). "Read Computer Groups" does not exist in 11.12
# (reference 2.5: the real names are Read Smart/Static Computer Groups).
JAMFMCP_DOC_MINIMUM_PRIVILEGES: tuple[str, ...] = (
    "Read Computers",
    "Read Computer Inventory Collection",
    "Read Computer Groups",
    "Read Computer Extension Attributes",
    "Read Policies",
    "Read macOS Configuration Profiles",
    "Read Scripts",
    "Read Packages",
    "Read Buildings",
    "Read Departments",
    "Read Sites",
)

# The documented minimum filtered to names that really exist in the 11.12 catalogue (10 names).
JAMFMCP_MINIMUM_READ_PRIVILEGES: tuple[str, ...] = tuple(
    p for p in JAMFMCP_DOC_MINIMUM_PRIVILEGES if p in set(privilege_catalogue())
)

# 11.7.1 spec name -> 11.12 catalogue name (reference 2.3: "Example rename"). [C] that the
# rename happened; [I] that the 11.12 server accepts the new name where 11.7.1 required the old.
PRIVILEGE_RENAMES_11_7_1_TO_11_12: dict[str, str] = {
    "Read Jamf Content Distribution Server Files": "Read Jamf Cloud Distribution Service Files",
    "Create Jamf Content Distribution Server Files": "Create Jamf Cloud Distribution Service Files",
    "Delete Jamf Content Distribution Server Files": "Delete Jamf Cloud Distribution Service Files",
}

# Classic API (/JSSResource/<resource>) read privileges. The reference (5.7) marks every Classic
# row as [I] "from object names"; none is confirmed by Jamf. Tuples list alternatives where the
# reference says "and/or" -- the simulator accepts ANY of them for those (also a guess).
CLASSIC_READ_PRIVILEGES: dict[str, tuple[str, ...]] = {
    # brief's handful; all [I] per reference 5.7 unless noted
    "computers": ("Read Computers",),  # [I] guess: not in 5.7's list, follows naming
    "policies": ("Read Policies",),  # [I] 5.7
    "scripts": ("Read Scripts",),  # [I] 5.7
    "packages": ("Read Packages",),  # [I] 5.7 (packages/id)
    "buildings": ("Read Buildings",),  # [I] 5.7
    "departments": ("Read Departments",),  # [I] 5.7
    "sites": ("Read Sites",),  # [I] 5.7
    # the rest of JamfMCP's Classic calls (reference 5.7), all [I]
    "computerhistory": ("Read Computers",),
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
    "accounts": ("Read Accounts",),  # reference 3: [I] "follows naming"
}

# Singular element names for the Classic XML/JSON list bodies (simulator filler).
CLASSIC_SINGULAR: dict[str, str] = {
    "computers": "computer",
    "policies": "policy",
    "scripts": "script",
    "packages": "package",
    "buildings": "building",
    "departments": "department",
    "sites": "site",
    "computerhistory": "computer_history",
    "users": "user",
    "osxconfigurationprofiles": "os_x_configuration_profile",
    "computerextensionattributes": "computer_extension_attribute",
    "computergroups": "computer_group",
    "usergroups": "user_group",
    "networksegments": "network_segment",
    "categories": "category",
    "advancedcomputersearches": "advanced_computer_search",
    "restrictedsoftware": "restricted_software_title",
    "licensedsoftware": "licensed_software",
    "ldapservers": "ldap_server",
    "directorybindings": "directory_binding",
    "webhooks": "webhook",
    "accounts": "user",
}


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/api/v1/api-roles/{id}"
    regex: re.Pattern
    params: tuple[str, ...]
    required_privileges: tuple[str, ...]
    authentication_required: bool  # False only where the spec says x-authentication-required: false
    deprecated: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _compile(template: str) -> tuple[re.Pattern, tuple[str, ...]]:
    params: list[str] = []
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            params.append(part[1:-1])
            out += r"([^/]+)"
        else:
            out += re.escape(part)
    return re.compile("^" + out + "/?$"), tuple(params)


# Routes the simulator serves that are not in the 11.7.1 map (reference 1.5, 1.6).
EXTRA_ROUTES: dict[str, dict] = {
    "POST /api/oauth/token": {"x-required-privileges": [], "x-authentication-required": False, "deprecated": True},
    "POST /api/v1/oauth/token": {"x-required-privileges": [], "x-authentication-required": False, "deprecated": False},
    # reference 1.6 lists it among the deprecated endpoints; absent from our 11.7.1 copy
    "POST /api/auth/tokens": {"x-required-privileges": [], "x-authentication-required": False, "deprecated": True},
}


@lru_cache(maxsize=None)
def routes() -> tuple[Route, ...]:
    table = dict(endpoint_privileges())
    table.update(EXTRA_ROUTES)
    out = []
    for key, meta in table.items():
        method, template = key.split(" ", 1)
        regex, params = _compile(template)
        out.append(
            Route(
                method=method,
                template=template,
                regex=regex,
                params=params,
                required_privileges=tuple(meta.get("x-required-privileges") or ()),
                # null means "not stated": the global Bearer security applies (reference 0)
                authentication_required=meta.get("x-authentication-required") is not False,
                deprecated=bool(meta.get("deprecated")),
            )
        )
    # literal segments win over {params}: fewer params first, then longer templates
    out.sort(key=lambda r: (len(r.params), -len(r.template)))
    return tuple(out)


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """Return (route, path params, path_known_for_other_method)."""
    other = False
    for route in routes():
        m = route.regex.match(path)
        if not m:
            continue
        if route.method != method:
            other = True
            continue
        return route, dict(zip(route.params, m.groups())), True
    return None, {}, other
