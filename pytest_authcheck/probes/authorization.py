"""Authorization endpoint probes: a client's ordinary request and its variations, before a login and signed in.

Before a login, a variation is judged against the ordinary request's answer (``observe_authorization``). Where
that cannot tell (the provider sends both to its login page), it is *calibrated* when the caller names a
request that must be refused in the same dimension (a redirect URI nobody registered): refused before the login,
it shows the provider checks that dimension before the login, so a variation that goes on is accepted.
Otherwise the variation is sent again signed in as the provider's test user (one sign-in per run): a code or
token at the redirect URI is accepted, an error page or error redirect is refused. Without a test user the
answer stays *sent to login*, which no check reads as accepted. Redirect URIs are never requested.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from .._authz import pkce_pair, random_token
from .._clients import PolicyClient
from .._errors import AuthcheckError
from .._http import HttpClient
from .._login import Browser, ConsentWithheld, LoginFlow, Sessions, WalkEnd, test_user_of
from .._net import is_loopback
from ..observations import Kind, NotEvaluated, Observation, observe_authorization
from ..observations.authorization import callback_parameters, error_kind, points_at, read_page, same_target
from .once import Once


@dataclass(frozen=True)
class Variation:
    """How a request differs from the client's ordinary one: parameters replaced (None removes one)."""

    name: str
    params: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, name: str, **params: str | None) -> Variation:
        """``Variation.of("no PKCE", code_challenge=None, code_challenge_method=None)``."""
        return cls(name, tuple(sorted(params.items())))

    def redirect_uri(self, default: str) -> str:
        """The redirect URI this request sends."""
        return next((v for k, v in self.params if k == "redirect_uri" and v is not None), default)


ORDINARY = Variation("the ordinary request")
# answers to the ordinary request that show it goes on: a variation answered otherwise differs in the varied dimension
GOES_ON = (Kind.ACCEPTED, Kind.SENT_TO_LOGIN)


class SignedInWalker(Protocol):
    """What the default login step offers for signed-in probes (``PolicyLogin.walk_signed_in``)."""

    def walk_signed_in(self, provider: str, url: str, *, provider_hosts: set[str], is_end: Callable[[str], bool],
                       consent: bool) -> WalkEnd | None: ...


@dataclass
class _ClientRequests:
    state: str
    nonce: str
    challenge: str
    signed_in: dict[Variation, Observation | None | AuthcheckError] = field(default_factory=dict)


