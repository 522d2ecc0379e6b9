"""pytest-authcheck: audit OIDC providers, OAuth clients, privileges and APIs against a policy."""

from __future__ import annotations

__version__ = "0.1.0"
