"""Probes: the requests the client suites need, each distinct one sent once per run and shared by every check.

``TokenProbes`` sends token endpoint requests (the client's declared authentication, a wrong secret, an unknown
client, other methods, undeclared grants ...); ``AuthorizationProbes`` sends authorization requests before a
login, and signed in as the provider's test user where a pre-login answer cannot tell. Both return
observations (``pytest_authcheck.observations``); the suites compare them.
"""

from .authorization import ORDINARY, AuthorizationProbes, Variation
from .token import TokenProbe, TokenProbes

__all__ = ["ORDINARY", "AuthorizationProbes", "TokenProbe", "TokenProbes", "Variation"]
