"""Small facts about URLs and hosts that several layers share: origins, host names as compared, loopback addresses."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable

DEFAULT_PORTS = {"https": 443, "http": 80}


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (RFC 8252 §7.3, RFC 6761 §6.3)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_key(host: str) -> str:
    """A host name as the run compares it: lower case, no trailing dot, non-ASCII labels in their IDNA (ASCII) form.

    The HTTP layer sends ``Bücher.Example.`` as ``xn--bcher-kva.example``: every spelling of one host must be one
    key, or a host the policy trusts would be refused under another spelling (and one it does not, let through).
    """
    host = host.strip().rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def url_host(url: str) -> str:
    """``host_key`` of ``url``'s host; ``""`` for a URL without a usable one."""
    try:
        return host_key(urllib.parse.urlsplit(url).hostname or "")
    except ValueError:
        return ""


def policy_hosts(entries: Iterable[object]) -> frozenset[str]:
    """``allowed_hosts`` entries as host keys. Hosts are trusted on every port (credentials go to a host, whatever
    port its URL names), so a port written with an entry (``login.example.com:8443``) does not narrow it."""
    hosts = set()
    for entry in entries:
        text = str(entry).strip()
        if text.count(":") == 1 or text.startswith("["):  # host:port, or a bracketed IPv6 address
            try:
                text = urllib.parse.urlsplit("//" + text).hostname or text
            except ValueError:
                pass
        hosts.add(host_key(text.strip("[]")))
    hosts.discard("")
    return frozenset(hosts)


def origin(url: str) -> str:
    """``scheme://host:port`` with the default port made explicit (RFC 6454 §4); ``""`` for an unusable URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return ""
    return f"{parts.scheme}://{host_key(parts.hostname or '')}:{port}"
