"""A policy client as the client suites see it, and how it authenticates at the token endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._duration import parse_duration
from ._redact import Secret

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
DEFAULT_ACCESS_TOKEN_MAX = 3600.0  # RFC 6750 §5.3 recommends short-lived bearer tokens; one hour is the usual bound


@dataclass(frozen=True)
class PolicyClient:
    """One ``[clients.NAME]`` entry with its defaults filled in."""

    name: str
    provider: str
    client_id: str
    secret: Secret | None
    type: str
    application: str | None
    state: str
    auth_method: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    pkce: str | None
    refresh_token_rotation: bool | None
    config: Mapping[str, Any]

    @classmethod
    def from_policy(cls, name: str, config: Mapping[str, Any]) -> PolicyClient:
        """Read a client table; a client with a secret defaults to confidential and client_secret_basic."""
        secret = config.get("client_secret")
        secret = secret if isinstance(secret, Secret) and secret else None
        kind = config.get("type") or ("confidential" if secret else "public")
        method = config.get("token_endpoint_auth_method") or ("client_secret_basic" if kind == "confidential" else "none")
        grants = tuple(config.get("grant_types") or ("authorization_code",))
        responses = tuple(config.get("response_types") or (("code",) if "authorization_code" in grants else ()))
        return cls(name=name, provider=config["provider"], client_id=config["client_id"], secret=secret, type=kind,
                   application=config.get("application"), state=config.get("state", "active"), auth_method=method,
                   grant_types=grants, response_types=responses,
                   redirect_uris=tuple(config.get("redirect_uris") or ()), scopes=tuple(config.get("scopes") or ()),
                   pkce=config.get("pkce"), refresh_token_rotation=config.get("refresh_token_rotation"), config=config)

    @property
    def target(self) -> str:
        """``clients.NAME``."""
        return f"clients.{self.name}"

    @property
    def label(self) -> str:
        """``clients.cli (enclii-cli)`` for messages."""
        return f"clients.{self.name} ({self.client_id})"

    @property
    def active(self) -> bool:
        """False for ``state = "removed"`` or ``"disabled"``."""
        return self.state == "active"

    @property
    def public(self) -> bool:
        """A public client (no secret, RFC 6749 §2.1)."""
        return self.type == "public"

    @property
    def native(self) -> bool:
        """A native app (RFC 8252)."""
        return self.application == "native"

    def declares(self, grant: str) -> bool:
        """Whether the policy lists ``grant`` for this client."""
        return grant in self.grant_types

    @property
    def requires_pkce(self) -> bool:
        """Public clients always (RFC 9700 §2.1.1), others when the policy says ``pkce = "S256"``."""
        return self.pkce == "S256" or (self.public and self.pkce != "none")

    @property
    def uses_login(self) -> bool:
        """Whether tokens for this client come from an end-user login (authorization code)."""
        return self.declares("authorization_code") and bool(self.redirect_uris)

    def scope_request(self) -> str:
        """The scopes to ask for: everything the policy declares."""
        return " ".join(self.scopes)

    def duration(self, key: str, provider: Mapping[str, Any] | None = None) -> float | None:
        """A duration key of the client, else of its provider, in seconds (None when neither declares it)."""
        value = self.config.get(key)
        if value is None and provider is not None:
            value = provider.get(key)
        return parse_duration(value) if value is not None else None

    def credentials(self, form: dict[str, Any], *, secret: Secret | str | None = None,
                    method: str | None = None) -> tuple[dict[str, Any], tuple[str, Secret | str] | None]:
        """``form`` with this client's authentication added (RFC 6749 §2.3.1), and the Basic pair if any.

        ``secret`` replaces the policy's secret (wrong-secret probes); ``method`` the declared method.
        """
        method = method or self.auth_method
        secret = secret if secret is not None else self.secret
        form = dict(form)
        if method == "client_secret_basic" and secret is not None:
            return form, (self.client_id, secret)
        form["client_id"] = self.client_id
        if method == "client_secret_post" and secret is not None:
            form["client_secret"] = secret
        return form, None
