"""The token requests that show how a client authenticates, and what their answers prove.

Each is one named probe of ``TokenProbes`` (sent once per run): the client's declared authentication with a
harmless request, the same with a wrong secret, with another method, without a secret, and as a client_id
nobody registered. A harmless request is one the server must authenticate and may then refuse: a client
credentials grant for a client that declares it (a token minted for this run only), else a code that was never
issued. Answers are compared, never read alone: a server that checks the code before the client says
``invalid_grant`` to both the right and a wrong secret, and then nothing about the secret can be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._authz import random_token
from .._clients import PolicyClient
from .._http import Exchange
from ..observations import NotEvaluated, Observation
from .token import TokenProbe, TokenProbes
from .variations import BOGUS_CODE, UNDECLARED_GRANT_PROBES, UNKNOWN_GRANT, UNKNOWN_SUFFIX, scope_request

# Made once per run: the same wrong secret in every probe, so equal requests stay equal.
WRONG_SECRET = "authcheck-wrong-" + random_token(12)


@dataclass(frozen=True)
class Judgement:
    """What a set of answers shows, in a check's words (``value``), or why it cannot tell (``value`` None)."""

    value: str | None
    reason: str
    exchanges: tuple[Exchange, ...] = ()

    def required(self) -> str:
        """The value; *not evaluated* with the reason when the answers could not tell."""
        if self.value is None:
            raise NotEvaluated(self.reason, exchange=self.exchanges[-1] if self.exchanges else None)
        return self.value


def harmless_form(client: PolicyClient) -> dict[str, Any]:
    """A request the token endpoint must authenticate, then may refuse."""
    if client.declares("client_credentials"):
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        scope = " ".join(s for s in client.scopes if s != "openid")
        if scope:
            form["scope"] = scope
        return form
    return {"grant_type": "authorization_code", "code": BOGUS_CODE,
            "redirect_uri": client.redirect_uris[0] if client.redirect_uris else "https://authcheck.invalid/cb"}


def impostor(client: PolicyClient) -> PolicyClient:
    """The client under a client_id nobody registered (same grants and redirect URIs)."""
    return PolicyClient.from_policy(client.name, {**client.config, "client_id": client.client_id + UNKNOWN_SUFFIX})


