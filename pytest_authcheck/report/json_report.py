"""``authcheck.json``: the run, its policy, its targets, every result and the evidence behind it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from .._run import AuthcheckRun
from ..results.stored import exchange_ids
from .summary import ci_facts, counts, tool_facts, verdict
from .text import json_text, write_json

# 1.1 added the gate, waivers, baseline comparison, threat roll-up and requirement-level rates (additive).
# 1.2 added causes (the gate counts one finding per cause; each failed or unevaluated result names its cause),
# framework coverage, and the title on every result (additive; gate.blocking now counts causes).
SCHEMA_VERSION = "1.2"
FILENAME = "authcheck.json"
# Result members that repeat the check's definition; they live once in the "checks" table (the title stays on
# each result too, so a result read alone says what was checked).
_CHECK_MEMBERS = ("area", "level", "refs", "remediation")


def targets(run: AuthcheckRun) -> list[dict[str, Any]]:
    """The systems the policy names, with the address each is reached at."""
    out = []
    for name, provider in run.policy.section("providers").items():
        address = provider.get("issuer") or provider.get("url")
        out.append({"id": f"providers.{name}", "kind": provider.get("kind"), "address": run.redactor.text(str(address))})
    for name, api in run.policy.section("apis").items():
        out.append({"id": f"apis.{name}", "kind": "api", "address": run.redactor.text(str(api.get("base_url")))})
    return out


class _Rows(Sequence[dict[str, Any]]):
    """The results without their check's members, each made as it is written (all at once they were the largest
    thing a run holds while it writes its reports)."""

    def __init__(self, results: Sequence[Mapping[str, Any]]) -> None:
        self._results = results

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row(r) for r in self._results[index]]
        return self._row(self._results[index])

    @staticmethod
    def _row(result: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in result.items() if k not in _CHECK_MEMBERS}

    def __len__(self) -> int:
        return len(self._results)


class _Referenced(Mapping[str, Any]):
    """The exchanges results name, in the store's order, each read from the store as it is written."""

    def __init__(self, store: Mapping[str, Any], results: Iterable[Mapping[str, Any]]) -> None:
        self._store = store
        # The exchanges named are marked one byte each, by arrival order (a set of their ids was the largest thing
        # the JSON report held at ten thousand clients); a mapping that does not tell its order is counted here.
        self._order: Callable[[str], int | None] = getattr(store, "order", None) or \
            {exchange_id: i for i, exchange_id in enumerate(store)}.get
        self._marks = bytearray(len(store))
        for result in results:
            for exchange_id in exchange_ids(result):
                position = self._order(exchange_id)
                if position is not None:
                    self._marks[position] = 1
        self._ids = [exchange_id for exchange_id, marked in zip(store, self._marks, strict=True) if marked]

    def __getitem__(self, exchange_id: str) -> Any:
        position = self._order(exchange_id)
        if position is None or not self._marks[position]:
            raise KeyError(exchange_id)
        return self._store[exchange_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def encoded_items(self) -> Iterator[tuple[str, str]]:
        """Each exchange's id and compact JSON: the store's text where it keeps one (``text.Encoded``)."""
        text: Callable[[str], str] | None = getattr(self._store, "text", None)
        for exchange_id in self._ids:
            # a mapping that keeps no text is encoded as write_json encodes any other member
            yield exchange_id, text(exchange_id) if text is not None else json_text(self._store[exchange_id],
                                                                                  separators=(",", ":"))


def document(run: AuthcheckRun) -> dict[str, Any]:
    """The whole report as a JSON-able dict."""
    checks: dict[str, dict[str, Any]] = {}
    for result in run.results:
        if result["check"] not in checks:
            checks[result["check"]] = {"id": result["check"], "severity": result["severity"], "title": result["title"],
                                       **{k: result[k] for k in _CHECK_MEMBERS}}
    summary = counts(run.results)
    outcome = run.outcome or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": tool_facts(),
        "run": {
            "id": run.run_id,
            "started": run.started.isoformat(timespec="seconds"),
            "finished": run.finished.isoformat(timespec="seconds") if run.finished else None,
            "duration_seconds": run.duration,
            "command": run.argv,
            "exit_status": run.exit_status,
            "ci": ci_facts(),
        },
        "policy": {"path": str(run.policy.path), "sha256": run.policy.sha256},
        "targets": targets(run),
        "summary": {**summary, "verdict": verdict(summary, outcome)},
        "gate": outcome.get("gate"),
        "causes": outcome.get("causes", []),
        "waivers": outcome.get("waivers", {"applied": [], "expired": [], "stale": []}),
        "baseline": outcome.get("baseline"),
        "threats": outcome.get("threats", []),
        "levels": outcome.get("levels", {}),
        "frameworks": outcome.get("frameworks", {}),
        "checks": dict(sorted(checks.items())),
        "results": _Rows(run.results),
        "exchanges": _Referenced(run.exchanges, run.results),
    }


def write(run: AuthcheckRun) -> Path:
    """Write ``authcheck.json`` atomically into the run's report folder."""
    reports_dir = Path(run.reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / FILENAME
    temporary = path.with_suffix(".json.tmp")
    # In batches of dumps() calls: the C encoder is many times faster than json.dump's chunked writes, and the
    # whole text never sits in memory.
    with temporary.open("w", encoding="utf-8") as handle:
        write_json(handle, document(run))
    os.replace(temporary, path)
    return path
