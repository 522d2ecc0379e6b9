"""Every default value of the policy, stated once.

The code reads its defaults here; the policy schema documents each one with a ``default`` annotation (and its
description says it in words), and a test holds the schema to this table. A value that depends on another key
("the provider's access_token_max") is a rule the description states; the table holds where that rule ends.

The defaults fit together: the API's ``leeway`` is shorter than ``max_expiry_wait``, with room for a token
that lives a few seconds, so ``api.expired-token`` can run with the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._duration import parse_duration


@dataclass(frozen=True)
class Default:
    """A key's default as the policy would write it, and where the schema declares the key."""

    schema: str  # the schema's ``$defs`` entry that holds the key
    written: Any  # as TOML would write it; the schema's ``default`` annotation is this value


# Policy key (``*`` for a name the user chooses) -> its default.
DEFAULTS: dict[str, Default] = {
    "settings.reports": Default("settings", "reports"),
    "settings.timeout": Default("settings", "10s"),
    "settings.cert_min_days": Default("settings", 21),
    "settings.max_clock_skew": Default("settings", "60s"),
    "settings.max_response_bytes": Default("settings", 2 * 1024 * 1024),
    "settings.retries": Default("settings", 2),
    "settings.concurrency": Default("settings", 8),
    # A client's lifetime bounds fall back to its provider's (access_token_max), then to these.
    "providers.*.access_token_max": Default("oidc_provider", "1h"),
    "clients.*.access_token_max": Default("client", "1h"),
    "clients.*.id_token_max": Default("client", "1h"),  # read once, at login
    "clients.*.refresh_token_max": Default("client", "30d"),
    "clients.*.state": Default("client", "active"),
    "clients.*.grant_types": Default("client", ["authorization_code"]),
    "clients.*.env_pointer": Default("client", ""),  # the JSON document's root (RFC 6901)
    "providers.*.user_token_max": Default("jamf_provider", "30m"),  # Jamf Pro's own default for user tokens
    "apis.*.leeway": Default("api", "60s"),
    # leeway + 30 s: a short_lived token that lives seconds is waited for; a longer one is skipped, saying so.
    "apis.*.max_expiry_wait": Default("api", "90s"),
    "credentials.*.mode": Default("credential_file", "600"),
    "credentials.*.fields": Default("credential_file", ["access_token", "refresh_token", "token_type", "expires_at"]),
}


def default(key: str) -> Any:
    """The default of ``key`` as the policy writes it."""
    return DEFAULTS[key].written


def seconds(key: str) -> float:
    """The default of a duration key, in seconds."""
    return parse_duration(DEFAULTS[key].written)
