"""Authorization request variations more than one check reads (each sent once per run, whoever asks first)."""

from __future__ import annotations

from .._clients import PolicyClient
from .authorization import Variation

# An error redirect any provider must give before a login (errors.rfc6749-format, authz-response.iss read it).
UNKNOWN_RESPONSE_TYPE = Variation.of("an unknown response_type", response_type="authcheck_unknown")
# Silent authentication without a session (prompt-none.login-required, authz-response.iss read it).
PROMPT_NONE = Variation.of("prompt=none", prompt="none")
FRONT_CHANNEL_RESPONSE_TYPES = ("token", "id_token token", "code id_token", "code token", "code id_token token", "id_token")


def response_type_variations(client: PolicyClient) -> list[Variation]:
    """The implicit and hybrid response types the client does not declare, and a plain OAuth implicit request."""
    variations = [Variation.of(f"response_type={t}", response_type=t) for t in FRONT_CHANNEL_RESPONSE_TYPES
                  if t not in client.response_types]
    if "token" not in client.response_types and "openid" in client.scopes:
        # no openid, so no id_token rules apply to it: what a plain OAuth client would send
        plain_scope = " ".join(s for s in client.scopes if s != "openid") or None
        variations.append(Variation.of("response_type=token without openid", response_type="token", scope=plain_scope))
    return variations
