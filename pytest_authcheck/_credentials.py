"""Credentials files on this machine: where they are, who may read them, what they hold.

Everything here is local and offline (``os.stat``, reading a file, decoding a JWT, clock arithmetic),
except ``signature_problem`` which needs the provider's JWK Set handed to it. Tokens read from a file
are wrapped in ``Secret`` at once and registered with the run's redactor by the fixture that reads them.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from ._files import read_text_capped
from ._jwt import decode_unverified
from ._redact import PRIVATE_JWK_MEMBERS, Secret
from .policy.defaults import default

DEFAULT_MODE = int(default("credentials.*.mode"), 8)
DEFAULT_FIELDS = tuple(default("credentials.*.fields"))
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")
TOKEN_TYPES = ("bearer", "dpop")
MAX_FILE_BYTES = 1024 * 1024
_BIT_NAMES = ((stat.S_IRGRP, "group read"), (stat.S_IWGRP, "group write"), (stat.S_IXGRP, "group execute"),
              (stat.S_IROTH, "others read"), (stat.S_IWOTH, "others write"), (stat.S_IXOTH, "others execute"),
              (stat.S_IRUSR, "owner read"), (stat.S_IWUSR, "owner write"), (stat.S_IXUSR, "owner execute"),
              (stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"))


class CredentialsUnreadable(Exception):
    """The file cannot be read as a JSON object; ``str()`` says why without quoting its content."""


# ---- the file on disk -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileFacts:
    """What ``stat`` says about a file and its directory (symlinks followed, and noted)."""

    path: Path
    exists: bool
    kind: str | None = None
    symlink_to: str | None = None
    mode: int | None = None
    uid: int | None = None
    size: int | None = None
    directory: Path | None = None
    dir_mode: int | None = None
    dir_uid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able facts for evidence (modes in octal, owners with their names)."""
        out: dict[str, Any] = {"path": str(self.path), "exists": self.exists}
        if self.exists:
            out.update(kind=self.kind, mode=format_mode(self.mode), owner=describe_user(self.uid), size=self.size)
        if self.symlink_to is not None:
            out["symlink_to"] = self.symlink_to
        if self.directory is not None:
            out.update(directory=str(self.directory), directory_mode=format_mode(self.dir_mode),
                       directory_owner=describe_user(self.dir_uid))
        return out


def inspect_file(path: Path) -> FileFacts:
    """Stat ``path`` (following a symlink) and its directory."""
    symlink_to = None
    try:
        if path.is_symlink():
            symlink_to = os.readlink(path)
        info = path.stat()
    except FileNotFoundError:
        return FileFacts(path=path, exists=False, symlink_to=symlink_to)
    except OSError as exc:
        return FileFacts(path=path, exists=False, kind=f"unreadable ({exc.strerror})", symlink_to=symlink_to)
    real = path.resolve()
    directory = real.parent
    dir_mode: int | None
    dir_uid: int | None
    try:
        dir_info = directory.stat()
        dir_mode, dir_uid = stat.S_IMODE(dir_info.st_mode), dir_info.st_uid
    except OSError:
        dir_mode = dir_uid = None
    return FileFacts(path=path, exists=True, kind=file_kind(info.st_mode), symlink_to=symlink_to,
                     mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, size=info.st_size,
                     directory=directory, dir_mode=dir_mode, dir_uid=dir_uid)


def file_kind(mode: int) -> str:
    """``regular file``, ``directory``, ``FIFO`` ..."""
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def format_mode(mode: int | None) -> str | None:
    """``0o600`` -> ``"0600"``."""
    return None if mode is None else f"{mode:04o}"


def excess_bits(mode: int, allowed: int) -> int:
    """The permission bits ``mode`` grants beyond ``allowed`` (0 when it is as strict or stricter)."""
    return mode & ~allowed & 0o7777


def describe_bits(bits: int) -> str:
    """``0o044`` -> ``"group read, others read"``."""
    return ", ".join(name for bit, name in _BIT_NAMES if bits & bit)


def current_uid() -> int | None:
    """The effective user id of this process (None where there is none, on Windows)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid is not None else None


def describe_user(uid: int | None) -> str | None:
    """``"uid 0 (root)"``; the name only when the system knows it."""
    if uid is None:
        return None
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (ImportError, KeyError):
        return f"uid {uid}"


# ---- the file's content -----------------------------------------------------------------------------
def read_json_object(path: Path, limit: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """The file's JSON object; ``CredentialsUnreadable`` (naming the problem, never the content) otherwise."""
    text = read_text_capped(path, limit, CredentialsUnreadable)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: str(exc) is safe too, but the document must never be quoted.
        raise CredentialsUnreadable(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                                    f"column {exc.colno}") from None
    except RecursionError:
        raise CredentialsUnreadable(f"{path} is JSON nested too deeply to read") from None
    if not isinstance(document, dict):
        raise CredentialsUnreadable(f"{path} holds JSON {type(document).__name__}, not an object")
    return document


