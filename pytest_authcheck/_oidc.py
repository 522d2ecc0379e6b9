"""An OpenID Provider as the suites see it: its policy, and its documents fetched once per run."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ._documents import Document, fetch
from ._duration import parse_duration
from ._errors import EvaluationError
from ._http import HttpClient
from ._net import is_loopback
from ._policy import Settings
from ._shared import SharedStore, dump_document, dump_tls, load_document, load_tls
from ._tls import TlsFacts, inspect

DISCOVERY_PATH = "/.well-known/openid-configuration"
RFC8414_SEGMENT = "/.well-known/oauth-authorization-server"
MAX_URL_LENGTH = 2048


def is_endpoint_member(name: str) -> bool:
    """Whether a metadata member names a URL clients are sent to (``*_endpoint`` and ``jwks_uri``)."""
    return name.endswith("_endpoint") or name == "jwks_uri"


class OidcProvider:
    """One ``[providers.NAME] kind = "oidc"``; documents and TLS facts are cached for the run."""

    def __init__(self, name: str, config: Mapping[str, Any], *, http: HttpClient, settings: Settings,
                 shared: SharedStore | None = None) -> None:
        self.name = name
        self.config = config
        self.issuer: str = config["issuer"]
        self.target = f"providers.{name}"
        self._http = http
        self._settings = settings
        self._shared = shared or SharedStore(None)
        self._documents: dict[str, Document] = {}
        self._fetching = threading.RLock()
        self._tls: dict[tuple[str, int], TlsFacts] = {}
        self._metadata: dict[str, Any] | None = None
        self._rfc8414_endpoints: dict[str, str] | None = None

    # ---- policy views ---------------------------------------------------------------------------
    @property
    def cert_min_days(self) -> int:
        """Days a certificate must stay valid (provider setting, else the run's)."""
        return int(self.config.get("cert_min_days", self._settings.cert_min_days))

    @property
    def max_clock_skew(self) -> float:
        """Seconds of clock difference tolerated."""
        value = self.config.get("max_clock_skew")
        return parse_duration(value) if value is not None else self._settings.max_clock_skew

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

    def http_tolerated(self, url: str) -> bool:
        """Plain http is tolerated only for loopback hosts, and only with ``allow_http_loopback``."""
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "http" and bool(self.config.get("allow_http_loopback")) and is_loopback(parts.hostname or "")

    def no_tls_reason(self) -> str | None:
        """Why the issuer has no TLS to judge (it is not https), or None when it is https."""
        if urllib.parse.urlsplit(self.issuer).scheme == "https":
            return None
        if self.http_tolerated(self.issuer):
            return (f"the issuer {self.issuer} is plain http on a loopback host, which {self.target}.allow_http_loopback "
                    "tolerates: there is no TLS to judge")
        return f"the issuer {self.issuer} is not https: there is no TLS to judge (tls.no-plain-http reports it)"

    # ---- documents --------------------------------------------------------------------------------
    def discovery(self) -> Document:
        """The OIDC discovery document (fetched on first use)."""
        return self._document("discovery document", self.discovery_url)

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
        trusted = {urllib.parse.urlsplit(self.issuer).hostname, *self.config.get("allowed_hosts", [])}
        urls = [self.issuer] + [v for k, v in metadata.items()
                                if isinstance(v, str) and len(v) < MAX_URL_LENGTH and is_endpoint_member(k)]
        seen: dict[tuple[str, int], str] = {}
        for url in urls:
            try:
                parts = urllib.parse.urlsplit(url)
                port = parts.port or 443
            except ValueError:
                continue
            if parts.scheme == "https" and parts.hostname and parts.hostname in trusted:
                seen.setdefault((parts.hostname, port), url)
        return list(seen.values())

    def tls(self, url: str | None = None) -> TlsFacts:
        """TLS facts of the issuer's host (or of ``url``'s host), inspected once per run."""
        parts = urllib.parse.urlsplit(url or self.issuer)
        key = (parts.hostname or "", parts.port or 443)
        if key not in self._tls:
            dead = self._http.unreachable(url or self.issuer)
            if dead is not None:
                self._tls[key] = TlsFacts(host=key[0], port=key[1], reachable=False, error=dead)
                return self._tls[key]
            self._tls[key] = self._shared.once(
                f"tls {key[0]}:{key[1]}",
                lambda: inspect(key[0], key[1], ca_bundle=self._settings.ca_bundle, timeout=self._settings.timeout,
                                budget=self._settings.timeout * (1 + self._settings.retries)),
                dump_tls, load_tls)
        return self._tls[key]

    def _document(self, name: str, url: str) -> Document:
        # one fetch per document, also when prefetch threads and a check ask at once
        with self._fetching:
            if url not in self._documents:
                self._documents[url] = self._shared.once(f"document {url}", lambda: fetch(self._http, name, url),
                                                         dump_document, load_document)
            return self._documents[url]


def provider_hosts(provider: OidcProvider) -> set[str]:
    """The hosts a login may pass through: the issuer's, its endpoints' and ``allowed_hosts``."""
    hosts = {(urllib.parse.urlsplit(provider.issuer).hostname or "").lower()}
    hosts.update(h.lower() for h in provider.config.get("allowed_hosts", []))
    try:
        hosts.add((urllib.parse.urlsplit(provider.endpoint("authorization_endpoint")).hostname or "").lower())
    except EvaluationError:
        pass
    return hosts
