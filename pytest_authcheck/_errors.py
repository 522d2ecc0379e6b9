"""Exceptions of pytest-authcheck.

The tree::

    AuthcheckError                 base of everything the plugin raises on purpose
    ├── PolicyError                the policy file is missing, unreadable or invalid: stops the run
    │   └── PolicyErrors           every problem found in one pass over the policy, in file order
    ├── BaselineError              --authcheck-baseline names no readable authcheck.json: stops the run
    ├── CredentialsWithheld        a request would carry credentials to an undeclared origin: not sent,
    │                              and the check that needed it *fails* with this reason
    └── EvaluationError            a check could not be evaluated (an *error*, never a *failure*)
        ├── TransportError         connect / TLS / timeout / protocol failure on the way to a system
        └── ResponseError          the system answered, but not with something we can evaluate
            └── ResponseTooLarge   the body exceeded the size cap

A check that evaluated and found the system wrong raises ``CheckFailed`` (see ``_record``), which is a
pytest failure, not one of these.
"""

from __future__ import annotations


class AuthcheckError(Exception):
    """Base class of the plugin's own exceptions."""


class PolicyError(AuthcheckError):
    """The policy cannot be used. ``str()`` is one line: ``file:line: key.path: what is wrong``."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.detail = message
        where = path or "policy"
        if line:
            where = f"{where}:{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text)

    @property
    def lines(self) -> tuple[str, ...]:
        """One line per problem (here: one)."""
        return (str(self),)


class PolicyErrors(PolicyError):
    """Every problem of a policy found in one pass, so a user fixes them all in one go.

    ``errors`` are in file order; ``str()`` is one line per error. The first error's ``path``, ``line``,
    ``key`` and ``detail`` are this exception's, so code that expects one ``PolicyError`` still works.
    """

    def __init__(self, errors: list[PolicyError]) -> None:
        if not errors:
            raise ValueError("PolicyErrors needs at least one error")
        self.errors = tuple(errors)
        first = errors[0]
        self.path, self.line, self.key, self.detail = first.path, first.line, first.key, first.detail
        Exception.__init__(self, "\n".join(str(e) for e in errors))

    @property
    def lines(self) -> tuple[str, ...]:
        """One line per problem, in file order."""
        return tuple(str(e) for e in self.errors)


class BaselineError(AuthcheckError):
    """The baseline report given with ``--authcheck-baseline`` cannot be read as an authcheck.json."""


class CredentialsWithheld(AuthcheckError):
    """A request was not sent because it would carry credentials outside their declared destinations."""


class EvaluationError(AuthcheckError):
    """The check could not be evaluated; reported with status ``error`` and this message as cause."""


class TransportError(EvaluationError):
    """No usable HTTP answer: connection refused, DNS, TLS verification, timeout."""


class ResponseError(EvaluationError):
    """An answer arrived that cannot be evaluated (not JSON where JSON is required, ...)."""


class ResponseTooLarge(ResponseError):
    """The response body was larger than ``settings.max_response_bytes``."""
