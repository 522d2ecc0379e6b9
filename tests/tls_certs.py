"""Leaf certificates of each kind the tls checks tell apart, for the test servers (the IdP world, the Jamf simulator).

``good`` is valid for its host, ``expired`` ended a day ago, ``expiring`` ends in five days (inside the default
``cert_min_days`` of 21), ``untrusted`` is issued by a CA the client is not given, ``wrong-host`` names another host.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import trustme

CERT_KINDS = ("good", "expired", "expiring", "untrusted", "wrong-host")


def issue_leaf(ca: trustme.CA, kind: str, identities: Sequence[str], *, wrong_host: str) -> trustme.LeafCert:
    """A leaf of ``kind`` for ``identities`` from ``ca`` (for ``untrusted``, pass a CA the client does not trust)."""
    if kind not in CERT_KINDS:
        raise ValueError(f"unknown cert kind {kind!r}; one of {CERT_KINDS}")
    now = datetime.now(UTC)
    kwargs: dict[str, Any] = {}
    if kind == "expired":
        kwargs = {"not_before": now - timedelta(days=60), "not_after": now - timedelta(days=1)}
    elif kind == "expiring":
        kwargs = {"not_before": now - timedelta(days=1), "not_after": now + timedelta(days=5)}
    elif kind == "wrong-host":
        identities = [wrong_host]
    return ca.issue_cert(*identities, **kwargs)


def server_context(leaf: trustme.LeafCert, *, legacy: bool = False) -> ssl.SSLContext:
    """A server context presenting ``leaf``; ``legacy`` accepts TLS 1.0 and 1.1 too (as old servers still do)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    if legacy:
        with warnings.catch_warnings():
            # offering a deprecated version is the point of this server
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
