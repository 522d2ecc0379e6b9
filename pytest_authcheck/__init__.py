"""pytest-authcheck: audit OIDC providers, OAuth clients, privileges and APIs against a policy.

The public surface for teams writing their own checks: the ``check`` decorator, the ``CheckRecord`` a
check fills with evidence, ``Secret`` for credentials, and the exceptions. Fixtures are documented in
``pytest --fixtures`` and the README.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._checks import Check, check  # noqa: E402
from ._errors import AuthcheckError, EvaluationError, PolicyError, ResponseError, TransportError  # noqa: E402
from ._record import CheckFailed, CheckRecord  # noqa: E402
from ._redact import Secret  # noqa: E402

__all__ = ["AuthcheckError", "Check", "CheckFailed", "CheckRecord", "EvaluationError", "PolicyError",
           "ResponseError", "Secret", "TransportError", "__version__", "check"]