class AuthorizationProbes:
    """The run's authorization probes, each distinct request sent once (per xdist worker)."""

    def __init__(self, http: HttpClient, providers: Mapping[str, Any], login: Callable[[LoginFlow], str] | None,
                 provider_hosts: Callable[[Any], set[str]], sessions: Sessions | None = None) -> None:
        self._sessions = sessions or Sessions()
        self._http = http
        self._providers = providers
        self._login = login
        self._provider_hosts = provider_hosts
        self._clients: dict[str, _ClientRequests] = {}
        self.before_login = Once()  # (client name, variation) -> its answer before a login
        self._lock = threading.RLock()

    def use_login(self, login: Callable[[LoginFlow], str]) -> None:
        """The login step signed-in probes use (the ``authcheck_login`` fixture, which a team may override)."""
        self._login = login

    # ---- the requests ----------------------------------------------------------------------------
    def url(self, client: PolicyClient, variation: Variation = ORDINARY) -> str:
        """The authorization URL of ``variation`` (the same state, nonce and challenge for every probe of a client)."""
        fixed = self._fixed(client)
        params: dict[str, str] = {"response_type": "code", "client_id": client.client_id}
        if client.redirect_uris:
            params["redirect_uri"] = client.redirect_uris[0]
        if client.scopes:
            params["scope"] = client.scope_request()
        params.update(state=fixed.state, nonce=fixed.nonce, code_challenge=fixed.challenge, code_challenge_method="S256")
        for key, value in variation.params:
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        endpoint: str = self._providers[client.provider].endpoint("authorization_endpoint")
        return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)

    def state_of(self, client: PolicyClient) -> str:
        """The state every probe of ``client`` sends (one per client per run)."""
        return self._fixed(client).state

    def fixed_of(self, clients: Iterable[PolicyClient]) -> dict[str, tuple[str, str, str]]:
        """The state, nonce and PKCE challenge every probe of each of ``clients`` sends, by client name."""
        return {client.name: (fixed.state, fixed.nonce, fixed.challenge)
                for client in clients for fixed in (self._fixed(client),)}

    def adopt(self, fixed: Mapping[str, tuple[str, str, str]]) -> None:
        """Send for each client the state, nonce and challenge another process sends (``fixed_of``)."""
        with self._lock:
            for name, (state, nonce, challenge) in fixed.items():
                self._clients[name] = _ClientRequests(state, nonce, challenge)

    def control(self, client: PolicyClient) -> Observation:
        """The ordinary request's answer before a login."""
        return self.pre_login(client, ORDINARY)

    def pre_login(self, client: PolicyClient, variation: Variation) -> Observation:
        """``variation`` sent without a session, judged against the ordinary request's answer."""
        def send() -> Observation:
            control = None if variation == ORDINARY else self.control(client)
            if control is not None and control.kind is not Kind.SENT_TO_LOGIN:
                control = None  # only an answer that went on teaches what "going on" looks like
            response = self._http.get(self.url(client, variation))
            return observe_authorization(response, redirect_uri=variation.redirect_uri(self._default_uri(client)),
                                         provider_hosts=self._hosts(client), control=control)

        answer: Observation = self.before_login.get((client.name, variation), send)
        return answer

    def usable_control(self, client: PolicyClient) -> Observation:
        """The ordinary request's answer before a login, when it went on (accepted, or to the login): only then does a
        variation's refusal or server error say something about the variation. Otherwise *not evaluated*."""
        control = self.control(client)
        if control.kind not in GOES_ON:
            raise NotEvaluated(self._unusable(client, control), exchange=control.exchange)
        return control

    def signed_in(self, client: PolicyClient, variation: Variation, *, consent: bool = True) -> Observation | None:
        """``variation`` sent signed in as the provider's test user; None when no account can sign in."""
        fixed = self._fixed(client)
        with self._lock:
            known = variation in fixed.signed_in
            cached = fixed.signed_in.get(variation)
        if not known:
            try:
                cached = self._walk(client, variation, consent)
            except AuthcheckError as exc:
                cached = exc
            with self._lock:
                fixed.signed_in[variation] = cached
        if isinstance(cached, AuthcheckError):
            raise cached.with_traceback(None)
        return cached

    # ---- the judgement ---------------------------------------------------------------------------
    def decide(self, client: PolicyClient, variation: Variation, *, calibration: Variation | None = None,
               consent: bool = True) -> Observation:
        """Accepted or refused where the answers can tell; otherwise the non-decisive observation with its reason (also
        when the ordinary request itself does not go on: then only an acceptance of the variation shows anything)."""
        control = self.control(client)
        first = self.pre_login(client, variation)
        if control.kind not in GOES_ON:
            if first.accepted or variation == ORDINARY:
                return first  # a code or token issued for the variation shows it, whatever the ordinary request got
            # returned, not raised: a check probing several variations still sees a later one's acceptance
            return Observation(Kind.THROTTLED if control.kind is Kind.THROTTLED else Kind.UNREADABLE,
                               f"{first.summary}; {self._unusable(client, control)}", first.exchange, first.status, first.error,
                               first.signature, location=first.location, retry_after=control.retry_after,
                               trail=tuple(e for e in control.exchanges if e is not first.exchange))
        if first.decisive or first.kind is not Kind.SENT_TO_LOGIN:
            return first
        if calibration is not None:
            check = self.pre_login(client, calibration)
            if check.refused:
                return Observation(Kind.ACCEPTED, f"went on to the login like the ordinary request ({first.summary}), "
                                   f"while {calibration.name} is refused before the login ({check.summary}): the "
                                   "provider judges this before the login", first.exchange, first.status,
                                   signature=first.signature, trail=(check.exchange,) if check.exchange else ())
        signed_control = self.signed_in(client, ORDINARY)
        if signed_control is not None and variation == ORDINARY:
            return signed_control
        if signed_control is None:
            # the same as every other check that needs a login and has no account to sign in with
            pytest.skip(f"needs a user's login: {variation.name} gets {first.summary}, as the ordinary request does, and "
                        f"providers.{client.provider} declares no test_user and no authcheck_login fixture is plugged in")
        if not signed_control.accepted:
            return Observation(Kind.UNREADABLE, f"{first.summary}; signed in as the test user, even the ordinary "
                               f"request does not come back with a code ({signed_control.summary})",
                               signed_control.exchange, trail=tuple(signed_control.trail))
        signed = self.signed_in(client, variation, consent=consent)
        return signed if signed is not None else first

    # ---- internals -------------------------------------------------------------------------------
    @staticmethod
    def _unusable(client: PolicyClient, control: Observation) -> str:
        how = {Kind.REFUSED: "refused", Kind.THROTTLED: "throttled"}.get(control.kind, "unreadable")
        return (f"the ordinary authorization request of {client.target} is itself {how} ({control.summary}), so no "
                "variation of it can be judged; see client-auth.public-client-known and redirect-uri.registered-accepted")

    def _fixed(self, client: PolicyClient) -> _ClientRequests:
        with self._lock:
            fixed = self._clients.get(client.name)
            if fixed is None:
                fixed = self._clients[client.name] = _ClientRequests(random_token(12), random_token(12), pkce_pair()[1])
            return fixed

    def _hosts(self, client: PolicyClient) -> set[str]:
        return self._provider_hosts(self._providers[client.provider])

    @staticmethod
    def _default_uri(client: PolicyClient) -> str:
        return client.redirect_uris[0] if client.redirect_uris else ""

    def _walk(self, client: PolicyClient, variation: Variation, consent: bool) -> Observation | None:
        probed = variation.redirect_uri(self._default_uri(client))
        ends = [probed, *client.redirect_uris]

        def is_end(url: str) -> bool:
            return any(same_target(url, u) or points_at(url, u) or _loopback_match(url, u) for u in ends if u)

        url = self.url(client, variation)
        hosts = self._hosts(client)
        if self._login is None:
            return None  # no login step (probes sent ahead of the checks, before the fixtures exist)
        walker = getattr(self._login, "walk_signed_in", None)
        if walker is not None:
            end = walker(client.provider, url, provider_hosts=hosts, is_end=is_end, consent=consent)
            return None if end is None else _judge_end(end, probed, client)
        # a team's own login step: run it on the probe; where it ends is the answer
        user = test_user_of(self._providers[client.provider])
        flow = LoginFlow(client=client.name, provider=client.provider, authorization_url=url, redirect_uri=probed,
                         provider_hosts=hosts, user=user, consent=consent)
        if user is not None:
            flow.browser = Browser(self._http, self._sessions.get(client.provider, user.username), flow)
        try:
            landed = self._login(flow)
        except ConsentWithheld:
            # as the built-in walk reports it: the request went on to consent, which no login step gives
            last = flow.exchanges[-1] if flow.exchanges else None
            return Observation(Kind.SENT_TO_LOGIN, "signed in, the provider asks the user to consent; authcheck never "
                               "consents beyond the policy's scopes", last, trail=tuple(flow.exchanges[:-1]))
        except AuthcheckError as exc:
            last = flow.exchanges[-1] if flow.exchanges else None
            return Observation(Kind.UNREADABLE, f"the login step (authcheck_login) stopped: {str(exc)[:300]}", last,
                               trail=tuple(flow.exchanges[:-1]))
        last = flow.exchanges[-1] if flow.exchanges else None
        return _judge_landing(landed, probed, client, last, tuple(flow.exchanges[:-1]))


