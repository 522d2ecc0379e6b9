"""Whether a token the run holds still works, as the provider shows it: introspection, userinfo, or using it.

Each way answers ``works``, ``dead`` or nothing (no endpoint, a refusal to introspect, a token userinfo does not
take). A way is read before the event under test (a replay, a revocation) and after it: only a way that showed the
token working before can show it dead after, since a provider that never introspects its self-contained tokens, or a
userinfo endpoint that wants a scope the token lacks, answers "dead" before and after alike. Using a refresh token
spends it, so that comes last, after the event, and only for tokens minted for the check that asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from .._clients import PolicyClient
from .._http import Exchange, HttpClient, Response
from .._redact import Secret
from ..observations import NotEvaluated, Observation, introspected_state, observe_introspection, observe_token
from .once import Once
from .userinfo import UserinfoProbes

WORKS = "works"
_HELD = "held tokens introspected"
DEAD = "dead"


def introspect_held(http: HttpClient, memo: dict[Any, Any], client: PolicyClient, endpoint: str,
                    token: Secret) -> Observation:
    """``client`` introspecting a token the run holds and never revokes (a shared client-credentials token, a cached
    login's), once per run: introspection.isolation's control and revocation.revoked-inactive's "does introspection
    show such a token at all" ask the same question of the same token."""
    def introspect() -> Observation:
        form, auth = client.credentials({"token": token})
        return observe_introspection(http.post(endpoint, data=form, auth=auth))

    answer: Observation = held_answers(memo).get((endpoint, client.name, token), introspect)
    return answer


def held_answers(memo: dict[Any, Any]) -> Once:
    """Where ``introspect_held``'s answers are kept for the run."""
    # sent ahead by the prefetch as well; a request that failed is asked again by the next check, as before
    held: Once = memo.setdefault(_HELD, Once(keep_failures=False))
    return held


@dataclass
class TokenState:
    """What each way showed (``{"introspection": "dead", ...}``), the ways that could not tell and why, and the
    exchanges behind it."""

    seen: dict[str, str] = field(default_factory=dict)
    unseen: dict[str, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        """``works`` when any way shows it working, ``dead`` when every way that answered shows it dead."""
        if WORKS in self.seen.values():
            return WORKS
        return DEAD if self.seen else None

    def read(self, way: str, answer: Observation) -> None:
        """Record what ``answer`` shows by ``way``: accepted works, refused dead, anything else cannot tell."""
        self.exchanges.extend(answer.exchanges)
        if answer.decisive:
            self.seen[way] = WORKS if answer.accepted else DEAD
        else:
            self.unseen[way] = answer.summary

    def why_unseen(self) -> str:
        """The ways that could not tell and why (``introspection: ...; userinfo: ...``), for a reason."""
        return "; ".join(f"{way}: {reason}" for way, reason in self.unseen.items())

    def working(self) -> list[str]:
        """The ways that show the token working."""
        return [way for way, value in self.seen.items() if value == WORKS]


@dataclass(frozen=True)
class TokenWatch:
    """The non-spending ways to ask about one client's tokens: its introspection endpoint and its provider's userinfo."""

    http: HttpClient
    client: PolicyClient
    metadata: Mapping[str, Any]
    userinfo: UserinfoProbes | None = None

    def look(self, token: Secret, *, refresh: bool) -> TokenState:
        """What introspection and (for an access token) userinfo show about ``token`` now."""
        result = TokenState()
        introspection = self.metadata.get("introspection_endpoint")
        if isinstance(introspection, str):
            hint = "refresh_token" if refresh else "access_token"
            form, auth = self.client.credentials({"token": token, "token_type_hint": hint})
            answer = observe_introspection(self.http.post(introspection, data=form, auth=auth))
            result.exchanges.extend(answer.exchanges)
            state = introspected_state(answer)
            if state is not None:
                result.seen["introspection"] = WORKS if state == "active" else DEAD
            else:
                result.unseen["introspection"] = answer.summary
        if not refresh and self.userinfo is not None:
            try:
                answer = self.userinfo.ask(self.client.provider, token)
            except NotEvaluated as exc:
                result.unseen["userinfo"] = str(exc)
            except pytest.skip.Exception as exc:
                result.unseen["userinfo"] = exc.msg or "skipped"
            else:
                result.read("userinfo", answer)
        return result

    def after(self, token: Secret, before: TokenState, *, refresh: bool,
              send_refresh: Callable[[dict[str, Any]], Response] | None = None) -> TokenState:
        """How the provider shows ``token`` after the event, read against ``before``; ``send_refresh`` lets a refresh
        token be used (spent) as the last way."""
        result = self.look(token, refresh=refresh)
        for way, value in list(result.seen.items()):
            if value == DEAD and before.seen.get(way) != WORKS:
                del result.seen[way]
                result.unseen[way] = "it did not show the token working before the event either"
        if refresh and send_refresh is not None:
            result.read("refresh with it", observe_token(send_refresh({"grant_type": "refresh_token",
                                                                         "refresh_token": token})))
        return result
