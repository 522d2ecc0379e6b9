"""Logging a test user in without a browser: a generic driver for HTML form logins.

The driver starts at the authorization URL and walks the provider's pages through the run's HTTP layer:
it follows redirects on the provider's own hosts, fills the form that has a password field with the test
account, submits consent forms (hidden inputs such as CSRF tokens included), and keeps cookies in a jar
of its own for the one flow. It stops at the first redirect to the client's redirect URI and returns
that URL: the redirect URI is never requested.

Logins that are an API, a JavaScript page or need MFA plug in their own step by overriding the
``authcheck_login`` fixture with a callable of the same shape: ``login(flow) -> callback URL``. A flow
that logs a named policy user in (an API's user principal) carries that user in ``flow.user``; otherwise
the provider's ``test_user`` logs in.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ._authz import REDIRECT_STATUSES, same_target
from ._errors import EvaluationError
from ._http import Exchange, HttpClient, Response, retry_after_seconds
from ._net import is_loopback, url_host
from ._redact import Secret
from .observations.answers import NotEvaluated

USERNAME_FIELDS = ("username", "login", "email", "user", "userid", "user_id", "identifier", "j_username")
MAX_STEPS = 15
MAX_LOGIN_WAIT = 65.0  # a throttled login waits at most this long (five logins a minute per address is common)


@dataclass(frozen=True)
class LoginUser:
    """A ``[users.NAME]`` account a flow must log in (an API's user principal), password kept a ``Secret``."""

    name: str
    username: str
    password: Secret
    target_name: str = ""

    @property
    def target(self) -> str:
        """``users.NAME`` (or ``providers.NAME.test_user``)."""
        return self.target_name or f"users.{self.name}"


@dataclass
class LoginFlow:
    """One login to perform: where it starts and what ends it."""

    client: str
    provider: str
    authorization_url: str
    redirect_uri: str
    provider_hosts: set[str]
    exchanges: list[Exchange] = field(default_factory=list)
    user: LoginUser | None = None  # None: the provider's test_user
    # False when the request asks for more than the policy allows: a login step never consents beyond the policy
    consent: bool = True
    browser: Browser | None = None  # the account's browser (its session's cookies), for a login step of its own

    def is_callback(self, url: str) -> bool:
        """Whether ``url`` is the redirect back to the client (any port for a loopback URI, RFC 8252 §7.3)."""
        if same_target(url, self.redirect_uri):
            return True
        a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(self.redirect_uri)
        return (b.scheme == "http" and is_loopback(b.hostname or "") and b.port is None
                and (a.scheme, a.hostname, a.path) == (b.scheme, b.hostname, b.path))


LoginStep = Callable[[LoginFlow], str]


def test_user_of(provider: Any) -> LoginUser | None:
    """The provider's ``test_user`` as the account a flow signs in with (None when the policy declares none)."""
    account = provider.config.get("test_user") if hasattr(provider, "config") else None
    if not account:
        return None
    return LoginUser(name="test_user", username=str(account["username"]), password=account["password"],
                     target_name=f"providers.{provider.name}.test_user")


class CookieJar:
    """Cookies of one login flow: host-only, path-scoped, dropped when expired (RFC 6265, simplified)."""

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str, str], tuple[str, float | None]] = {}

    def update(self, url: str, set_cookie_headers: list[str]) -> None:
        """Store the cookies a response set for ``url``."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        default_path = parts.path.rsplit("/", 1)[0] or "/"
        for header in set_cookie_headers:
            pieces = [p.strip() for p in header.split(";")]
            if "=" not in pieces[0]:
                continue
            name, value = pieces[0].split("=", 1)
            path, expires = default_path, None
            for attribute in pieces[1:]:
                key, _, val = attribute.partition("=")
                key = key.strip().lower()
                if key == "path" and val.startswith("/"):
                    path = val
                elif key == "max-age":
                    try:
                        expires = time.time() + int(val)
                    except ValueError:
                        pass
            if expires is not None and expires <= time.time():
                self._cookies.pop((host, path, name), None)
            else:
                self._cookies[(host, path, name)] = (value, expires)

    def header(self, url: str) -> str | None:
        """The Cookie header for a request to ``url``, or None."""
        parts = urllib.parse.urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path or "/"
        now = time.time()
        pairs = [f"{name}={value}" for (h, p, name), (value, expires) in sorted(self._cookies.items(), key=lambda i: -len(i[0][1]))
                 if h == host and (path == p or path.startswith(p.rstrip("/") + "/")) and (expires is None or expires > now)]
        return "; ".join(pairs) or None


@dataclass
class Form:
    """An HTML form: where it goes and the values it would submit."""

    action: str
    method: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of named submit buttons

    @property
    def has_password(self) -> bool:
        """A login form."""
        return any(kind == "password" for kind, _, _ in self.fields)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=(a.get("method") or "get").upper())
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._current.buttons.append((a["name"], a.get("value", "")))
            elif kind not in ("checkbox", "radio") or "checked" in a:
                self._current.fields.append((kind, a["name"], a.get("value", "")))
        elif self._current is not None and tag == "button" and a.get("name") and a.get("type", "submit") == "submit":
            self._current.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    """The forms of a page (malformed HTML yields what could be read)."""
    parser = _FormParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # a hostile page must not crash the run; keep what was parsed
        pass
    return parser.forms


class ConsentWithheld(EvaluationError):
    """The provider asked for consent to a request that goes beyond the policy; a login step never gives it."""


@dataclass
class WalkEnd:
    """Where a walk through the provider's pages stopped: a redirect away from them (never requested), or a page."""

    url: str | None
    response: Response | None
    reason: str
    step: int
    consent_asked: bool = False


