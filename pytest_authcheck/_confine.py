"""Where credentials may travel: only to the issuer's origin, its ``allowed_hosts`` and the policy's APIs.

A spoofed or compromised discovery document must not turn the audit into an exfiltration tool, so the HTTP
layer asks ``Confinement.check`` before it sends a byte. A request carries credentials when it has Basic
authentication, an ``Authorization`` or ``Cookie`` header, a ``Secret`` anywhere, a value the run knows as a
credential, or a form or query member that holds one by name (client_secret, password, code, tokens, ...).
Each credential may go only to the destinations of its scope:

- a policy secret to the provider it belongs to (``clients.X`` to ``X.provider``, ``users.U`` to
  ``U.provider``, ``providers.P`` to ``P``) or to the API that holds it (``apis.A.principals``);
- a token or code the run received to the provider that issued it and to the APIs the policy declares;
- anything else (a made-up probe value, a session cookie) to any destination the policy declares.

A provider's destinations are the issuer's (or Jamf URL's) origin and its ``allowed_hosts`` over https
(plain http only where the provider allows a loopback issuer); an API's are its ``base_url``'s origin.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import CredentialsWithheld
from ._interned import KeptOnce
from ._jamf.url import JamfUrlError, lint_url
from ._net import is_loopback, origin, policy_hosts, url_host
from ._redact import Secret, fingerprint, reveal

# Form and query members whose value is a credential whatever it is.
CREDENTIAL_FIELDS = frozenset({
    "client_secret", "password", "assertion", "client_assertion", "code", "code_verifier", "refresh_token",
    "access_token", "id_token", "id_token_hint", "token", "subject_token", "actor_token", "device_code",
    "registration_access_token",
})
ANYWHERE_DECLARED = "*"
# Most values the run knows belong to one scope, the same for all of a provider's tokens: each set is kept once.
_SCOPE_SETS = KeptOnce[frozenset[str]](10_000)


@dataclass(frozen=True)
class Destinations:
    """The origins one scope's credentials may be sent to."""

    scope: str
    origins: frozenset[str]
    hosts: frozenset[str] = frozenset()
    http_loopback: bool = False

    def allows(self, url: str) -> bool:
        """Whether ``url`` is one of these destinations."""
        if origin(url) in self.origins:
            return True
        host = url_host(url)
        if host not in self.hosts:
            return False
        scheme = urllib.parse.urlsplit(url).scheme
        return scheme == "https" or (scheme == "http" and self.http_loopback and is_loopback(host))

    def describe(self) -> str:
        """``https://idp:443, allowed_hosts login.example.com``."""
        text = ", ".join(sorted(self.origins)) or "no origin"
        return text + (f" and allowed_hosts {', '.join(sorted(self.hosts))}" if self.hosts else "")