def declared(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """The harmless request with the client's declared authentication."""
    return probes.send(client, "declared", harmless_form(client))


def wrong_secret(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """The harmless request with a wrong secret, in the declared method (Basic for public clients)."""
    method = client.auth_method if client.auth_method in ("client_secret_basic", "client_secret_post") \
        else "client_secret_basic"
    return probes.send(client, "wrong secret", harmless_form(client), secret=WRONG_SECRET, method=method)


def other_method(probes: TokenProbes, client: PolicyClient, method: str) -> TokenProbe:
    """The harmless request with the client's secret sent by ``method`` (``none``: no secret at all)."""
    return probes.send(client, f"method {method}", harmless_form(client), method=method)


def unknown_client(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """The harmless request as a client_id nobody registered, with a made-up secret in HTTP Basic."""
    stranger = impostor(client)
    return probes.send(client, "unknown client", harmless_form(stranger), secret=WRONG_SECRET,
                       method="client_secret_basic", as_client=stranger)


def unknown_public(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """A never-issued code redeemed without a secret by a client_id nobody registered."""
    stranger = impostor(client)
    form = {"grant_type": "authorization_code", "code": BOGUS_CODE,
            "redirect_uri": client.redirect_uris[0] if client.redirect_uris else "https://authcheck.invalid/cb"}
    return probes.send(client, "unknown public client", form, method="none", as_client=stranger)


def secret_accepted(probes: TokenProbes, client: PolicyClient) -> Judgement:
    """``authenticated`` when the declared secret gets past client authentication."""
    return _authenticated(probes, client, declared(probes, client), "the declared secret")


def method_accepted(probes: TokenProbes, client: PolicyClient, method: str) -> Judgement:
    """``authenticated`` when the client's secret sent by ``method`` gets past client authentication, read the way
    the declared method's answer is read."""
    return _authenticated(probes, client, other_method(probes, client, method), f"the secret by {method}")


def _authenticated(probes: TokenProbes, client: PolicyClient, right: TokenProbe, name: str) -> Judgement:
    answer = right.observation
    if answer.accepted:
        return Judgement("authenticated", "a token was issued", (right.response.exchange,))
    if answer.refused and answer.error == "invalid_client":
        return Judgement("refused (invalid_client)", answer.summary, (right.response.exchange,))
    wrong = wrong_secret(probes, client)
    seen = (right.response.exchange, wrong.response.exchange)
    if answer.refused and (wrong.observation.accepted or (wrong.observation.refused and not wrong.observation.same_as(answer))):
        return Judgement("authenticated", f"{name} gets {answer.summary}, a wrong one "
                         f"{wrong.observation.summary}: the provider tells them apart", seen)
    if answer.refused:
        return Judgement(None, f"{name} and a wrong secret get the same answer ({answer.summary}): whether the "
                         "secret is accepted cannot be told from it", seen)
    return Judgement(None, answer.why_not_evaluable(), seen)


def wrong_secret_refused(probes: TokenProbes, client: PolicyClient) -> Judgement:
    """``refused`` when a wrong secret does not get in."""
    wrong = wrong_secret(probes, client)
    answer = wrong.observation
    if answer.accepted:
        return Judgement("accepted", "a token was issued for a wrong secret", (wrong.response.exchange,))
    if not answer.refused:
        return Judgement(None, answer.why_not_evaluable(), (wrong.response.exchange,))
    if answer.error == "invalid_client":
        return Judgement("refused", answer.summary, (wrong.response.exchange,))
    return _refused_unlike(answer, declared(probes, client), wrong, "a wrong secret", "the declared secret")


def unknown_client_refused(probes: TokenProbes, client: PolicyClient) -> Judgement:
    """``refused`` when a client_id nobody registered does not get in at the token endpoint."""
    stranger = unknown_client(probes, client)
    answer = stranger.observation
    if answer.accepted:
        return Judgement("accepted", "a token was issued to an unknown client_id", (stranger.response.exchange,))
    if not answer.refused:
        return Judgement(None, answer.why_not_evaluable(), (stranger.response.exchange,))
    if answer.error == "invalid_client":
        return Judgement("refused", answer.summary, (stranger.response.exchange,))
    if client.secret is None and not client.public:
        # no secret in the policy, so no control request: the refusal must be about the client, not the made-up code
        if answer.status == 401 or harmless_form(client)["grant_type"] == "client_credentials":
            return Judgement("refused", answer.summary, (stranger.response.exchange,))
        return Judgement(None, f"an unknown client_id gets {answer.summary}, which may be about the never-issued code "
                         f"rather than the client, and the policy holds no secret of {client.target} to send the same "
                         "request as a control", (stranger.response.exchange,))
    return _refused_unlike(answer, declared(probes, client), stranger, "an unknown client_id", f"{client.target} itself")


def _refused_unlike(answer: Observation, control: TokenProbe, probe: TokenProbe, probe_name: str,
                    control_name: str) -> Judgement:
    seen = (control.response.exchange, probe.response.exchange)
    if control.observation.accepted or (control.observation.refused and not control.observation.same_as(answer)):
        return Judgement("refused", f"{probe_name} gets {answer.summary} where {control_name} gets "
                         f"{control.observation.summary}", seen)
    if control.observation.refused:
        return Judgement(None, f"{probe_name} and {control_name} get the same answer ({answer.summary}): the request "
                         "was refused before the client was judged", seen)
    return Judgement(None, f"{control_name} could not be judged ({control.observation.describe()}), so the refusal of "
                     f"{probe_name} ({answer.summary}) proves nothing", seen)


def accepted_as_public(probes: TokenProbes, client: PolicyClient) -> Judgement:
    """``accepted`` when the client, without a secret, is treated as a known public client."""
    own = other_method(probes, client, "none")
    answer = own.observation
    if answer.accepted:
        return Judgement("accepted", "a token was issued without a secret", (own.response.exchange,))
    if not answer.refused:
        return Judgement(None, answer.why_not_evaluable(), (own.response.exchange,))
    stranger = unknown_public(probes, client)
    seen = (own.response.exchange, stranger.response.exchange)
    if stranger.observation.refused and not stranger.observation.same_as(answer):
        if answer.error == "invalid_client":
            return Judgement("refused (invalid_client)", f"without a secret it gets {answer.summary}", seen)
        return Judgement("accepted", f"without a secret it gets {answer.summary}, unlike an unknown client_id "
                         f"({stranger.observation.summary}): it is known and needs no secret", seen)
    if answer.error == "invalid_client":
        return Judgement("refused (invalid_client)", f"without a secret it gets {answer.summary}, as an unknown "
                         "client_id does", seen)
    return Judgement(None, f"without a secret it gets {answer.summary}, as an unknown client_id does: the never-issued "
                     "code was refused before the client was judged", seen)


def unknown_grant(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """A grant type no server knows: what "refused as unknown" looks like at this token endpoint."""

    return probes.send(client, "an unknown grant type", {"grant_type": UNKNOWN_GRANT})


def undeclared_grant(probes: TokenProbes, client: PolicyClient, grant: str, *, as_client: PolicyClient | None = None
                     ) -> TokenProbe:
    """``grant`` with its made-up artefacts (``UNDECLARED_GRANT_PROBES``), as ``client`` (or ``as_client``)."""

    who = as_client or client
    return probes.send(who, f"grant {grant}", {"grant_type": grant, **UNDECLARED_GRANT_PROBES[grant]})


# Errors that refuse a grant as such, whatever artefact came with it.
GRANT_REFUSALS = ("unsupported_grant_type", "unauthorized_client", "invalid_client")


def grant_answer(answer: Observation, unknown: Observation, *, made_up: bool) -> tuple[str | None, str]:
    """What one undeclared grant's answer shows, next to an unknown grant type's: ``("accepted" | "refused", why)``,
    or ``(None, why)`` when a made-up artefact may be what was refused (a second opinion is needed)."""
    if answer.accepted:
        return "accepted", "a token was issued"
    # with nothing made up in the request (client credentials), any refusal is about the grant itself
    if answer.refused and (answer.error in GRANT_REFUSALS or answer.same_as(unknown) or not made_up):
        return "refused", answer.summary
    if answer.refused:
        return None, f"{answer.summary}, unlike an unknown grant type ({unknown.summary})"
    return None, answer.why_not_evaluable()


def undeclared_grant_undecided(probes: TokenProbes, client: PolicyClient, grant: str) -> bool:
    """Whether ``grant``'s own answer leaves the question open (grants.undeclared-refused then asks elsewhere)."""
    answer = undeclared_grant(probes, client, grant).observation
    return grant_answer(answer, unknown_grant(probes, client).observation,
                        made_up=bool(UNDECLARED_GRANT_PROBES[grant]))[0] is None


def without_scope(probes: TokenProbes, client: PolicyClient) -> TokenProbe:
    """A client-credentials request that omits scope (RFC 6749 §3.3)."""
    return probes.send(client, "no scope", {"grant_type": "client_credentials"})


def with_scope(probes: TokenProbes, client: PolicyClient, scope: str) -> TokenProbe:
    """A client-credentials request for the client's scopes plus ``scope``."""

    name, form = scope_request(client, scope)
    return probes.send(client, name, form)
