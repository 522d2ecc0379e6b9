"""Authorization codes: one use only, and a replay takes back what the first use gave (RFC 6749 §4.1.2)."""

from __future__ import annotations

from pytest_authcheck import check
from pytest_authcheck._clients import LOGIN, logs_in
from pytest_authcheck._redact import Secret
from pytest_authcheck.observations import NotEvaluated, observe_token
from pytest_authcheck.probes.token_state import DEAD, WORKS, TokenWatch


@check("code.replay-refused", title="A replayed authorization code is refused, and the tokens it gave are revoked",
       sends="A fresh login through the client, its code redeemed twice; introspection and userinfo with the tokens of the first "
             "redemption before and after the replay, then a refresh with its refresh token.",
       severity="high", area="clients", applies=LOGIN, signs_in=logs_in, spends_grant=True,
       refs=["RFC 6749 §4.1.2", "RFC 6749 §10.5", "RFC 9700 §4.2.4"],
       remediation="Make authorization codes single-use: refuse a second redemption with invalid_grant and revoke "
                   "every token issued from the code (RFC 6749 §4.1.2), so a stolen code that races the client "
                   "cannot keep what it got.")
def test_code_replay_refused(client_case, token_request, authcheck_run, authcheck_code_flows,
                             authcheck_userinfo_probes):
    active_client, _, client_metadata, authcheck_record = client_case
    authorization = authcheck_code_flows.authorize(active_client)
    authcheck_record.attach(*authorization.exchanges)
    first = authcheck_code_flows.redeem(authorization)
    authcheck_record.attach(first.exchange)
    answer = observe_token(first)
    if not answer.accepted:
        raise NotEvaluated(f"the first redemption of a fresh code does not work ({answer.describe()}); see "
                           "grants.declared-work", exchange=first.exchange)
    body = answer.details["body"]
    watch = TokenWatch(authcheck_run.http, active_client, client_metadata, authcheck_userinfo_probes)
    issued = [(kind, member, Secret(body[member], label=member)) for kind, member in
              (("access token", "access_token"), ("refresh token", "refresh_token")) if isinstance(body.get(member), str)]
    # read before the replay too: a way that never showed the token working cannot show the replay revoked it
    before = {member: watch.look(token, refresh=member == "refresh_token") for _, member, token in issued}
    for look in before.values():
        authcheck_record.attach(*look.exchanges)
    replay = observe_token(authcheck_code_flows.redeem(authorization))
    authcheck_record.attach(replay.exchange)
    expected: dict[str, str] = {"second redemption": "refused"}
    observed: dict[str, object] = {"second redemption": replay}
    if replay.accepted:
        authcheck_record.violation("a second redemption of the same code issued tokens again")
    elif not replay.refused:
        raise NotEvaluated(f"the second redemption: {replay.why_not_evaluable()}", exchange=replay.exchange)
    # RFC 6749 §4.1.2: the tokens of the first redemption SHOULD be revoked once the code is replayed
    for kind, member, token in issued:
        state = watch.after(token, before[member], refresh=member == "refresh_token", send_refresh=token_request)
        authcheck_record.attach(*state.exchanges)
        if state.state is None:
            why = state.why_unseen()
            authcheck_record.fact(f"{kind} of the first redemption", "the provider shows no way to tell if it still "
                                  "works" + (f" ({why})" if why else ""))
            continue
        expected[f"{kind} of the first redemption"] = DEAD
        observed[f"{kind} of the first redemption"] = state.state
        if state.state == WORKS:
            authcheck_record.violation(f"the {kind} of the first redemption still works after the replay "
                                       f"({', '.join(state.working())})")
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude(f"authorization codes of {active_client.label}: ")