def callback_of(end: WalkEnd, flow: LoginFlow) -> str:
    """The redirect back to the client where a walk ended, or why there is none.

    The one reading of a walk's end for the built-in login and ``Browser.follow``: a consent page the flow may not
    approve (``flow.consent`` false) is ``ConsentWithheld`` (the checks then say *not evaluated* for that reason,
    never consent on the user's behalf), any other end an ``EvaluationError`` with the reason.
    """
    if end.url is not None and flow.is_callback(end.url):
        return end.url
    if end.url is not None:
        raise EvaluationError(f"the login left the provider's hosts at step {end.step} ({url_host(end.url)}); add the "
                              "host to allowed_hosts or plug in your own login step (authcheck_login)")
    if end.consent_asked:
        raise ConsentWithheld(end.reason)
    raise EvaluationError(end.reason)


class Session:
    """One user signed in at one provider: the cookie jar every flow of the run reuses, and its logins."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.logins = 0
        self.first_login_at: float | None = None  # when the password was first sent (this machine's clock)
        self.lock = threading.RLock()
        self.signed_in = False  # a login step of its own says it signed in (Browser.mark_signed_in)


class Sessions:
    """The run's sessions: one per (provider, account), shared by every flow and every login step."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], Session] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, username: str) -> Session:
        """The session of ``username`` at ``provider`` (made empty on first use)."""
        with self._lock:
            return self._sessions.setdefault((provider, username), Session())


