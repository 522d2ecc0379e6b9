"""Fetch once per run under pytest-xdist: a folder the workers share, guarded by file locks.

The controller creates the folder and hands its path to the workers. The first worker that needs a
provider document or TLS facts fetches them and writes them there; the others wait on the lock and read
them. Only public material is stored (metadata, key sets, certificates); tokens stay in the worker that
requested them. Without xdist there is no folder and everything is computed in-process.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import _errors
from ._answer_headers import AnswerHeaders
from ._documents import Document
from ._http import Exchange, Response
from ._tls import Certificate, TlsFacts

T = TypeVar("T")


class SharedStore:
    """Computes a value once across all xdist workers of a run (or just computes it without a folder)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def once(self, key: str, compute: Callable[[], T], dump: Callable[[T], dict[str, Any]],
             load: Callable[[dict[str, Any]], T]) -> T:
        """The value for ``key``: read from the folder if a worker made it, else computed and written."""
        if self.directory is None:
            return compute()
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        path = self.directory / f"{name}.json"
        with open(self.directory / f"{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return load(json.loads(path.read_text("utf-8")))
            value = compute()
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(dump(value)), "utf-8")
            os.replace(temporary, path)
            return value


def dump_document(document: Document) -> dict[str, Any]:
    """A JSON form of a fetched document (public material only)."""
    out: dict[str, Any] = {"name": document.name, "url": document.url}
    if document.response is not None:
        r = document.response
        out["response"] = {"status": r.status, "headers": r.headers.multi_items(), "url": r.url,
                           "content": base64.b64encode(r.content).decode(), "exchange": r.exchange.to_dict(),
                           "tls_version": r.tls_version, "received_at": r.received_at}
    if document.error is not None:
        exchange = getattr(document.error, "exchange", None)
        out["error"] = {"type": type(document.error).__name__, "message": str(document.error),
                        "exchange": exchange.to_dict() if exchange is not None else None}
    return out


def load_document(data: dict[str, Any]) -> Document:
    """The inverse of ``dump_document``."""
    document = Document(name=data["name"], url=data["url"])
    if "response" in data:
        r = data["response"]
        document.response = Response(status=r["status"], headers=AnswerHeaders(r["headers"]),
                                     content=base64.b64decode(r["content"]), url=r["url"],
                                     exchange=Exchange(**r["exchange"]), tls_version=r["tls_version"],
                                     received_at=r["received_at"])
    if "error" in data:
        e = data["error"]
        error_type = getattr(_errors, e["type"], _errors.EvaluationError)
        error = error_type(e["message"])
        if e["exchange"] is not None:
            error.exchange = Exchange(**e["exchange"])  # type: ignore[union-attr]
        document.error = error
    return document


def dump_tls(facts: TlsFacts) -> dict[str, Any]:
    """A JSON form of TLS facts."""
    return facts.to_dict()


def load_tls(data: dict[str, Any]) -> TlsFacts:
    """The inverse of ``dump_tls``."""
    certificate = data.pop("certificate", None)
    facts = TlsFacts(**data)
    facts.certificate = Certificate(**certificate) if certificate else None
    return facts
