"""Small facts about URLs and hosts that several layers share: origins and loopback addresses."""

from __future__ import annotations

import ipaddress
import urllib.parse

DEFAULT_PORTS = {"https": 443, "http": 80}


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (RFC 8252 §7.3, RFC 6761 §6.3)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """``scheme://host:port`` with the default port made explicit (RFC 6454 §4); ``""`` for an unusable URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