class Browser:
    """What a login step of its own gets: the run's HTTP client (CA bundle, timeouts, redaction, confinement) with
    the account's cookie jar, sending what a browser sends, and a way back to the client once signed in.

    ``get``/``post`` (``data=`` a form, ``json=`` an object; ``Secret`` values are revealed only on the wire) keep
    the cookies the provider sets; ``follow(url)`` walks the provider's redirects and consent forms to the redirect
    back to the client and returns it (it never submits a password: sign in first, then follow).
    """

    def __init__(self, http: HttpClient, session: Session, flow: LoginFlow) -> None:
        self.http = http
        self.session = session
        self.flow = flow
        self._referer: str | None = None

    @property
    def signed_in(self) -> bool:
        """Whether this account already holds a session at the provider in this run."""
        return self.session.logins > 0 or self.session.signed_in

    def get(self, url: str, **kwargs: Any) -> Response:
        """A GET with the session's cookies."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        """A POST with the session's cookies, Referer and Origin."""
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, *, data: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                headers: dict[str, Any] | None = None) -> Response:
        """Send one request as the browser would (``url`` may be relative to the last page); cookies are kept."""
        url = urllib.parse.urljoin(self._referer or self.flow.authorization_url, url)
        sent = dict(headers or {})
        cookie = self.session.jar.header(url)
        if cookie:
            sent["Cookie"] = cookie
        referer = self._referer or self.flow.authorization_url
        sent.setdefault("Referer", referer)
        if method.upper() == "POST":
            parts = urllib.parse.urlsplit(referer)
            sent.setdefault("Origin", f"{parts.scheme}://{parts.netloc}")
        response = self.http.request(method, url, data=data, json=json, headers=sent)
        self.flow.exchanges.append(response.exchange)
        self.session.jar.update(url, response.headers.get_list("set-cookie"))
        self._referer = url
        return response

    def mark_signed_in(self) -> None:
        """Say the account is signed in (a login of your own): later flows of the run reuse the session."""
        self.session.signed_in = True

    def follow(self, url: str | None = None) -> str:
        """From ``url`` (default: the flow's authorization URL) to the redirect back to the client; that URL."""
        walker = FormLogin(self.http, "", Secret("", label="no password"), session=self.session, may_sign_in=False)
        start = urllib.parse.urljoin(self._referer or self.flow.authorization_url, url) if url else \
            self.flow.authorization_url
        end = walker.walk(start, provider_hosts=self.flow.provider_hosts,
                          is_end=self.flow.is_callback, consent=self.flow.consent, exchanges=self.flow.exchanges)
        return callback_of(end, self.flow)