def shape_problems(document: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    """What makes the stored credentials differ from the declared shape (types only, never values)."""
    problems = []
    for name in fields:
        if name not in document:
            problems.append(f"no {name}")
    for name in TOKEN_FIELDS:
        if name in document and (not isinstance(document[name], str) or not document[name].strip()):
            problems.append(f"{name} is {_json_type(document[name])}, not a non-empty string")
    token_type = document.get("token_type")
    if "token_type" in document and (not isinstance(token_type, str) or token_type.lower() not in TOKEN_TYPES):
        shown = repr(token_type[:20]) if isinstance(token_type, str) else _json_type(token_type)
        problems.append(f"token_type is {shown}, not Bearer or DPoP")
    if "expires_at" in document:
        try:
            parse_expires_at(document["expires_at"])
        except ValueError as exc:
            problems.append(f"expires_at {exc}")
    return problems


def parse_expires_at(value: Any) -> datetime:
    """``expires_at`` as an aware UTC datetime: RFC 3339 text with an offset, or seconds since the epoch."""
    if isinstance(value, bool):
        raise ValueError("is a boolean, not a time")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("is a number out of range for a time") from None
    if not isinstance(value, str):
        raise ValueError(f"is {_json_type(value)}, not an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value[:40]!r} has no time zone offset")
    return parsed.astimezone(UTC)


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


# ---- the stored token -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredToken:
    """The access token of a credentials file (a ``Secret``), its decoded JWT parts and stored expiry."""

    access_token: Secret
    refresh_token: Secret | None
    expires_at: datetime | None
    header: dict[str, Any] | None
    claims: dict[str, Any] | None

    @property
    def is_jwt(self) -> bool:
        """Whether the access token's header and claims could be read."""
        return self.claims is not None

    @property
    def exp(self) -> datetime | None:
        """The ``exp`` claim as a UTC datetime, when it is a usable number."""
        value = (self.claims or {}).get("exp")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None


def stored_token(document: Mapping[str, Any], label: str) -> StoredToken | None:
    """The token in ``document``, or None when it holds no usable access token."""
    access = document.get("access_token")
    if not isinstance(access, str) or not access.strip():
        return None
    refresh = document.get("refresh_token")
    try:
        expires_at = parse_expires_at(document["expires_at"]) if "expires_at" in document else None
    except ValueError:
        expires_at = None
    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    try:
        header, claims = decode_unverified(access)
    except ValueError:
        header = claims = None
    return StoredToken(access_token=Secret(access, label=f"{label}.access_token"),
                       refresh_token=Secret(refresh, label=f"{label}.refresh_token")
                       if isinstance(refresh, str) and refresh else None,
                       expires_at=expires_at, header=header, claims=claims)


def audiences(claims: Mapping[str, Any]) -> list[str]:
    """The ``aud`` claim as a list of strings (RFC 7519 §4.1.3: a string or an array)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


# ---- time -------------------------------------------------------------------------------------------
def utcnow() -> datetime:
    """Now, in UTC (one place, so tests can freeze it)."""
    return datetime.now(UTC)


def seconds_until(moment: datetime, now: datetime | None = None) -> float:
    """Seconds from now until ``moment`` (negative when it has passed)."""
    return (moment - (now or utcnow())).total_seconds()


def expiry_state(expires: datetime, window: float | None = None, now: datetime | None = None) -> str:
    """``expired``, ``expiring`` (within ``window`` seconds) or ``valid``."""
    left = seconds_until(expires, now)
    if left <= 0:
        return "expired"
    if window is not None and left <= window:
        return "expiring"
    return "valid"


def human_duration(seconds: float) -> str:
    """``11700`` -> ``"3h 15m"``; days, hours and minutes, or seconds below a minute."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p)


def format_time(moment: datetime) -> str:
    """``2026-02-24T00:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- signature ----------------------------------------------------------------------------------------
def signature_problem(token: str, header: Mapping[str, Any], jwks: Mapping[str, Any]) -> str | None:
    """Why ``token`` does not verify with a key of ``jwks`` (None when it does).

    Only asymmetric algorithms count: a token signed with ``none`` or an HMAC secret cannot be checked
    against published keys. Time claims are not judged here; expiry has its own checks.
    """
    alg = header.get("alg")
    if not isinstance(alg, str) or alg == "none" or alg.startswith("HS"):
        return f"it is signed with alg {alg!r}, which no published key can verify"
    keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict)] if isinstance(jwks.get("keys"), list) else []
    kid = header.get("kid")
    candidates = [k for k in keys if k.get("kid") == kid] if kid is not None else keys
    if not candidates:
        published = ", ".join(repr(k.get("kid")) for k in keys) or "none"
        return f"its kid {str(kid)[:60]!r} is not in the provider's JWK Set (published kids: {published})"
    for key in candidates:
        try:
            public = jwt.PyJWK.from_dict({k: v for k, v in key.items() if k not in PRIVATE_JWK_MEMBERS}, algorithm=alg)
            jwt.decode(token, key=public.key, algorithms=[alg],
                       options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                                "verify_nbf": False, "verify_iss": False, "verify_sub": False, "verify_jti": False})
            return None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
    return f"its signature ({alg}, kid {str(kid)[:60]!r}) does not verify with the provider's published key(s)"
