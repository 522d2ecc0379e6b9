"""Secrets and their removal from everything the plugin writes or shows.

Redaction happens at one choke point (the HTTP layer's evidence capture, the report hooks and the log
record factory all call the run's ``Redactor``) in three ways: by value (every resolved secret and
every token obtained during the run, plus their URL and base64 encodings), by key name (headers,
form fields and JSON members that carry credentials) and by structure (private members of a JWK).
A regular expression for JWTs catches tokens the run never saw, e.g. ones a user's own check prints.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

import ahocorasick

MASK = "[REDACTED]"

# Names whose values are credentials wherever they appear: headers, form fields, JSON members.
SECRET_KEYS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api_key", "api-key",
    "client_secret", "password", "secret", "access_token", "refresh_token", "id_token", "token",
    "code", "code_verifier", "assertion", "client_assertion", "device_code", "subject_token",
    "actor_token", "registration_access_token",
})
# Private members of RSA/EC/OKP/oct JWKs (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words; the policy refuses them anyway
# Each key is a chain of automaton nodes, a few bytes per character: eight random characters of a token's end tell
# it from any text as well as twenty-four do (a hit is confirmed against the whole form's length and digest), at a
# third of the memory (20,000 tokens: 11.8 MiB with twelve, 8.4 with eight; 24 took twice twelve's).
_KEY_LENGTH = 8
# What the redactor keeps of a secret form to confirm a hit: its length and a digest, not the form itself (a token is
# some 700 characters, and a run keeps every token it receives: 28 MiB of them at ten thousand clients).
_DIGEST_SIZE = 16
_LENGTH_SIZE = 4


class Secret:
    """A secret value whose ``repr`` and ``str`` never show it (safe in ``--showlocals``)."""

    __slots__ = ("_value", "label")

    def __init__(self, value: str, label: str = "secret") -> None:
        self._value = value
        self.label = label

    def reveal(self) -> str:
        """Return the real value; call it only where the value goes onto the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.label}={MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def reveal(value: Any) -> Any:
    """The plain value of a ``Secret``; anything else is returned unchanged."""
    return value.reveal() if isinstance(value, Secret) else value


class Redactor:
    """Replaces every known secret in text and in JSON-like structures with ``[REDACTED]``.

    Matching costs the same per character scanned however many secrets the run holds: secrets are found
    by an Aho-Corasick automaton over their last ``_KEY_LENGTH`` characters (tokens share headers, not
    signatures), and each hit is confirmed against the whole secret's length and digest (``fingerprint``),
    which is all the redactor keeps of it besides its last characters. Secrets arrive one at a time (every
    token the run receives), so automata are kept in levels of doubling size, like an LSM tree: adding a
    secret rebuilds only levels of about its own size, and a scan walks log(n) automata.
    """

    def __init__(self, secrets: Iterable[str | Secret] = ()) -> None:
        # a key (a form's last characters) -> the record (length and digest) of the first form ending so
        self._by_key: dict[str, bytes] = {}
        # a key several forms end with -> their lengths, and the records of all those forms in one set: a hit or an
        # addition is confirmed by one digest per length and a set lookup each, whatever the number of forms sharing
        # the key (tokens sharing their last characters, as a hostile provider may send them, made each cost as much
        # as every token received before)
        self._lengths: dict[str, frozenset[int]] = {}
        self._shared: set[bytes] = set()
        self._known = 0
        self._levels: tuple[_Level, ...] = ()
        # a text shorter than every secret form holds none: most evidence strings ("refused", "HTTP 400") are, and
        # are not scanned at all
        self._shortest = 0
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *values: Any) -> None:
        """Register values to hide from now on (their encodings are registered too)."""
        forms: set[str] = set()
        for value in values:
            value = reveal(value)
            # a value known already came with its encodings: every token request registers its client's Basic pair
            if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH and not self._holds(value):
                forms |= _encodings(value)
        with self._lock:
            fresh = [form for form in forms if not self._holds(form)]
            if not fresh:
                return
            self._known += len(fresh)
            shortest = min(len(form) for form in fresh)
            self._shortest = shortest if not self._shortest else min(self._shortest, shortest)
            keys = set()
            for form in fresh:
                key = form[-_KEY_LENGTH:]
                first = self._by_key.get(key)
                if first is None:
                    keys.add(key)
                    self._by_key[key] = _record(form)
                    continue
                # the records first, then the lengths that send a scan to them: a scan without the lock (text) never
                # sees a key shared before the first form's record is in the set
                self._shared |= {first, _record(form)}
                self._lengths[key] = self._lengths.get(key, frozenset({_length_of(first)})) | {len(form)}
            levels = list(self._levels)
            if keys:
                levels.append(_Level.of(keys))
            while len(levels) > 1 and len(levels[-2].keys) <= 2 * len(levels[-1].keys):
                top = levels.pop()
                levels[-1] = _Level.of(levels[-1].keys | top.keys)
            self._levels = tuple(levels)

    def add_basic_credentials(self, user: str, password: str) -> None:
        """Hide an HTTP Basic pair in its base64 form as well."""
        pair = f"{user}:{password}".encode()
        self.add(base64.b64encode(pair).decode())

    @property
    def known(self) -> int:
        """How many secret forms are registered (for the report's self-check)."""
        return self._known

    def _holds(self, form: str) -> bool:
        return self._has(form[-_KEY_LENGTH:], _record(form))

    def _has(self, key: str, record: bytes) -> bool:
        return record in self._shared if key in self._lengths else self._by_key.get(key) == record

    def _starts(self, text: str, stop: int, key: str) -> Iterator[int]:
        """Where the secret forms ending at ``stop`` with ``key`` start in ``text`` (a form may end another)."""
        lengths = self._lengths.get(key)
        for length in (_length_of(self._by_key.get(key, b"")),) if lengths is None else lengths:
            start = stop - length
            if start >= 0 and self._has(key, _record(text[start:stop])):
                yield start

    def text(self, text: str) -> str:
        """Redact a string by value and by JWT shape."""
        if not text:
            return text
        levels = self._levels
        if levels and len(text) >= self._shortest:
            spans = self._spans(text, levels)
            if spans:
                text = _masked(text, spans)
        if "eyJ" in text:
            text = _JWT.sub(MASK, text)
        return text

    def _spans(self, text: str, levels: tuple[_Level, ...]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for level in levels:
            for end, key in level.automaton.iter(text):
                spans += ((start, end + 1) for start in self._starts(text, end + 1, key))
        return spans

    def data(self, value: Any) -> Any:
        """Redact a JSON-like structure by value and by JWK structure (expected, observed, facts, claims).

        Key names are left alone here: ``{"password": "refused"}`` is a finding about the password grant, and
        every secret the run holds or received is hidden by value wherever it appears.
        """
        return self._walk(value, by_key=False)

    def wire(self, value: Any) -> Any:
        """Redact a JSON body seen on the wire: also by member name, since it may carry credentials the run
        never learned (another party's tokens, a session handle)."""
        return self._walk(value, by_key=True)

    def _walk(self, value: Any, *, by_key: bool, key: str | None = None) -> Any:
        if isinstance(value, Secret):
            return MASK
        if by_key and key is not None and key.lower() in SECRET_KEYS and value not in (None, "", [], {}) \
                and isinstance(value, (str, int, float, bool)):
            return MASK
        if isinstance(value, dict):
            is_jwk = "kty" in value
            return {k: MASK if is_jwk and k in PRIVATE_JWK_MEMBERS else self._walk(v, by_key=by_key, key=str(k))
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v, by_key=by_key) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[list[str]]:
        """Redact HTTP headers: credential-bearing headers lose their value, keeping the scheme."""
        out = []
        for name, value in headers:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                scheme = value.split(" ", 1)[0] if " " in value else ""
                value = f"{scheme} {MASK}".strip()
            elif lower in SECRET_KEYS:
                value = MASK
            elif lower in ("location", "content-location", "refresh"):
                # authorization responses carry the code (query) or tokens (fragment) in the redirect
                value = self.url(value)
            else:
                value = self.text(value)
            out.append([name, value])
        return out

    def url(self, url: str) -> str:
        """Redact credentials in a URL's userinfo and in query parameters with secret names."""
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            query = urllib.parse.urlencode(
                [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="[]"
            )
        fragment = parts.fragment
        if fragment and "=" in fragment:
            pairs = urllib.parse.parse_qsl(fragment, keep_blank_values=True)
            fragment = urllib.parse.urlencode(
                [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="[]"
            )
        return self.text(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment)))

    def form(self, body: str) -> str:
        """Redact an ``application/x-www-form-urlencoded`` body by field name and value."""
        pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
        if not pairs:
            return self.text(body)
        return self.text(urllib.parse.urlencode(
            [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="[]"
        ))


class _Level:
    """One automaton over the match keys (secret suffixes) of a batch of secrets."""

    __slots__ = ("automaton", "keys")

    def __init__(self, keys: set[str], automaton: Any) -> None:
        self.keys = keys
        self.automaton = automaton

    @classmethod
    def of(cls, keys: set[str]) -> _Level:
        automaton = ahocorasick.Automaton()
        for key in keys:
            automaton.add_word(key, key)
        automaton.make_automaton()
        return cls(keys, automaton)


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the union of ``spans`` replaced by one mask per contiguous run."""
    spans.sort()
    out: list[str] = []
    position = 0
    run_start, run_stop = spans[0]
    for start, stop in spans[1:]:
        if start <= run_stop:
            run_stop = max(run_stop, stop)
            continue
        out += (text[position:run_start], MASK)
        position = run_stop
        run_start, run_stop = start, stop
    out += (text[position:run_start], MASK, text[run_stop:])
    return "".join(out)


def fingerprint(text: str) -> bytes:
    """A digest standing for a secret value where it is only to be recognised again, never shown or sent."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_DIGEST_SIZE).digest()


def _record(form: str) -> bytes:
    return len(form).to_bytes(_LENGTH_SIZE, "big") + fingerprint(form)


def _length_of(record: bytes) -> int:
    """The length of the form ``record`` stands for (0 for no record)."""
    return int.from_bytes(record[:_LENGTH_SIZE], "big")


def _encodings(value: str) -> set[str]:
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    return {f for f in forms if len(f) >= _MIN_SECRET_LENGTH}