class FormLogin:
    """Logs an account in through HTML forms (login, then consent), sending what a browser sends.

    With a ``Session`` the cookies outlive the flow: a provider that remembers the sign-in sends later flows
    straight back to the client, so a run logs each user in once per provider.
    """

    def __init__(self, http: HttpClient, username: str, password: Secret, *, max_steps: int = MAX_STEPS,
                 session: Session | None = None, may_sign_in: bool = True) -> None:
        self.http = http
        self.username = username
        self.password = password
        self.max_steps = max_steps
        self.session = session
        self.may_sign_in = may_sign_in

    def __call__(self, flow: LoginFlow) -> str:
        """Walk from the authorization URL to the redirect back to the client; return that URL."""
        end = self.walk(flow.authorization_url, provider_hosts=flow.provider_hosts, is_end=flow.is_callback,
                        consent=flow.consent, exchanges=flow.exchanges)
        return callback_of(end, flow)

    def walk(self, url: str, *, provider_hosts: set[str], is_end: Callable[[str], bool], consent: bool = True,
             exchanges: list[Exchange] | None = None) -> WalkEnd:
        """Follow the provider's pages from ``url``: sign in when asked (once), submit consent when ``consent``,
        and stop at the first redirect that ``is_end`` or that leaves ``provider_hosts``, or at a page."""
        session = self.session or Session()
        method, data, referer = "GET", None, None
        submitted_password = False
        for step in range(1, self.max_steps + 1):
            if url_host(url) not in provider_hosts:
                # a form whose action leads off the provider's hosts: nothing is sent there
                return WalkEnd(url, None, "a form leads away from the provider's pages", step)
            response = self._send(session.jar, method, url, data, referer)
            if exchanges is not None:
                exchanges.append(response.exchange)
            if response.status in REDIRECT_STATUSES and response.headers.get("location"):
                target = urllib.parse.urljoin(url, response.headers["location"])
                if is_end(target) or url_host(target) not in provider_hosts:
                    return WalkEnd(target, response, "redirected away from the provider's pages", step)
                url, method, data, referer = target, "GET", None, referer
                continue
            if response.status != 200:
                hint = "; the ordinary authorization request itself is refused (see client-auth.public-client-known and " \
                       "redirect-uri.registered-accepted)" if step == 1 and response.status < 500 else ""
                return WalkEnd(None, response, f"the login stopped at step {step}: HTTP {response.status} from "
                               f"{_short(url)}" + _error_hint(response) + hint, step)
            forms = parse_forms(response.text[:262144])
            form = next((f for f in forms if f.has_password), None)
            if form is not None:
                if not self.may_sign_in:
                    return WalkEnd(None, response, "the provider asks for a password: the session is not signed in", step)
                if submitted_password:
                    return WalkEnd(None, response, "the provider showed the login form again after the account's "
                                   "password was submitted: check the account's credentials (or it needs MFA: plug "
                                   "in your own login step with the authcheck_login fixture)", step)
                submitted_password = True
                session.logins += 1
                if session.first_login_at is None:
                    session.first_login_at = time.time()
            else:
                form = next((f for f in forms if f.method == "POST"), None)
                if form is None:
                    what = "an error page, or a JavaScript login" if session.logins else "a JavaScript login"
                    return WalkEnd(None, response, f"the login stopped at step {step}: {_short(url)} shows no form to "
                                   f"submit ({what}? plug in your own login step with the authcheck_login fixture)", step)
                if not consent:
                    return WalkEnd(None, response, f"the provider asks for consent at {_short(url)}", step,
                                   consent_asked=True)
            values = self._fill(form)
            referer = url
            url = urllib.parse.urljoin(url, form.action or url)
            method, data = ("POST", values) if form.method == "POST" else ("GET", None)
            if method == "GET":
                url = url.split("?", 1)[0] + "?" + urllib.parse.urlencode(
                    {k: v.reveal() if isinstance(v, Secret) else v for k, v in values.items()})
        return WalkEnd(None, None, f"the login did not end within {self.max_steps} steps", self.max_steps)

    def _send(self, jar: CookieJar, method: str, url: str, data: dict[str, Any] | None, referer: str | None) -> Response:
        # What a browser sends: its cookies for the host, where it came from, and the Origin of a form post
        # (CSRF defences of stock login pages, Django's among them, check Referer or Origin over https).
        headers: dict[str, str] = {}
        cookie = jar.header(url)
        if cookie:
            headers["Cookie"] = cookie
        if referer:
            headers["Referer"] = referer
            if method == "POST":
                parts = urllib.parse.urlsplit(referer)
                headers["Origin"] = f"{parts.scheme}://{parts.netloc}"
        for attempt in range(2):
            response = self.http.request(method, url, data=data, headers=headers or None)
            jar.update(url, response.headers.get_list("set-cookie"))
            if response.status != 429:
                return response
            # Throttled still after the one wait allowed: the answer says nothing of the flow (never a refusal).
            wait = retry_after_seconds(response.headers.get("retry-after"))
            if attempt or wait is None or wait > MAX_LOGIN_WAIT:
                raise NotEvaluated("the provider throttles its login pages (HTTP 429"
                                   + (f", Retry-After {wait:g}s" if wait is not None else "") + "); run again later",
                                   exchange=response.exchange)
            time.sleep(wait)
        return response

    def _fill(self, form: Form) -> dict[str, Any]:
        values: dict[str, Any] = {name: value for kind, name, value in form.fields}
        if form.has_password:
            for kind, name, _ in form.fields:
                if kind == "password":
                    values[name] = self.password
                elif kind in ("text", "email") and (name.lower() in USERNAME_FIELDS or len(form.fields) <= 3):
                    values[name] = self.username
        if form.buttons:
            values.setdefault(*form.buttons[0])
        return values


def _short(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _error_hint(response: Response) -> str:
    from ._authz import _ERROR_WORD

    match = _ERROR_WORD.search(response.text[:65536])
    return f" ({match.group(1)})" if match else ""
