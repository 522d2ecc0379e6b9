"""An OpenID Provider as the suites see it: its policy, and its documents fetched once per run."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from ._documents import Document
from ._errors import EvaluationError
from ._http import HttpClient
from ._net import url_host
from ._provider import Provider
from ._shared import SharedStore
from .policy.load import Settings

DISCOVERY_PATH = "/.well-known/openid-configuration"
RFC8414_SEGMENT = "/.well-known/oauth-authorization-server"
MAX_URL_LENGTH = 2048


def is_endpoint_member(name: str) -> bool:
    """Whether a metadata member names a URL clients are sent to (``*_endpoint`` and ``jwks_uri``)."""
    return name.endswith("_endpoint") or name == "jwks_uri"


class OidcProvider(Provider):
    """One ``[providers.NAME] kind = "oidc"``; documents and TLS facts are cached for the run."""

    url_label = "the issuer"

    def __init__(self, name: str, config: Mapping[str, Any], *, http: HttpClient, settings: Settings,
                 shared: SharedStore | None = None) -> None:
        super().__init__(name, config, url=config["issuer"], http=http, settings=settings, shared=shared)
        self.issuer: str = config["issuer"]
        self._metadata: dict[str, Any] | None = None
        self._rfc8414_endpoints: dict[str, str] | None = None

    # ---- policy views ---------------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        """OIDC Discovery §4: the issuer with ``/.well-known/openid-configuration`` appended."""
        return self.issuer.rstrip("/") + DISCOVERY_PATH

    @property
    def rfc8414_url(self) -> str:
        """RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path."""
        parts = urllib.parse.urlsplit(self.issuer)
        path = parts.path.rstrip("/")
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, RFC8414_SEGMENT + path, "", ""))

    def no_https_origin_reason(self) -> str:
        """Why no host the provider sends clients to is https."""
        return (self.no_tls_reason() or f"{self.issuer} has no https origin") \
            + ", and no endpoint on the issuer's host or allowed_hosts is https"

    # ---- documents --------------------------------------------------------------------------------
    def discovery(self) -> Document:
        """The OIDC discovery document (fetched on first use)."""
        return self._document("discovery document", self.discovery_url)

    def home(self) -> Document:
        """The discovery document: what every client of the provider fetches first."""
        return self.discovery()

    def metadata(self) -> dict[str, Any]:
        """The provider's metadata as clients use it, or ``EvaluationError`` when discovery cannot be had.

        The OpenID discovery document, completed with the endpoints that only the RFC 8414 document
        advertises (``rfc8414_endpoints``): a provider may list revocation or introspection there alone.
        """
        with self._fetching:
            if self._metadata is None:
                openid = self.discovery().json_object()
                extra = self.rfc8414_endpoints()
                self._metadata = {**openid, **extra} if extra else openid
            return self._metadata

    def rfc8414(self) -> Document:
        """The RFC 8414 authorization server metadata document."""
        return self._document("RFC 8414 metadata", self.rfc8414_url)

    def rfc8414_endpoints(self) -> dict[str, str]:
        """Endpoints the RFC 8414 document advertises and the OpenID discovery document does not.

        Empty when the RFC 8414 document cannot be had, or names another issuer (RFC 8414 §3.3: its
        metadata must then not be used). Fetched once per run, like every document.
        """
        if self._rfc8414_endpoints is None:
            openid = self.discovery().json_object()
            self._rfc8414_endpoints = {}
            document = self.rfc8414()
            if document.response is not None and document.response.status == 200:
                try:
                    other = document.json_object()
                except EvaluationError:
                    other = {}
                if other.get("issuer") == self.issuer:
                    self._rfc8414_endpoints = {
                        k: v for k, v in other.items()
                        if is_endpoint_member(k) and k not in openid and isinstance(v, str) and 0 < len(v) < MAX_URL_LENGTH}
        return self._rfc8414_endpoints

    def jwks(self) -> Document:
        """The JWK Set at the discovery document's ``jwks_uri``."""
        uri = self.metadata().get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise EvaluationError(f"the metadata of {self.issuer} has no jwks_uri")
        return self._document("JWK Set", uri)

    def endpoint(self, name: str) -> str:
        """A metadata endpoint URL (``token_endpoint`` ...), or ``EvaluationError`` if not advertised."""
        value = self.metadata().get(name)
        if not isinstance(value, str) or not value:
            raise EvaluationError(f"the metadata of {self.issuer} (OpenID discovery and RFC 8414) does not advertise {name}")
        return value

    def https_origins(self) -> list[str]:
        """One URL per https host:port among the issuer and the advertised endpoints (issuer first).

        Only hosts the policy trusts (the issuer's and ``allowed_hosts``) are contacted: a hostile metadata
        document must not make the auditor connect wherever it likes. Endpoints elsewhere are a finding of
        ``discovery.endpoints-on-issuer-host``.
        """
        try:
            metadata = self.metadata()
        except EvaluationError:
            metadata = {}
        trusted = self.trusted_hosts()
        urls = [self.issuer] + [v for k, v in metadata.items()
                                if isinstance(v, str) and len(v) < MAX_URL_LENGTH and is_endpoint_member(k)]
        seen: dict[tuple[str, int], str] = {}
        for url in urls:
            try:
                parts = urllib.parse.urlsplit(url)
                port = parts.port or 443
            except ValueError:
                continue
            host = url_host(url)
            if parts.scheme == "https" and host in trusted:
                seen.setdefault((host, port), url)
        return list(seen.values())


def provider_hosts(provider: OidcProvider) -> set[str]:
    """The hosts a login may pass through: the issuer's, ``allowed_hosts`` and the authorization endpoint's."""
    hosts = set(provider.trusted_hosts())
    try:
        hosts.add(url_host(provider.endpoint("authorization_endpoint")))
    except EvaluationError:
        pass
    hosts.discard("")
    return hosts
