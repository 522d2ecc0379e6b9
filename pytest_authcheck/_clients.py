"""A policy client as the client suites see it, and how it authenticates at the token endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._duration import parse_duration
from ._redact import Secret
from .policy.defaults import default, seconds

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
# Bounds a security team accepts when the policy is silent (RFC 6750 §5.3, RFC 9700 §4.14.2, OIDC Core §2):
DEFAULT_ACCESS_TOKEN_MAX = seconds("clients.*.access_token_max")
DEFAULT_ID_TOKEN_MAX = seconds("clients.*.id_token_max")
DEFAULT_REFRESH_TOKEN_MAX = seconds("clients.*.refresh_token_max")


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
        grants = tuple(config.get("grant_types") or default("clients.*.grant_types"))
        responses = tuple(config.get("response_types") or (("code",) if "authorization_code" in grants else ()))
        return cls(name=name, provider=config["provider"], client_id=config["client_id"], secret=secret, type=kind,
                   application=config.get("application"), state=config.get("state", default("clients.*.state")), auth_method=method,
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
    def mints_own_tokens(self) -> bool:
        """Whether the client can get tokens on its own: it declares ``client_credentials`` and has a secret."""
        return self.declares("client_credentials") and self.secret is not None

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


def token_clients(policy: Any, provider: str) -> list[str]:
    """The provider's active client_credentials clients with a secret, in policy order. Its own token checks
    (clock.token-iat, jwks.token-signature) read the first one's token; the xdist scheduler keeps them together."""
    state = default("clients.*.state")
    return [name for name, c in policy.clients_of(provider).items()
            if "client_credentials" in c.get("grant_types", []) and c.get("client_secret")
            and c.get("state", state) == "active"]


def applies_when(condition: Callable[[PolicyClient], bool], reason: str) -> Callable[[PolicyClient], str | None]:
    """A check's ``applies`` rule for clients: None when ``condition`` holds, else ``reason`` ("{target}" filled)."""

    def rule(client: PolicyClient) -> str | None:
        return None if condition(client) else reason.format(target=client.target, method=client.auth_method)

    return rule


def uses_secret(client: PolicyClient) -> bool:
    """Authenticates with a client secret it declares."""
    return client.auth_method in SECRET_METHODS and client.secret is not None


def has_code_flow(client: PolicyClient) -> bool:
    """Declares authorization_code with redirect URIs (authorization requests can be sent for it)."""
    return client.declares("authorization_code") and bool(client.redirect_uris)


def gets_tokens(client: PolicyClient) -> bool:
    """Can obtain a token: client credentials with a secret, or a login."""
    return client.mints_own_tokens or client.uses_login


CODE_FLOW = applies_when(has_code_flow, "{target} declares no authorization_code grant with redirect_uris")
LOGIN = applies_when(lambda c: c.uses_login, "{target} declares no authorization_code grant with redirect_uris")
SECRET = applies_when(uses_secret, "{target} does not authenticate with a client secret it declares ({method})")
TOKENS = applies_when(gets_tokens, "{target} declares neither client_credentials with a secret nor authorization_code "
                                   "with redirect_uris: no token to look at")
REDIRECTS = applies_when(lambda c: bool(c.redirect_uris), "{target} declares no redirect_uris")
LOGIN_OPENID = applies_when(lambda c: c.uses_login and "openid" in c.scopes,
                            "{target} does not log users in with the openid scope")
REFRESH_LOGIN = applies_when(lambda c: c.declares("refresh_token") and c.uses_login,
                             "{target} declares no refresh_token grant with an authorization_code login")
ROTATION = applies_when(lambda c: c.declares("refresh_token") and c.uses_login and c.refresh_token_rotation is True,
                        "{target} does not declare refresh_token_rotation = true with a refresh_token grant and a login")
PKCE_CODE_FLOW = applies_when(lambda c: c.requires_pkce and has_code_flow(c),
                              "{target} is confidential and the policy does not say pkce = \"S256\", or it has no "
                              "authorization_code grant with redirect_uris")
PUBLIC_LOGIN = applies_when(lambda c: c.public and c.uses_login, "{target} is not a public client with a login")
def logs_in(client: PolicyClient) -> bool:
    """A check of a login client's own flows signs in through it (as the provider's test user)."""
    return client.uses_login


def token_by_login(client: PolicyClient) -> bool:
    """The client's token comes from a login: it has no client-credentials grant with a secret to mint one."""
    return client.uses_login and not client.mints_own_tokens


CLIENT_CREDENTIALS = applies_when(lambda c: c.mints_own_tokens,
                                  "{target} declares no client_credentials grant with a secret, so no token can be "
                                  "minted for this check alone")
