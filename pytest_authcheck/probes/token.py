"""Token endpoint probes of the run: each distinct request sent once, shared by every check that reads it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._clients import PolicyClient
from .._errors import EvaluationError
from .._http import HttpClient, Response
from .._redact import Secret, reveal
from ..observations import Observation, observe_token
from .once import Once


def _request_key(provider: str, form: Mapping[str, Any], auth: tuple[str, Secret | str] | None) -> bytes:
    # What goes on the wire, digested: the same form sent the same way is one request, whatever names it, and the key
    # of each of a run's twenty thousand answers is 20 bytes rather than the form as tuples (350 bytes). No secret
    # stands in it, so none shows in a traceback's locals.
    digest = hashlib.blake2b(digest_size=20)
    basic = ("basic", *auth) if auth is not None else ("no basic",)
    for part in (provider, *basic, *(p for item in sorted(form.items(), key=lambda item: item[0]) for p in item)):
        text = str(reveal(part)).encode("utf-8", "surrogatepass")
        digest.update(len(text).to_bytes(8, "big") + text)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class TokenProbe:
    """A sent token request: the answer and what it means."""

    name: str
    response: Response
    observation: Observation


class TokenProbes:
    """Token requests of one run (per xdist worker), cached by the request they send, whatever a check names it (a
    public client's "declared" request is also its "secret by method none"); failures are cached too."""

    def __init__(self, http: HttpClient, endpoint_of: Callable[[str], str]) -> None:
        self._http = http
        self._endpoint_of = endpoint_of
        self.sent = Once()  # the answers, by the request sent

    def send(self, client: PolicyClient, name: str, form: Mapping[str, Any], *, secret: Secret | str | None = None,
             method: str | None = None, as_client: PolicyClient | None = None) -> TokenProbe:
        """POST ``form`` to the token endpoint of ``client``'s provider, authenticated as ``as_client`` (default:
        ``client``) with its declared method unless ``method``/``secret`` say otherwise; once per distinct request."""
        data, auth = (as_client or client).credentials(dict(form), secret=secret, method=method)
        probe: TokenProbe = self.sent.get(_request_key(client.provider, data, auth),
                                          lambda: self._send(client.provider, name, data, auth))
        return probe

    def key_of(self, client: PolicyClient, name: str, form: Mapping[str, Any], *, secret: Secret | str | None = None,
               method: str | None = None, as_client: PolicyClient | None = None) -> bytes:
        """What ``send`` with the same arguments would send, as the key its answer is kept under; nothing is sent."""
        data, auth = (as_client or client).credentials(dict(form), secret=secret, method=method)
        return _request_key(client.provider, data, auth)

    def _send(self, provider: str, name: str, data: dict[str, Any], auth: tuple[str, Secret | str] | None) -> TokenProbe:
        response = self._http.post(self._endpoint_of(provider), data=data, auth=auth)
        return TokenProbe(name, response, observe_token(response, basic=auth is not None))


def token_endpoint_of(providers: Mapping[str, Any]) -> Callable[[str], str]:
    """The token endpoint of a provider by name; plain http only where the policy tolerates it."""

    def endpoint(provider_name: str) -> str:
        provider = providers[provider_name]
        url: str = provider.endpoint("token_endpoint")
        if not url.startswith("https://") and not provider.http_tolerated(url):
            raise EvaluationError(f"the token endpoint {url[:200]} is not https; client credentials are never sent over "
                                  "plain http (see tls.no-plain-http)")
        return url

    return endpoint
