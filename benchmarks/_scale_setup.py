"""The scale benchmark's world: N generated clients at the test IdP and a policy that declares them all.

The mix is issue 12's: 80% confidential client_credentials services, 20% public native apps with a loopback
redirect URI. Every service has its own secret, handed to pytest and to the floor script through one
environment variable each (the policy says ``${SVC_0001_SECRET}``), as a real team would keep them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_SCOPES = ["deploy", "read"]
APP_SCOPES = ["openid", "profile", "email"]
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"
APP_GRANTS = ["authorization_code", "refresh_token"]


@dataclass(frozen=True)
class Client:
    """One generated client: what the IdP registers and the policy declares."""

    name: str
    client_id: str
    confidential: bool
    secret_env: str | None = None
    redirect_uris: tuple[str, ...] = ()

    @property
    def scopes(self) -> list[str]:
        return SERVICE_SCOPES if self.confidential else APP_SCOPES

    @property
    def grant_types(self) -> list[str]:
        return ["client_credentials"] if self.confidential else APP_GRANTS


@dataclass
class Fleet:
    """N clients and the secrets of the confidential ones (env var name -> value)."""

    clients: list[Client]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> list[Client]:
        return [c for c in self.clients if c.confidential]

    @property
    def apps(self) -> list[Client]:
        return [c for c in self.clients if not c.confidential]

    def by_id(self) -> dict[str, Client]:
        return {c.client_id: c for c in self.clients}


def make_fleet(n: int, public_share: float = 0.2) -> Fleet:
    """``n`` clients: the first ``n - round(n * public_share)`` services, then the native apps."""
    apps = round(n * public_share)
    width = max(4, len(str(n)))
    fleet = Fleet(clients=[])
    for i in range(1, n - apps + 1):
        env = f"SVC_{i:0{width}d}_SECRET"
        fleet.env[env] = "svc_" + secrets.token_urlsafe(30)
        fleet.clients.append(Client(name=f"svc-{i:0{width}d}", client_id=f"svc-{i:0{width}d}", confidential=True,
                                    secret_env=env))
    for i in range(1, apps + 1):
        fleet.clients.append(Client(name=f"app-{i:0{width}d}", client_id=f"app-{i:0{width}d}", confidential=False,
                                    redirect_uris=(LOOPBACK_REDIRECT,)))
    return fleet


def idp_clients(fleet: Fleet) -> list[dict]:
    """oidc-provider client metadata for the fleet (tests/idp/server.js ``clients``)."""
    out: list[dict] = []
    for c in fleet.clients:
        if c.confidential:
            assert c.secret_env is not None
            out.append({"client_id": c.client_id, "client_secret": fleet.env[c.secret_env],
                        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
                        "token_endpoint_auth_method": "client_secret_basic", "scope": " ".join(SERVICE_SCOPES)})
        else:
            out.append({"client_id": c.client_id, "application_type": "native", "grant_types": APP_GRANTS,
                        "response_types": ["code"], "redirect_uris": list(c.redirect_uris),
                        "token_endpoint_auth_method": "none", "scope": " ".join([*APP_SCOPES, "offline_access"])})
    return out


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def policy_text(fleet: Fleet, *, issuer: str, ca_bundle: Path, reports: Path, timeout: str = "10s",
                concurrency: int | None = None) -> str:
    """authcheck.toml declaring the provider and every client of the fleet (secrets as ``${VAR}``)."""
    lines = [
        "[settings]",
        f'ca_bundle = "{ca_bundle}"',
        f'timeout = "{timeout}"',
        f'reports = "{reports}"',
        *([f"concurrency = {concurrency}"] if concurrency else []),
        "",
        "[providers.sso]",
        'kind = "oidc"',
        f'issuer = "{issuer}"',
        'signing_algs = ["RS256", "ES256"]',
        "",
    ]
    for c in fleet.clients:
        lines += [f"[clients.{c.name}]", 'provider = "sso"', f'client_id = "{c.client_id}"']
        if c.confidential:
            lines += [f'client_secret = "${{{c.secret_env}}}"', 'type = "confidential"', 'application = "service"']
        else:
            lines += ['type = "public"', 'application = "native"', f"redirect_uris = {_toml_list(c.redirect_uris)}",
                      'pkce = "S256"']
        lines += [f"grant_types = {_toml_list(c.grant_types)}", f"scopes = {_toml_list(c.scopes)}", ""]
    return "\n".join(lines)
