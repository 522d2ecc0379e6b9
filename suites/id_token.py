"""ID token claims that depend on the request: ``auth_time`` when ``max_age`` was asked for.

The run's plain OpenID Connect login (``authcheck_openid_logins``: ``scope=openid``, ``max_age``) returns an ID
token whose ``auth_time`` must be there (OIDC Core §3.1.2.1) and tell the truth: not after the token came back,
not before the run first signed the test user in (no session of this run is older), and not further back than
``max_age`` allows. The provider's clock may differ from this machine's by ``max_clock_skew``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pytest_authcheck import check
from pytest_authcheck._clients import LOGIN_OPENID, logs_in
from pytest_authcheck._expect import Quantity, Satisfies
from pytest_authcheck.observations import NotEvaluated


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@check("id-token.auth-time", title="With max_age, the ID token carries a truthful auth_time",
       sends="One plain OpenID Connect login through the client per run (scope=openid, max_age), whose ID token's auth_time it reads.",
       severity="medium", area="clients", applies=LOGIN_OPENID, signs_in=logs_in,
       refs=["OIDC Core 1.0 §3.1.2.1", "OIDC Core 1.0 §2", "OIDC Core 1.0 §3.1.3.7"],
       remediation="Include auth_time in the ID token whenever the request carries max_age (or the client registered "
                   "require_auth_time), set to when the end-user actually authenticated; re-authenticate the user when "
                   "the session is older than max_age. Clients that enforce a fresh login read it.")
def test_auth_time(client_case, authcheck_openid_logins, authcheck_login):
    active_client, client_provider, _, authcheck_record = client_case
    login = authcheck_openid_logins.login(active_client)
    tokens = login.tokens
    authcheck_record.attach(*tokens.exchanges)
    if tokens.id_token is None or tokens.id_claims is None:
        raise NotEvaluated(f"the login of {active_client.label} with scope openid returned no readable ID token; see "
                           "scopes.openid-id-token")
    authcheck_record.jwt(f"ID token of {active_client.target} (max_age={login.max_age})", tokens.id_token.reveal())
    skew = client_provider.max_clock_skew
    since = getattr(authcheck_login, "signed_in_since", None)
    signed_in = since(active_client.provider) if callable(since) else None
    upper = login.finished + skew
    floors = [(login.started - login.max_age - skew, f"max_age={login.max_age} allows (the request was sent at "
                                                     f"{_when(login.started)})")]
    if signed_in is not None:
        floors.append((signed_in - skew, f"the run's session began (the test user signed in at {_when(signed_in)})"))
    lower, why_lower = max(floors)
    authcheck_record.fact("auth_time bounds", {"not before": _when(lower), "because": why_lower,
                                               "not after": _when(upper), "max_clock_skew": f"{skew:g}s"})
    value = tokens.id_claims.get("auth_time")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    observed = Quantity(value, _when(value)) if number else ("missing" if value is None else f"not a number ({value!r:.60})")
    authcheck_record.expect({"auth_time": Satisfies(lambda t: lower <= t <= upper,
                                                    f"between {_when(lower)} and {_when(upper)}")},
                            {"auth_time": observed})
    name = f"the ID token of {active_client.label} (max_age={login.max_age})"
    if not number:
        authcheck_record.fail(f"{name} has no auth_time" if value is None else f"{name} has auth_time {value!r:.60}, not a "
                              "number of seconds")
    if value > upper:
        authcheck_record.fail(f"{name} says the user authenticated at {_when(value)}, {value - login.finished:.0f}s "
                              f"after the token came back (max_clock_skew {skew:g}s)")
    if value < lower:
        authcheck_record.fail(f"{name} says the user authenticated at {_when(value)}, {lower + skew - value:.0f}s "
                              f"earlier than {why_lower}")
