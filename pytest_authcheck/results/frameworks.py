"""Which requirements of RFC 9700, OWASP ASVS 5.0 and the FAPI 2.0 Security Profile each check tests, and how
much of each framework a run covered.

The catalogues (``data/frameworks/<framework>.json``) list each framework's requirements in scope, verified
against the published texts; ``mapping.json`` links check ids to requirement ids. Both load once per process.

A link says how much of the requirement the check shows (``full`` or ``partial``) and whether the check's
failure is the requirement's (``attributable``): a check that also fails for reasons outside the requirement
(another grant among its probes, a policy stricter than the framework) leaves the requirement *not evaluated*
when it fails, never *failed*, while its pass still counts as evidence.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

DATA_DIR = "data/frameworks"
FRAMEWORK_FILES = {"rfc9700": "rfc9700.json", "asvs": "asvs-5.0.json", "fapi2": "fapi2-security.json"}
MAPPING_FILE = "mapping.json"
COVERAGES = ("full", "partial")
# A requirement names at most this many deciding results (a run over thousands of clients would otherwise list
# every one of them per requirement); ``deciding_total`` then says how many there were.
DECIDING_LIMIT = 50
# Worst first; a requirement takes the worst state its mapped results give it.
STATES = ("failed", "accepted", "not evaluated", "passed", "not run", "not covered")


class FrameworkDataError(ValueError):
    """A framework catalogue or the mapping is malformed (a packaging bug, reported with the file at fault)."""


@dataclass(frozen=True)
class Requirement:
    """One requirement of a framework, as its catalogue states it."""

    id: str
    framework: str
    title: str
    section: str
    level: str
    url: str
    party: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "framework": self.framework, "title": self.title, "section": self.section,
               "level": self.level, "url": self.url}
        if self.party is not None:
            out["party"] = self.party
        return out


@dataclass(frozen=True)
class Framework:
    """A catalogue: the framework's identity, where its text was verified, and its requirements in scope."""

    key: str
    name: str
    version: str
    url: str
    marker: str
    requirements: tuple[Requirement, ...]


@dataclass(frozen=True)
class Link:
    """That ``check`` tests ``requirement``, how much of it, and whether its failure is the requirement's."""

    check: str
    requirement: Requirement
    coverage: str
    note: str | None
    attributable: bool


@dataclass(frozen=True)
class Catalog:
    """The catalogues and the mapping, indexed both ways."""

    frameworks: dict[str, Framework]
    requirements: dict[str, Requirement]
    links: dict[str, tuple[Link, ...]]
    by_requirement: dict[str, tuple[Link, ...]]

    def links_to(self, requirement_id: str) -> tuple[Link, ...]:
        return self.by_requirement.get(requirement_id, ())


