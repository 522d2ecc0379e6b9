"""Whether a token the run holds still works, as the provider shows it: introspection, userinfo, or using it.

Each way answers ``works``, ``dead`` or nothing (the provider does not say: no endpoint, a refusal to introspect,
a self-contained token userinfo does not take). Using a refresh token spends it, so that comes last and only for
tokens minted for the check that asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._clients import PolicyClient
from .._http import Exchange, HttpClient, Response
from .._redact import Secret
from ..observations import observe_token

WORKS = "works"
DEAD = "dead"


@dataclass
class TokenState:
    """What each way showed (``{"introspection": "dead", ...}``) and the exchanges behind it."""

    seen: dict[str, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        """``works`` when any way shows it working, ``dead`` when every way that answered shows it dead."""
        if WORKS in self.seen.values():
            return WORKS
        return DEAD if self.seen else None


def token_state(http: HttpClient, client: PolicyClient, metadata: Mapping[str, Any], token: Secret, *, refresh: bool,
                send_refresh: Callable[[dict[str, Any]], Response] | None = None) -> TokenState:
    """How the provider shows ``token`` (a refresh token when ``refresh``) now; ``send_refresh`` lets it be used."""
    result = TokenState()
    introspection = metadata.get("introspection_endpoint")
    if isinstance(introspection, str):
        form, auth = client.credentials({"token": token, "token_type_hint": "refresh_token" if refresh else "access_token"})
        response = http.post(introspection, data=form, auth=auth)
        result.exchanges.append(response.exchange)
        active = _json_object(response).get("active") if response.status == 200 else None
        if isinstance(active, bool):
            result.seen["introspection"] = WORKS if active else DEAD
    userinfo = metadata.get("userinfo_endpoint")
    if not refresh and isinstance(userinfo, str):
        response = http.get(userinfo, headers={"Authorization": Secret(f"Bearer {token.reveal()}", label="bearer")})
        result.exchanges.append(response.exchange)
        if response.status == 200:
            result.seen["userinfo"] = WORKS
        elif response.status == 401:
            result.seen["userinfo"] = DEAD
    if refresh and send_refresh is not None:
        response = send_refresh({"grant_type": "refresh_token", "refresh_token": token})
        result.exchanges.append(response.exchange)
        answer = observe_token(response)
        if answer.accepted:
            result.seen["refresh with it"] = WORKS
        elif answer.refused:
            result.seen["refresh with it"] = DEAD
    return result


def _json_object(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}
