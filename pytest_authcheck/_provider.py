"""A provider as every kind has it: its policy entry, the limits the policy sets for it, the answer at its URL
(whose Date header is its clock) and the TLS facts of the hosts it serves clients on.

The tls and clock suites judge every ``[providers.NAME]`` through this class, whatever its kind: an OIDC
provider (``OidcProvider``: its home is the discovery document, and it sends clients to the hosts its metadata
advertises) or a Jamf Pro server (reached at its one URL). Documents and TLS facts are fetched once per run,
and once across xdist workers (``SharedStore``).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ._documents import Document, fetch
from ._duration import parse_duration
from ._http import HttpClient
from ._net import is_loopback, policy_hosts, url_host
from ._shared import SharedStore, dump_document, dump_tls, load_document, load_tls
from ._tls import TlsFacts, inspect
from .policy.load import Settings


class Provider:
    """One ``[providers.NAME]`` reached at ``url``; documents and TLS facts are cached for the run."""

    # How messages name ``url``.
    url_label = "the URL"

    def __init__(self, name: str, config: Mapping[str, Any], *, url: str, http: HttpClient, settings: Settings,
                 shared: SharedStore | None = None) -> None:
        self.name = name
        self.config = config
        self.url = url
        self.target = f"providers.{name}"
        self._http = http
        self._settings = settings
        self._shared = shared or SharedStore(None)
        self._documents: dict[str, Document] = {}
        self._fetching = threading.RLock()
        self._tls: dict[tuple[str, int], TlsFacts] = {}

    # ---- policy views ---------------------------------------------------------------------------
    @property
    def cert_min_days(self) -> int:
        """Days a certificate must stay valid (provider setting, else the run's)."""
        return int(self.config.get("cert_min_days", self._settings.cert_min_days))

    @property
    def max_clock_skew(self) -> float:
        """Seconds of clock difference tolerated (provider setting, else the run's)."""
        value = self.config.get("max_clock_skew")
        return parse_duration(value) if value is not None else self._settings.max_clock_skew

    def trusted_hosts(self) -> frozenset[str]:
        """The hosts the policy trusts for this provider: its URL's (the issuer's) and ``allowed_hosts``, as
        ``_net.host_key`` spells them (compare ``url_host(url)`` against them: case, IDNA and port do not matter).

        The one definition every layer uses: the endpoints asked, the TLS origins inspected, the hosts a login
        walks, and where credentials may travel (``_confine``, from the same ``policy_hosts``).
        """
        return frozenset({url_host(self.url)} | policy_hosts(self.config.get("allowed_hosts", []))) - {""}

    def trusts(self, url: str) -> bool:
        """Whether ``url`` is on one of ``trusted_hosts``."""
        return url_host(url) in self.trusted_hosts()

    def http_tolerated(self, url: str) -> bool:
        """Plain http is tolerated only for loopback hosts, and only with ``allow_http_loopback``."""
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "http" and bool(self.config.get("allow_http_loopback")) and is_loopback(parts.hostname or "")

    def no_tls_reason(self) -> str | None:
        """Why the provider's URL has no TLS to judge (it is not https), or None when it is https."""
        if urllib.parse.urlsplit(self.url).scheme == "https":
            return None
        if self.http_tolerated(self.url):
            return (f"{self.url_label} {self.url} is plain http on a loopback host, which "
                    f"{self.target}.allow_http_loopback tolerates: there is no TLS to judge")
        return f"{self.url_label} {self.url} is not https: there is no TLS to judge (tls.no-plain-http reports it)"

    def no_https_origin_reason(self) -> str:
        """Why ``https_origins`` is empty (the tests that judge them are not applicable)."""
        return self.no_tls_reason() or f"{self.url_label} {self.url} has no https origin"

    # ---- what the checks read ---------------------------------------------------------------------
    def home(self) -> Document:
        """The answer at the provider's URL (a GET without credentials, once per run), whatever it is."""
        return self._document("answer at the provider's URL", self.url.rstrip("/") + "/")

    def https_origins(self) -> list[str]:
        """One URL per https host:port the provider sends clients to: here its own URL, if https."""
        return [self.url] if self.no_tls_reason() is None else []

    def tls(self, url: str | None = None) -> TlsFacts:
        """TLS facts of the provider's host (or of ``url``'s host), inspected once per run."""
        parts = urllib.parse.urlsplit(url or self.url)
        key = (parts.hostname or "", parts.port or 443)
        if key not in self._tls:
            dead = self._http.unreachable(url or self.url)
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
