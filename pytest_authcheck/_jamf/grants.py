"""What a principal is granted, and the privilege diff against a policy's privilege set.

An API client holds the union of its roles' privileges (``authorizationScopes`` names roles by display
name); a token holds the roles of its ``scope`` (``api-role:<id>``), which lag behind the configuration
until the client's secret is rotated. A user's privileges are what ``GET /api/v1/auth`` lists per site
and per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import matches, unknown_name
from .derive import Derivation

PRIVILEGE_DIFF_FACT = "privilege diff"  # the fact name the HTML report renders as a table
MAX_NAME = 200  # a privilege name longer than this is not a privilege name; it is cut, not trusted


def _names(value: Any) -> list[str]:
    return [v[:MAX_NAME] for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass
class Grant:
    """Privileges with the source of each (``api-role 1 'JamfMCP Read-Only'``, ``site 1``, ...)."""

    sources: dict[str, list[str]] = field(default_factory=dict)
    roles: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, privileges: Iterable[str], source: str) -> None:
        """Record that ``source`` grants each of ``privileges``."""
        for name in privileges:
            entry = self.sources.setdefault(name, [])
            if source not in entry:
                entry.append(source)

    @property
    def names(self) -> set[str]:
        """The granted privilege names."""
        return set(self.sources)


def role_label(role: Mapping[str, Any]) -> str:
    """``api-role 1 'JamfMCP Read-Only'``."""
    return f"api-role {str(role.get('id'))[:20]} '{str(role.get('displayName'))[:MAX_NAME]}'"


def roles_by_name(roles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Roles keyed by display name (how an API client refers to them)."""
    return {r["displayName"]: r for r in roles if isinstance(r.get("displayName"), str)}


def client_grant(integration: Mapping[str, Any], roles: list[dict[str, Any]]) -> Grant:
    """The configured grant of an API client: the roles its ``authorizationScopes`` name."""
    grant = Grant()
    known = roles_by_name(roles)
    for name in _names(integration.get("authorizationScopes")):
        role = known.get(name)
        if role is None:
            grant.notes.append(f"role '{name}' named by the client is not among the API roles")
            continue
        privileges = _names(role.get("privileges"))
        grant.roles.append({"role": role_label(role), "privileges": len(privileges)})
        grant.add(privileges, role_label(role))
    return grant


def token_grant(role_ids: Iterable[str], roles: list[dict[str, Any]]) -> Grant:
    """The grant a token carries: the roles of its ``scope``."""
    grant = Grant()
    by_id = {str(r.get("id")): r for r in roles}
    for role_id in role_ids:
        role = by_id.get(role_id)
        if role is None:
            grant.notes.append(f"scope api-role:{role_id} names no API role the auditor can see")
            continue
        privileges = _names(role.get("privileges"))
        grant.roles.append({"role": role_label(role), "privileges": len(privileges)})
        grant.add(privileges, f"token scope {role_label(role)}")
    return grant


def user_grant(view: Mapping[str, Any]) -> Grant:
    """A user's privileges from ``GET /api/v1/auth``: every site's list and every group's."""
    grant = Grant()
    account = view.get("account")
    account = account if isinstance(account, Mapping) else {}
    by_site = account.get("privilegesBySite")
    if isinstance(by_site, Mapping):
        for site, privileges in by_site.items():
            grant.add(_names(privileges), f"account, site {str(site)[:20]}")
    groups = view.get("accountGroups")
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, Mapping):
            grant.add(_names(group.get("privileges")), f"group, site {str(group.get('siteId'))[:20]}")
    privilege_set = account.get("privilegeSet")
    if isinstance(privilege_set, str):
        grant.notes.append(f"privilege set {privilege_set[:40]}, access level {str(account.get('accessLevel'))[:40]}")
    return grant


@dataclass
class PrivilegeDiff:
    """A principal's privileges against its privilege set: the report's table and the checks' verdicts."""

    principal: str
    catalogue: str | None
    required: list[str]
    forbid: list[str]
    derived: list[str]
    granted: dict[str, list[str]]
    missing: list[str]
    excess: list[str]
    forbidden: list[dict[str, str]]
    unknown: list[dict[str, Any]]
    derived_missing: list[str]
    notes: list[str]

    def to_fact(self) -> dict[str, Any]:
        """The ``privilege diff`` fact (rendered as a table in the HTML report)."""
        return {
            "principal": self.principal,
            "catalogue": self.catalogue,
            "required": self.required,
            "forbid": self.forbid,
            "derived": self.derived,
            "granted": sorted(self.granted),
            "missing": self.missing,
            "excess": self.excess,
            "forbidden": self.forbidden,
            "unknown": self.unknown,
            "derived_missing": self.derived_missing,
            "sources": {k: self.granted[k] for k in sorted(self.granted)},
            "notes": self.notes,
        }


def diff(principal: str, pset: Mapping[str, Any], grant: Grant, *, catalogue: frozenset[str] | None,
         catalogue_label: str | None, derivation: Derivation | None) -> PrivilegeDiff:
    """Compare a grant with a privilege set (``require``, ``forbid``, ``derive``)."""
    required = [str(n) for n in pset.get("require", [])]
    forbid = [str(n) for n in pset.get("forbid", [])]
    granted = grant.names
    needed = set(required)
    derived_labels: list[str] = []
    derived_missing: list[str] = []
    if derivation is not None:
        needed |= derivation.minimal(granted)
        derived_labels = [n.label() for n in derivation.needs]
        derived_missing = [n.label() for n in derivation.missing(granted)]
    forbidden = [{"privilege": name, "pattern": pattern}
                 for name in sorted(granted) for pattern in forbid if matches(pattern, name)]
    unknown: list[dict[str, Any]] = []
    if catalogue is not None:
        for name in dict.fromkeys(required + forbid):
            finding = unknown_name(name, catalogue)
            if finding is not None:
                unknown.append({"name": name, "now": list(finding.now), "finding": finding.describe()})
    return PrivilegeDiff(
        principal=principal,
        catalogue=catalogue_label,
        required=required,
        forbid=forbid,
        derived=derived_labels,
        granted={k: list(v) for k, v in grant.sources.items()},
        missing=[n for n in required if n not in granted],
        excess=sorted(granted - needed),
        forbidden=forbidden,
        unknown=unknown,
        derived_missing=derived_missing,
        notes=list(grant.notes),
    )