def _judge_end(end: WalkEnd, probed: str, client: PolicyClient) -> Observation:
    exchanges = tuple(e for e in ([end.response.exchange] if end.response is not None else []))
    if end.url is not None:
        return _judge_landing(end.url, probed, client, end.response.exchange if end.response is not None else None, ())
    response = end.response
    if response is None:
        return Observation(Kind.UNREADABLE, end.reason)
    page = read_page(response)
    if page["password"]:
        return Observation(Kind.SENT_TO_LOGIN, "signed in, the provider still shows its login form", response.exchange,
                           response.status, trail=exchanges[:-1])
    if end.consent_asked:
        return Observation(Kind.SENT_TO_LOGIN, "signed in, the provider asks the user to consent; authcheck never "
                           "consents beyond the policy's scopes", response.exchange, response.status)
    if response.status >= 500:
        return Observation(Kind.UNREADABLE, f"signed in, HTTP {response.status} (a server error)", response.exchange,
                           response.status)
    error = f" ({page['error']})" if page["error"] else ""
    return Observation(error_kind(page["error"] or ""), f"signed in, an error page HTTP {response.status}{error} "
                       "instead of a redirect with a code", response.exchange, response.status, page["error"],
                       details={"page_text": page["text"]})


def same_error_page(a: Observation, b: Observation, *client_ids: str) -> bool:
    """Whether two signed-in error pages say the same thing: status, error and visible text, with the client ids
    they name and anything carrying a digit (request ids, times) set aside. False when either is not such a page."""
    def key(observation: Observation) -> tuple[Any, ...] | None:
        text = observation.details.get("page_text")
        if not isinstance(text, str) or not observation.refused:
            return None
        for client_id in sorted(client_ids, key=len, reverse=True):
            text = text.replace(client_id, "{client_id}") if client_id else text
        return observation.status, observation.error, _WITH_DIGIT.sub("#", text)

    first = key(a)
    return first is not None and first == key(b)


