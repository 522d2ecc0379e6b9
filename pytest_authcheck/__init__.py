"""pytest-authcheck: audit OIDC providers, OAuth clients, privileges and APIs against a policy.

The public surface for teams writing their own checks (docs/writing-checks.md): the ``check`` decorator, the
``CheckRecord`` a check fills with evidence, the matchers an expectation states (``AtMost``, ``AtLeast``,
``OneOf``, ``Satisfies``, ``Quantity``), ``Secret`` for credentials, ``NotEvaluated`` for answers that cannot
tell, and the exceptions. Fixtures are documented in ``pytest --authcheck --fixtures``.

Names are imported on first use, so a pytest run without ``--authcheck`` does not pay for httpx,
cryptography and jsonschema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AuthcheckError": "._errors", "EvaluationError": "._errors", "PolicyError": "._errors",
    "ResponseError": "._errors", "TransportError": "._errors",
    "Check": "._checks", "check": "._checks",
    "CheckFailed": "._record", "CheckRecord": "._record",
    "Secret": "._redact",
    "NotEvaluated": ".observations.answers",
    "AtLeast": "._expect", "AtMost": "._expect", "OneOf": "._expect", "Quantity": "._expect", "Satisfies": "._expect",
}
__all__ = ["AtLeast", "AtMost", "AuthcheckError", "Check", "CheckFailed", "CheckRecord", "EvaluationError",
           "NotEvaluated", "OneOf", "PolicyError", "Quantity", "ResponseError", "Satisfies", "Secret", "TransportError",
           "__version__", "check"]

if TYPE_CHECKING:
    from ._checks import Check, check
    from ._errors import AuthcheckError, EvaluationError, PolicyError, ResponseError, TransportError
    from ._expect import AtLeast, AtMost, OneOf, Quantity, Satisfies
    from ._record import CheckFailed, CheckRecord
    from ._redact import Secret
    from .observations.answers import NotEvaluated


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_authcheck' has no attribute {name!r}")
    # Not cached in globals(): the submodule in sys.modules stays the one source (pytester's in-process
    # runs drop and re-import submodules between sessions).
    return getattr(importlib.import_module(module, __name__), name)
