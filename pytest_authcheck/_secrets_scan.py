"""Recognising credentials by their shape, and finding the ones written literally into a policy.

Nothing here ever returns a matched value: a finding says where (key path, line), what kind of
credential it looks like and how long it is, so it can be reported without becoming a leak itself.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .policy.lines import KeyPath

# Shapes that are credentials whatever key holds them (GitGuardian-style detectors, CRED-01).
_STRONG_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("JWT", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    ("URL with an embedded password", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Stripe live key", re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}")),
    ("API key (ek_live_)", re.compile(r"\bek_live_[A-Za-z0-9]{8,}")),
)
_VAR_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$\$")
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_.~-]{20,}")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HIGH_ENTROPY_MIN_LENGTH = 20
# Random base62/base64 strings of 20+ characters score above 4 bits per character; identifiers and
# words (client_secret_basic, refresh_token_rotation) stay well below. Strings of only two character
# classes (ci-deployer-2024-production-v2, hex digests) need more to count as random.
HIGH_ENTROPY_BITS = {3: 3.8, 2: 4.2}
# Keys whose values are identifiers or locations by design: only the strong shapes are looked for there.
PUBLIC_FIELDS = frozenset({
    "client_id", "username", "issuer", "url", "base_url", "audience", "resource", "redirect_uris", "kid",
    "check", "target", "reason", "owner", "ticket", "path", "ca_bundle", "env_file", "env_pointer", "version",
    "request", "principal", "provider", "client", "user", "header", "checks", "reports", "expires",
})
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|_KEY$|^KEY$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """A credential-shaped value: where it is written and what it looks like, never the value."""

    where: str
    line: int | None
    kind: str
    length: int

    def describe(self) -> str:
        """``clients.deployer.client_secret (line 12): a literal of 42 characters``."""
        at = f" (line {self.line})" if self.line else ""
        return f"{self.where}{at}: {self.kind} of {self.length} characters"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for evidence."""
        return {"where": self.where, "line": self.line, "kind": self.kind, "length": self.length}


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for an empty string)."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(candidate: str) -> bool:
    if len(candidate) < HIGH_ENTROPY_MIN_LENGTH or _UUID.match(candidate):
        return False
    classes = sum(bool(re.search(p, candidate)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    digits = sum(c.isdigit() for c in candidate)
    return classes >= 2 and digits >= 2 and shannon_entropy(candidate) >= HIGH_ENTROPY_BITS[classes]


def credential_kind(value: str, *, entropy: bool = True) -> str | None:
    """What kind of credential ``value`` looks like ("JWT", "PEM private key", ...), or None.

    ``entropy`` also flags random-looking strings; ``${VAR}`` references are not part of what is judged.
    """
    text = _VAR_REFERENCE.sub(" ", value)
    for kind, pattern in _STRONG_PATTERNS:
        if pattern.search(text):
            return kind
    if entropy and "://" not in text and not text.lstrip().startswith(("/", "~", "./", "../")):
        if any(_looks_random(c) for c in _CANDIDATE.findall(text)):
            return "high-entropy string"
    return None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (JAMF_PASSWORD, API_KEY ...)."""
    return bool(SECRET_NAME.search(name))


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_name(path: KeyPath) -> str:
    return next((p for p in reversed(path) if isinstance(p, str)), "")


def _strings(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))
    elif isinstance(value, str):
        yield path, value


def secret_field_paths(document: Mapping[str, Any], secret_fields: frozenset[str]) -> list[str]:
    """The dotted key paths of every non-empty secret field (what ``literal_secret_fields`` looks at)."""
    return [_dotted(path) for path, value in _strings(document) if value and _field_name(path) in secret_fields]


def scanned_counts(document: Mapping[str, Any], secret_fields: frozenset[str], source: str) -> dict[str, int]:
    """How many values and comments ``credential_values`` and ``credential_comments`` look at."""
    values = sum(1 for path, _ in _strings(document) if _field_name(path) not in secret_fields)
    return {"values": values, "comments": sum(1 for _ in _comments(source))}


def literal_secret_fields(document: Mapping[str, Any], secret_fields: frozenset[str],
                          line_of: Any) -> list[Finding]:
    """Secret fields whose value is written out instead of referenced as ``${VAR}``.

    A value mixing references and text (``"Bearer ${TOKEN}"``) is literal only when the text itself
    looks like a credential. ``line_of(*path)`` gives the line of a key path.
    """
    findings = []
    for path, value in _strings(document):
        if _field_name(path) not in secret_fields or not value:
            continue
        if _VAR_REFERENCE.search(value):
            kind = credential_kind(value)
            if kind is None:
                continue
            kind = f"a {kind} written beside a ${{VAR}} reference"
        else:
            kind = "a literal value"
        findings.append(Finding(_dotted(path), line_of(*path), kind, len(value)))
    return findings


def credential_values(document: Mapping[str, Any], secret_fields: frozenset[str], line_of: Any) -> list[Finding]:
    """Credential-shaped strings in any other value of the policy (secret fields are judged by
    ``literal_secret_fields``); identifiers and locations are searched for strong shapes only."""
    findings = []
    for path, value in _strings(document):
        name = _field_name(path)
        if name in secret_fields:
            continue
        kind = credential_kind(value, entropy=name not in PUBLIC_FIELDS)
        if kind is not None:
            findings.append(Finding(_dotted(path), line_of(*path), f"a {kind}", len(value)))
    return findings


def credential_comments(source: str) -> list[Finding]:
    """Credential-shaped text in the policy's comments (a pasted token is a leak there too)."""
    findings = []
    for number, comment in _comments(source):
        for kind, pattern in _STRONG_PATTERNS:
            match = pattern.search(comment)
            if match:
                findings.append(Finding("comment", number, f"a {kind}", len(match.group(0))))
                break
    return findings


def _comments(source: str) -> Iterator[tuple[int, str]]:
    """(line number, comment text) for each TOML comment, skipping ``#`` inside strings."""
    multiline: str | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        index, quote = 0, None
        while index < len(line):
            if multiline is not None:
                end = line.find(multiline, index)
                if end < 0:
                    break
                index, multiline = end + 3, None
                continue
            char = line[index]
            if quote is None:
                if line.startswith(('"""', "'''"), index):
                    multiline = line[index:index + 3]
                    index += 3
                    continue
                if char in "\"'":
                    quote = char
                elif char == "#":
                    yield number, line[index + 1:]
                    break
            elif char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
            index += 1
