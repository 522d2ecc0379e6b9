"""The Jamf Pro URL as written in a policy: normalised where the intent is clear, refused where it is not.

JamfMCP's troubleshooting guide lists the usual mistakes (missing scheme, trailing slash, wrong port), and
its code mishandles others (a custom port becomes ``host:8443:443``, a context path is dropped, upper-case
``HTTPS://`` is not recognised). Here: a missing scheme means https, a trailing slash and the default
port are dropped, the scheme and host are lower-cased; a custom port and an on-premises context path are
kept (they are real) with a note; plain http, credentials, a query, a fragment or an API path are refused.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
API_PATHS = ("/api", "/jssresource", "/uapi")


class JamfUrlError(ValueError):
    """The URL cannot be used as a Jamf Pro base URL; the message says why and what to write."""


@dataclass(frozen=True)
class JamfUrl:
    """A usable base URL and what was changed (``normalised``) or kept with a warning (``notes``)."""

    written: str
    url: str
    normalised: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())


def lint_url(written: str) -> JamfUrl:
    """Normalise ``written`` or raise ``JamfUrlError``."""
    text = written.strip()
    changes: list[str] = []
    notes: list[str] = []
    if text != written:
        changes.append("surrounding whitespace removed")
    if not text:
        raise JamfUrlError("the Jamf Pro URL is empty; write it as https://your-server.jamfcloud.com")
    scheme_match = _SCHEME.match(text)
    if scheme_match is None:
        if "://" in text or text.startswith("//"):
            raise JamfUrlError(f"{written!r} is not a URL; write it as https://your-server.jamfcloud.com")
        text = "https://" + text
        changes.append("no scheme: https:// assumed")
    elif scheme_match.group(1) != scheme_match.group(1).lower():
        changes.append(f"scheme {scheme_match.group(1)!r} lower-cased")
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise JamfUrlError(f"{written!r} uses plain http: Jamf Pro credentials and tokens would travel "
                           "unencrypted; use https://")
    if scheme != "https":
        raise JamfUrlError(f"{written!r} has scheme {scheme!r}; a Jamf Pro URL is https://")
    if parts.username is not None or parts.password is not None:
        raise JamfUrlError("the Jamf Pro URL carries credentials; put them in username/password, not in the URL")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise JamfUrlError(f"{written!r} has a query or fragment; a Jamf Pro base URL has neither")
    try:
        port = parts.port
    except ValueError:
        raise JamfUrlError(f"{written!r} has an invalid port") from None
    host = parts.hostname or ""
    if not host:
        raise JamfUrlError(f"{written!r} names no host; write it as https://your-server.jamfcloud.com")
    raw_host = parts.netloc
    raw_host = raw_host[1:raw_host.find("]")] if raw_host.startswith("[") else raw_host.split(":", 1)[0]
    if raw_host != host:
        changes.append("host lower-cased")
    path = parts.path
    if path.endswith("/"):
        path = path.rstrip("/")
        changes.append("trailing slash removed")
    if any(path.lower() == p or path.lower().startswith(p + "/") for p in API_PATHS):
        raise JamfUrlError(f"{written!r} includes the API path {path!r}; the URL is the server's base, "
                           "e.g. https://your-server.jamfcloud.com (the checks add /api/... themselves)")
    if path:
        notes.append(f"context path {path!r} kept (an on-premises Tomcat context); JamfMCP drops paths and "
                     "would call the server's root instead")
    netloc = f"[{host}]" if ":" in host else host
    if port == 443:
        changes.append("default port 443 removed")
    elif port is not None:
        netloc = f"{netloc}:{port}"
        notes.append(f"custom port {port} kept; JamfMCP 1.0.x appends :443 to the host it is given "
                     f"(https://{netloc}:443), so check that such clients can connect")
    return JamfUrl(written=written, url=f"https://{netloc}{path}", normalised=tuple(changes), notes=tuple(notes))