def _read(name: str) -> Any:
    try:
        return json.loads(resources.files("pytest_authcheck").joinpath(f"{DATA_DIR}/{name}").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise FrameworkDataError(f"{DATA_DIR}/{name}: {exc}") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise FrameworkDataError(f"{where} must be a non-empty string")
    return value


def _framework(key: str, name: str) -> Framework:
    document = _read(name)
    where = f"{DATA_DIR}/{name}"
    if not isinstance(document, dict) or not isinstance(document.get("requirements"), list):
        raise FrameworkDataError(f"{where}: expected an object with a 'requirements' list")
    source = document.get("source")
    if not isinstance(source, dict):
        raise FrameworkDataError(f"{where}: 'source' must say where the text was verified")
    requirements = []
    for index, raw in enumerate(document["requirements"]):
        at = f"{where} requirement {index}"
        if not isinstance(raw, dict):
            raise FrameworkDataError(f"{at} is not an object")
        party = raw.get("party")
        requirements.append(Requirement(
            id=_text(raw.get("id"), f"{at} id"), framework=key, title=_text(raw.get("title"), f"{at} title"),
            section=_text(raw.get("section"), f"{at} section"), level=_text(raw.get("level"), f"{at} level"),
            url=_text(raw.get("url"), f"{at} url"), party=_text(party, f"{at} party") if party is not None else None))
    return Framework(key=key, name=_text(document.get("name"), f"{where} name"),
                     version=_text(document.get("version"), f"{where} version"),
                     url=_text(source.get("url"), f"{where} source.url"),
                     marker=_text(document.get("marker"), f"{where} marker"), requirements=tuple(requirements))


def _links(requirements: Mapping[str, Requirement]) -> dict[str, tuple[Link, ...]]:
    document = _read(MAPPING_FILE)
    where = f"{DATA_DIR}/{MAPPING_FILE}"
    checks = document.get("checks") if isinstance(document, dict) else None
    if not isinstance(checks, dict):
        raise FrameworkDataError(f"{where}: expected an object with a 'checks' object")
    out: dict[str, tuple[Link, ...]] = {}
    for check, entries in checks.items():
        if not isinstance(entries, list):
            raise FrameworkDataError(f"{where}: checks[{check!r}] must be a list")
        links = []
        for entry in entries:
            at = f"{where}: checks[{check!r}]"
            if not isinstance(entry, dict):
                raise FrameworkDataError(f"{at} holds a non-object")
            name = entry.get("requirement")
            requirement = requirements.get(name) if isinstance(name, str) else None
            if requirement is None:
                raise FrameworkDataError(f"{at} names {entry.get('requirement')!r}, which no catalogue lists")
            coverage = entry.get("coverage", "full")
            if coverage not in COVERAGES:
                raise FrameworkDataError(f"{at} {requirement.id}: coverage must be one of {COVERAGES}")
            note = entry.get("note")
            attributable = entry.get("attributable", True)
            if not isinstance(attributable, bool) or (note is not None and not isinstance(note, str)):
                raise FrameworkDataError(f"{at} {requirement.id}: attributable must be true/false and note a string")
            links.append(Link(check=check, requirement=requirement, coverage=coverage, note=note,
                              attributable=attributable))
        out[check] = tuple(links)
    return out


@functools.cache
def catalog() -> Catalog:
    """Every catalogue and the mapping, read once per process."""
    frameworks = {key: _framework(key, name) for key, name in FRAMEWORK_FILES.items()}
    requirements: dict[str, Requirement] = {}
    for framework in frameworks.values():
        for requirement in framework.requirements:
            if requirement.id in requirements:
                raise FrameworkDataError(f"requirement {requirement.id} is listed twice")
            requirements[requirement.id] = requirement
    links = _links(requirements)
    table: dict[str, list[Link]] = {}
    for entries in links.values():
        for link in entries:
            table.setdefault(link.requirement.id, []).append(link)
    return Catalog(frameworks=frameworks, requirements=requirements, links=links,
                   by_requirement={k: tuple(v) for k, v in table.items()})


def requirements_of(check_id: str) -> tuple[Link, ...]:
    """The framework requirements ``check_id`` tests (empty for a check no framework requirement maps to)."""
    return catalog().links.get(check_id, ())


def markers_of(check_id: str) -> tuple[str, ...]:
    """The framework markers (``rfc9700``, ``asvs``, ``fapi2``) a check carries, in catalogue order."""
    frameworks = catalog().frameworks
    keys = {link.requirement.framework for link in requirements_of(check_id)}
    return tuple(f.marker for k, f in frameworks.items() if k in keys)


def _state(links: Iterable[Link], by_check: Mapping[str, list[Mapping[str, Any]]]) -> tuple[str, str | None, list[str]]:
    """(state, evidence coverage, deciding results) of one requirement from the results of its checks."""
    counted: list[tuple[Link, Mapping[str, Any]]] = [
        (link, result) for link in links for result in by_check.get(link.check, ()) if result["status"] != "skipped"]

    def named(pairs: Iterable[tuple[Link, Mapping[str, Any]]]) -> list[str]:
        return sorted({f"{link.check}@{result.get('target') or ''}" for link, result in pairs})

    for status, state in (("failed", "failed"), ("waived", "accepted")):
        hits = [(k, r) for k, r in counted if r["status"] == status and k.attributable]
        if hits:
            return state, None, named(hits)
    undecided = [(k, r) for k, r in counted if r["status"] == "error"
                 or (r["status"] in ("failed", "waived") and not k.attributable)]
    if undecided:
        return "not evaluated", None, named(undecided)
    passed = [(k, r) for k, r in counted if r["status"] == "passed"]
    if passed:
        return "passed", "full" if any(k.coverage == "full" for k, _ in passed) else "partial", named(passed)
    return "not run", None, []


def coverage(results: Iterable[Mapping[str, Any]], shipped: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per framework: each requirement's state in this run, and the counts an auditor asks for.

    ``results`` are the run's result dicts (``check``, ``status``, ``target``); ``shipped`` the check ids that
    exist (the caller reads them from the registry, which imports this module). A requirement no shipped check
    maps to is *not covered*, listed
    so the gap is visible; a covered one is *failed*, *accepted* (failed and waived), *not evaluated* (a check
    of it could not decide), *passed* (every check of it that ran passed, ``evidence`` full or partial) or
    *not run* (its checks were skipped or did not run). *checked* counts the requirements with a verdict.
    """
    results = list(results)
    existing = set(shipped) | {r["check"] for r in results}
    by_check: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        by_check.setdefault(result["check"], []).append(result)
    data = catalog()
    out: dict[str, dict[str, Any]] = {}
    for key, framework in data.frameworks.items():
        rows = []
        for requirement in framework.requirements:
            links = [link for link in data.links_to(requirement.id) if link.check in existing]
            if links:
                state, evidence, deciding = _state(links, by_check)
            else:
                state, evidence, deciding = "not covered", None, []
            row = {**requirement.to_dict(), "state": state,
                   "checks": [{"check": k.check, "coverage": k.coverage, "attributable": k.attributable,
                               **({"note": k.note} if k.note else {})} for k in links]}
            if evidence is not None:
                row["evidence"] = evidence
            if deciding:
                row["deciding"] = deciding[:DECIDING_LIMIT]
                if len(deciding) > DECIDING_LIMIT:
                    row["deciding_total"] = len(deciding)
            rows.append(row)
        by_state = {state: [r["id"] for r in rows if r["state"] == state] for state in STATES}
        out[key] = {
            "framework": key, "name": framework.name, "version": framework.version, "url": framework.url,
            "total": len(rows),
            "covered": len(rows) - len(by_state["not covered"]),
            "checked": len(by_state["passed"]) + len(by_state["failed"]) + len(by_state["accepted"]),
            "counts": {state: len(ids) for state, ids in by_state.items()},
            "failed": by_state["failed"], "accepted": by_state["accepted"],
            "not_evaluated": by_state["not evaluated"], "passed": by_state["passed"], "not_run": by_state["not run"],
            "not_covered": [{k: r[k] for k in ("id", "title", "level", "url")} for r in rows if r["state"] == "not covered"],
            "requirements": rows,
        }
    return out