class Confinement:
    """The scopes of a policy and the scope of every credential value the run knows."""

    def __init__(self, scopes: Mapping[str, Destinations], secrets: Iterable[Secret] = (),
                 owners: Mapping[str, str] | None = None) -> None:
        self._scopes = dict(scopes)
        self._apis = [d for name, d in self._scopes.items() if name.startswith("apis.")]
        everywhere = Destinations(ANYWHERE_DECLARED, frozenset().union(*(d.origins for d in self._scopes.values())),
                                  frozenset().union(*(d.hosts for d in self._scopes.values())),
                                  any(d.http_loopback for d in self._scopes.values()))
        self._scopes[ANYWHERE_DECLARED] = everywhere
        self._owners = dict(owners or {})
        # One value may belong to several scopes (the same secret registered at two providers): any of them. Values
        # are known by their fingerprint: the run receives thousands of tokens, and the redactor holds none either.
        self._scopes_of: dict[bytes, frozenset[str]] = {}
        for secret in secrets:
            self._belongs(secret.reveal(), self.scope_of_label(secret.label))

    @classmethod
    def from_policy(cls, policy: Any) -> Confinement:
        """Scopes for every provider and API the policy declares."""
        scopes: dict[str, Destinations] = {}
        for name, config in policy.section("providers").items():
            address = _provider_address(config)
            if address is None:
                continue
            http_loopback = bool(config.get("allow_http_loopback"))
            origins = {origin(address)}
            if http_loopback and is_loopback(url_host(address)):
                # the policy tolerates plain http on the issuer's own loopback host and port
                origins.add(origin(address.replace("https://", "http://", 1)))
            # the same hosts Provider.trusted_hosts names (the issuer's own host goes by its origin here)
            hosts = policy_hosts(config.get("allowed_hosts", []))
            scopes[f"providers.{name}"] = Destinations(f"providers.{name}", frozenset(origins), hosts, http_loopback)
        for name, config in policy.section("apis").items():
            address = config.get("base_url")
            if isinstance(address, str):
                scopes[f"apis.{name}"] = Destinations(f"apis.{name}", frozenset({origin(address)}))
        owners = {f"{section}.{name}": f"providers.{config.get('provider')}"
                  for section in ("clients", "users") for name, config in policy.section(section).items()}
        return cls(scopes, policy.secrets, owners)

    def scope_of_label(self, label: str) -> str:
        """The scope of a policy secret from where it is written (``clients.cli.client_secret``)."""
        parts = label.split(".")
        head = ".".join(parts[:2])
        if head in self._scopes:
            return head
        owner = self._owners.get(head)
        return owner if owner in self._scopes else ANYWHERE_DECLARED

    def learn(self, values: Iterable[str], received_from: str) -> None:
        """Tokens and codes received from ``received_from`` belong to the provider serving that URL."""
        providers = [d.scope for d in self._scopes.values()
                     if d.scope.startswith("providers.") and d.allows(received_from)]
        scope = f"issued:{providers[0]}" if len(providers) == 1 else ANYWHERE_DECLARED
        for value in values:
            self._belongs(value, scope)

    def _belongs(self, value: str, scope: str) -> None:
        key = fingerprint(value)
        self._scopes_of[key] = _SCOPE_SETS(self._scopes_of.get(key, frozenset()) | {scope})

    def _known(self, value: str) -> bool:
        return fingerprint(value) in self._scopes_of

    def check(self, method: str, url: str, *, headers: Mapping[str, Any] | None = None,
              data: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
              json_body: Any = None, basic_password: Any = None) -> None:
        """Raise ``CredentialsWithheld`` when the request carries a credential ``url`` may not receive."""
        for what, value in self._credentials(headers, data, params, json_body, basic_password):
            scopes = sorted(self._scopes_of.get(fingerprint(value), {ANYWHERE_DECLARED}))
            if any(self._allowed(scope, url) for scope in scopes):
                continue
            where = origin(url) or url[:200]
            owners = " or ".join(_owner_text(scope.removeprefix("issued:")) for scope in scopes)
            destinations = "; ".join(self._destinations_text(scope) for scope in scopes)
            raise CredentialsWithheld(
                f"{method} {where} was not sent: it would carry {what} of {owners} to an origin that is not "
                f"theirs ({destinations}); list the host in the provider's allowed_hosts if it really serves it")

    def _allowed(self, scope: str, url: str) -> bool:
        if scope.startswith("issued:"):
            provider = self._scopes.get(scope.removeprefix("issued:"))
            return (provider is not None and provider.allows(url)) or any(api.allows(url) for api in self._apis)
        return self._scopes.get(scope, self._scopes[ANYWHERE_DECLARED]).allows(url)

    def _destinations_text(self, scope: str) -> str:
        if scope.startswith("issued:"):
            provider = self._scopes[scope.removeprefix("issued:")]
            return provider.describe() + (" nor a declared API" if self._apis else "")
        return self._scopes.get(scope, self._scopes[ANYWHERE_DECLARED]).describe()

    def _credentials(self, headers: Mapping[str, Any] | None, data: Mapping[str, Any] | None,
                     params: Mapping[str, Any] | None, json_body: Any,
                     basic_password: Any) -> Iterable[tuple[str, str]]:
        if basic_password is not None:
            yield "HTTP Basic credentials", str(reveal(basic_password))
        for name, value in (headers or {}).items():
            if value is None:
                continue
            plain = str(reveal(value))
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                yield f"an {name} header", plain.split(" ", 1)[-1]
            elif lower == "cookie":
                yield "cookies", plain
            elif isinstance(value, Secret) or self._known(plain):
                yield f"the {name} header", plain
        for kind, members in (("form", data), ("query", params)):
            for name, value in (members or {}).items():
                if value is None:
                    continue
                plain = str(reveal(value))
                if isinstance(value, Secret) or name.lower() in CREDENTIAL_FIELDS or self._known(plain):
                    yield f"the {kind} member {name}", plain
        # A JSON body (a login step's API) is read to its leaves: a credential may sit in a nested object.
        for path, value in _leaves(json_body, ()):
            plain = str(reveal(value))
            if isinstance(value, Secret) or (path and path[-1].lower() in CREDENTIAL_FIELDS) or self._known(plain):
                yield f"the JSON member {'.'.join(path) or '(body)'}", plain


def _leaves(value: Any, path: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, member in value.items():
            yield from _leaves(member, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, member in enumerate(value):
            yield from _leaves(member, (*path, str(index)))
    elif value is not None:
        yield path, value


def _provider_address(config: Mapping[str, Any]) -> str | None:
    if isinstance(config.get("issuer"), str):
        return str(config["issuer"])
    if isinstance(config.get("url"), str):
        try:
            return lint_url(config["url"]).url
        except JamfUrlError:
            return None
    return None


def _owner_text(scope: str) -> str:
    return "this run" if scope == ANYWHERE_DECLARED else scope
