"""A test double of the Enclii PaaS resource API, served over HTTPS, with switchable defects.

    with ResourceApi(ApiConfig(issuer=..., jwks_url=..., audience=..., ca_pem=ca,
                               role_of={"ci-viewer": "viewer", "deployer": "developer",
                                        "read-key-value": {"scopes": ["read"]}},
                               defects={"skip-exp"}),
                     cert_pem, key_pem) as api:
        httpx.get(api.url + "/v1/users/me", headers={"Authorization": "Bearer ..."}, verify=ca_ctx)

See ``app.py`` for the rules and ``DEFECTS`` for the switches.
"""

from __future__ import annotations

from pathlib import Path

from .app import (
    ALLOWED_ALGS,
    DEFECTS,
    ROLES,
    ApiConfig,
    ApiState,
    InvalidToken,
    ResourceApp,
    TokenVerifier,
)
from .server import ThreadedHttpsServer

__all__ = [
    "ALLOWED_ALGS",
    "DEFECTS",
    "ROLES",
    "ApiConfig",
    "ApiState",
    "InvalidToken",
    "ResourceApi",
    "ResourceApp",
    "ThreadedHttpsServer",
    "TokenVerifier",
]


class ResourceApi:
    """The resource API on https://127.0.0.1:<ephemeral port>; a context manager. ``url`` has no trailing slash."""

    def __init__(self, config: ApiConfig, cert_pem: Path | str, key_pem: Path | str):
        self.config = config
        self.app = ResourceApp(config)
        self._server = ThreadedHttpsServer(self.app.asgi, cert_pem, key_pem)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def state(self) -> ApiState:
        """Deployments and deletions the API actually performed."""
        return self.app.state

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was fetched from ``jwks_url``."""
        return self.app.verifier.jwks.fetches

    def start(self) -> "ResourceApi":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "ResourceApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