def _judge_landing(url: str, probed: str, client: PolicyClient, exchange: Any, trail: tuple[Any, ...]) -> Observation:
    params = callback_parameters(url)
    error = params.get("error", "")[:100] or None
    issued = [name for name in ("code", "access_token", "id_token") if params.get(name)]
    target = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query="", fragment=""))
    to_probed = same_target(url, probed) or _loopback_match(url, probed)
    if error:
        where = "the probed redirect URI" if to_probed else f"{target}"
        return Observation(error_kind(error), f"signed in, an error redirect to {where} ({error})", exchange, None, error,
                           location=url, trail=trail, details={"to_probed": to_probed})
    if issued and to_probed:
        return Observation(Kind.ACCEPTED, f"signed in, a redirect to {target} with {' and '.join(issued)}", exchange,
                           location=url, trail=trail, details={"issued": issued})
    if issued:
        return Observation(Kind.REFUSED, f"signed in, the {' and '.join(issued)} went to {target}, not to the probed "
                           "redirect URI", exchange, location=url, trail=trail)
    return Observation(Kind.UNREADABLE, f"signed in, a redirect to {target} with neither a code nor an error", exchange,
                       location=url, trail=trail)


_WITH_DIGIT = re.compile(r"[A-Za-z0-9_\-.:/]*\d[A-Za-z0-9_\-.:/]*")


def _loopback_match(url: str, uri: str) -> bool:
    """RFC 8252 §7.3: a loopback redirect URI registered without a port matches any port."""
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(uri)
    try:
        return (b.scheme == "http" and is_loopback(b.hostname or "") and a.scheme == "http"
                and (a.hostname or "").lower() == (b.hostname or "").lower() and a.path == b.path)
    except ValueError:
        return False
