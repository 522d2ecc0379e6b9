"""Client registration and authentication: each client is known, authenticates as declared, and nothing else does.

Seed symptom: "Unknown client_id: OAuth flow fails with invalid_client" (client not registered, wrong
client_id, client deleted or disabled), and "Client authentication failed / invalid_client" (client ID or
secret mismatch). These checks find each cause before a user meets it. Every answer is read against a control
(``pytest_authcheck.probes.client_auth``): a refusal in any format is a refusal, and where the right and the wrong
request get the same answer the check is not evaluated.
"""

from __future__ import annotations

from pytest_authcheck import check
from pytest_authcheck._clients import SECRET, SECRET_METHODS, applies_when, uses_secret
from pytest_authcheck.observations import Kind, NotEvaluated
from pytest_authcheck.observations.authorization import points_at
from pytest_authcheck.probes import ORDINARY
from pytest_authcheck.probes.authorization import same_error_page
from pytest_authcheck.probes.client_auth import (
    UNKNOWN_SUFFIX,
    accepted_as_public,
    method_accepted,
    other_method,
    secret_accepted,
    unknown_client_refused,
    unknown_public,
    wrong_secret_refused,
)
from pytest_authcheck.probes.variations import unknown_client_variation

SECRET_METHOD = applies_when(lambda c: c.auth_method in SECRET_METHODS,
                             "{target} does not authenticate with a client secret ({method})")
INACTIVE = applies_when(lambda c: not c.active, "{target} is active; this check applies to clients marked removed or disabled")
PUBLIC_WITH_REDIRECTS = applies_when(lambda c: c.public and bool(c.redirect_uris),
                                     "{target} is not a public client with redirect_uris (client-auth.secret-accepted "
                                     "shows that a confidential one is registered)")
PROBED_METHOD = applies_when(lambda c: uses_secret(c) or (c.auth_method == "none" and bool(c.redirect_uris)),
                             "{target}: {method} is not probed (client_secret_basic and client_secret_post with a "
                             "declared secret, and none with redirect_uris, are)")


def _attach(record, judgement) -> None:
    record.attach(*judgement.exchanges)


@check("client-auth.secret-accepted", title="A confidential client authenticates with its declared secret",
       sends="A token request authenticated with the declared secret (client credentials where declared, else a code that was never "
             "issued); when the answer is a refusal, the same with a wrong secret.",
       severity="high", area="clients", applies=SECRET, refs=["RFC 6749 §2.3.1", "RFC 6749 §3.2.1", "RFC 6749 §5.2"],
       remediation="The provider refuses the secret the policy holds for this client (invalid_client): the client_id "
                   "or secret is wrong, the secret was rotated, or the client was deleted or disabled. Copy the client "
                   "ID exactly, regenerate the secret if unsure and update the environment variable the policy names.")
def test_secret_accepted(client_case, token_probes):
    active_client, _, _, authcheck_record = client_case
    judgement = secret_accepted(token_probes, active_client)
    _attach(authcheck_record, judgement)
    observed = judgement.required()
    authcheck_record.expect({"declared secret": "authenticated"}, {"declared secret": observed})
    if observed != "authenticated":
        authcheck_record.fail(f"the token endpoint refused {active_client.label} with its declared "
                              f"{active_client.auth_method} secret: {judgement.reason}")


@check("client-auth.wrong-secret-refused", title="A wrong secret is refused",
       sends="The client's token request with a random wrong secret (and with the declared one when the refusal must be told apart).",
       severity="critical", area="clients", applies=SECRET_METHOD, refs=["RFC 6749 §2.3.1", "RFC 6749 §5.2", "RFC 9700 §2.5"],
       remediation="Make the token endpoint authenticate every confidential client and never issue a token without a "
                   "valid secret.")
def test_wrong_secret_refused(client_case, token_probes):
    active_client, _, _, authcheck_record = client_case
    judgement = wrong_secret_refused(token_probes, active_client)
    _attach(authcheck_record, judgement)
    observed = judgement.required()
    authcheck_record.expect({"wrong secret": "refused"}, {"wrong secret": observed})
    if observed != "refused":
        authcheck_record.fail(f"a wrong secret for {active_client.label} is accepted: {judgement.reason}")


@check("client-auth.unknown-client-refused", title="An unknown client_id is refused, and never redirected to",
       sends="A token request, and an authorization request when the client has redirect URIs, with the client's client_id plus a made-up "
             "suffix.",
       severity="high", area="clients", refs=["RFC 6749 §5.2", "RFC 6749 §4.1.2.1"],
       remediation="Refuse unknown clients at the token endpoint with invalid_client, and at the authorization "
                   "endpoint with an error page that never redirects.")
def test_unknown_client_refused(client_case, token_probes, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    expected = {"token endpoint": "refused"}
    observed: dict[str, str] = {}
    undecided = []
    token = unknown_client_refused(token_probes, active_client)
    _attach(authcheck_record, token)
    if token.value is None:
        undecided.append(f"token endpoint: {token.reason}")
    else:
        observed["token endpoint"] = token.value
        if token.value != "refused":
            authcheck_record.violation(f"the token endpoint: {token.reason}")
    if active_client.redirect_uris:
        expected["authorization endpoint"] = "refused on the provider's page"
        stranger = unknown_client_variation(active_client)
        first = authcheck_authz_probes.pre_login(active_client, stranger)
        # invalid_client says why whatever the client's own request gets; otherwise compare with it
        answer = first if first.error == "invalid_client" else authcheck_authz_probes.decide(active_client, stranger)
        authcheck_record.attach(*answer.exchanges)
        if answer.refused and points_at(answer.location, active_client.redirect_uris[0]):
            observed["authorization endpoint"] = "redirected to the redirect URI"
            authcheck_record.violation(f"the authorization endpoint sends an unknown client's error to the redirect "
                                       f"URI ({answer.summary}): it must show an error page and never redirect")
        elif answer.refused:
            observed["authorization endpoint"] = "refused on the provider's page"
        elif answer.accepted:
            observed["authorization endpoint"] = "accepted"
            authcheck_record.violation(f"the authorization endpoint goes on with an unknown client_id ({answer.summary})")
        else:
            undecided.append(f"authorization endpoint: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude(f"unknown client_id {active_client.client_id + UNKNOWN_SUFFIX!r}: ")


@check("client-auth.removed-client-refused", title="A client the policy marks removed is rejected like an unknown one",
       sends="For a client marked removed or disabled: a token request without a secret and with a code that was never issued, the same "
             "for a made-up client_id, and the client's ordinary authorization request and the same with a made-up client_id "
             "(signed in as the test user when both go to the login page).",
       severity="high", area="clients", applies=INACTIVE, refs=["RFC 6749 §5.2", "RFC 6749 §4.1.2.1", "RFC 7592 §2.3"],
       remediation="Delete (or disable) the client at the provider: it still answers for a client the policy says is "
                   "removed, so anyone holding its old secret or redirect URIs can still use it.")
def test_removed_client_refused(oidc_client, client_metadata, token_probes, authcheck_authz_probes, authcheck_record):
    """Each endpoint's answer for the removed client is compared with its answer for a client_id nobody registered:
    the same answer means unknown; a different one means the provider still knows the client."""
    observed: dict[str, str] = {}
    undecided: list[str] = []
    token = _removed_at_token_endpoint(oidc_client, token_probes, authcheck_record)
    if token[0] is None:
        undecided.append(f"token endpoint: {token[1]}")
    else:
        observed["token endpoint"] = token[0]
        if token[0] == "known":
            authcheck_record.violation(f"the token endpoint {token[1]}")
    # Its first registered redirect URI, if the policy still lists one; otherwise none, and a provider that knows the
    # client uses the one it has registered (OAuth 2.0 §3.1.2.3) or asks for it.
    control = authcheck_authz_probes.control(oidc_client)
    stranger = authcheck_authz_probes.pre_login(oidc_client, unknown_client_variation(oidc_client))
    authcheck_record.attach(*control.exchanges, *stranger.exchanges)
    if control.refused and (control.error == "invalid_client" or control.same_as(stranger)):
        observed["authorization endpoint"] = "unknown"
    # any other deliberate answer (a redirect to the URI the provider has registered, say) shows it knows the client;
    # a throttle or a server error shows nothing
    elif stranger.refused and not control.same_as(stranger) and control.kind is not Kind.THROTTLED \
            and (control.status or 0) < 500:
        observed["authorization endpoint"] = "known"
        authcheck_record.violation(f"the authorization endpoint answers {control.summary}, where an unknown client_id "
                                   f"gets {stranger.summary}")
    elif control.kind is Kind.SENT_TO_LOGIN and stranger.kind is Kind.SENT_TO_LOGIN and oidc_client.redirect_uris:
        found = _signed_in_known(authcheck_authz_probes, oidc_client, authcheck_record)
        if found[0] is None:
            undecided.append(f"authorization endpoint: {found[1]}")
        else:
            observed["authorization endpoint"] = found[0]
            if found[0] == "known":
                authcheck_record.violation(f"the authorization endpoint, signed in, {found[1]}")
    else:
        undecided.append(f"authorization endpoint: it answers {control.summary}, and an unknown client_id "
                         f"{stranger.summary}")
    if not authcheck_record.violations and undecided and not observed:
        raise NotEvaluated("; ".join(undecided))
    for item in undecided:
        authcheck_record.fact("not evaluated", item)
    authcheck_record.expect({where: "unknown" for where in observed}, observed)
    authcheck_record.conclude(f"{oidc_client.label} is marked {oidc_client.state} but the provider still knows it: ")


def _removed_at_token_endpoint(client, token_probes, record) -> tuple[str | None, str]:
    # Without a secret a known confidential client and an unknown one both get invalid_client: only a difference, or
    # the secret the policy may still hold, tells them apart.
    if client.secret is not None:
        with_secret = secret_accepted(token_probes, client)
        record.attach(*with_secret.exchanges)
        if with_secret.value == "authenticated":
            return "known", f"still authenticates it with the secret the policy holds ({with_secret.reason})"
    own, stranger = other_method(token_probes, client, "none"), unknown_public(token_probes, client)
    record.attach(own.response.exchange, stranger.response.exchange)
    answer = own.observation
    if answer.accepted:
        return "known", "issued a token"
    if answer.refused and stranger.observation.refused and not answer.same_as(stranger.observation):
        return "known", f"answers {answer.summary} where an unknown client_id gets {stranger.observation.summary}"
    if answer.refused and answer.same_as(stranger.observation):
        if answer.error == "invalid_client":
            # a confidential client that still exists answers the same without its secret
            return None, f"it gets {answer.summary} without a secret, as an unknown client_id does and as a known " \
                         "confidential client would"
        return "unknown", f"answers {answer.summary}, as for an unknown client_id"
    return None, (answer if not answer.refused else stranger.observation).why_not_evaluable()


def _signed_in_known(probes, client, record) -> tuple[str | None, str]:
    """Signed in, the removed client's ordinary request beside the same request under a made-up client_id: a code, an
    error sent to its redirect URI, or an error page unlike the made-up client's shows the provider still knows it."""
    answer = probes.decide(client, ORDINARY)
    record.attach(*answer.exchanges)
    if answer.accepted:
        return "known", f"answers with {answer.summary}"
    if not answer.refused:
        return None, answer.why_not_evaluable()
    if answer.location and points_at(answer.location, client.redirect_uris[0]):
        return "known", f"sends its error to the client's redirect URI ({answer.summary}): it knows the client"
    stranger_variation = unknown_client_variation(client)
    stranger = probes.signed_in(client, stranger_variation)
    if stranger is None:
        return None, "no account signs in to compare with a made-up client_id"
    record.attach(*stranger.exchanges)
    if not stranger.refused:
        return None, f"a made-up client_id, signed in, gets {stranger.summary}: nothing to compare with"
    if same_error_page(answer, stranger, client.client_id, client.client_id + UNKNOWN_SUFFIX):
        return "unknown", f"{answer.summary}, as a made-up client_id gets"
    return "known", f"answers {answer.summary} where a made-up client_id gets {stranger.summary}: another page"


@check("client-auth.public-client-known", title="A public client is registered at the authorization endpoint",
       sends="The client's ordinary authorization request and the same with a made-up client_id; signed in as the test user when both are "
             "sent to the login page.",
       severity="high", area="clients", applies=PUBLIC_WITH_REDIRECTS, refs=["RFC 6749 §2", "RFC 6749 §4.1.2.1", "RFC 8252 §8.4"],
       remediation="Register the client (its client_id exactly as the application sends it) at the provider, with "
                   "the redirect URIs the policy lists; until then every login fails with invalid_client.")
def test_public_client_known(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    probes = authcheck_authz_probes
    control = probes.control(active_client)
    stranger = probes.pre_login(active_client, unknown_client_variation(active_client))
    authcheck_record.attach(*control.exchanges, *stranger.exchanges)
    if control.refused and (control.error == "invalid_client" or control.same_as(stranger)):
        observed = "unknown"
        reason = f"its ordinary request gets {control.summary}" + ("" if control.error == "invalid_client"
                                                                   else ", as an unknown client_id does")
    elif control.refused or (control.kind is Kind.SENT_TO_LOGIN and stranger.refused):
        observed, reason = "known", f"its ordinary request gets {control.summary}, unlike an unknown client_id"
    elif control.kind in (Kind.THROTTLED, Kind.UNREADABLE):
        raise NotEvaluated(f"its ordinary request gets {control.describe()}: {control.why_not_evaluable()}",
                           exchange=control.exchange)
    else:
        signed = probes.decide(active_client, ORDINARY)
        authcheck_record.attach(*signed.exchanges)
        if signed.accepted:
            observed, reason = "known", signed.summary
        elif signed.refused and signed.error == "invalid_client":
            observed, reason = "unknown", signed.summary
        else:
            raise NotEvaluated(f"its ordinary request gets {control.summary}, as an unknown client_id does; "
                               + signed.why_not_evaluable())
    authcheck_record.expect({"client": "known"}, {"client": observed})
    if observed != "known":
        authcheck_record.fail(f"the authorization endpoint does not know {active_client.label}: {reason}")


@check("client-auth.auth-method", title="The client authenticates as declared, and a confidential one never without "
       "its secret", severity="medium", area="clients", applies=PROBED_METHOD, refs=["RFC 6749 §2.3.1", "RFC 7591 §2", "RFC 9700 §2.5"],
       sends="A token request with the declared method, one without a secret and one with the other secret method (shown, not judged); for"
             " a public client, one with its client_id only.",
       remediation="Register the client with the token_endpoint_auth_method the policy declares; a confidential "
                   "client must never be accepted without its secret, and a public one needs no secret.")
def test_auth_method(client_case, token_probes, authcheck_authz_probes):
    active_client, _, client_metadata, authcheck_record = client_case
    method = active_client.auth_method
    advertised = client_metadata.get("token_endpoint_auth_methods_supported")
    authcheck_record.fact("token_endpoint_auth_methods_supported", advertised)
    if method == "none":
        judgement = accepted_as_public(token_probes, active_client)
        _attach(authcheck_record, judgement)
        observed = {"none": judgement.required()}
        if observed["none"] != "accepted" and "as an unknown client_id does" in judgement.reason:
            # answered like an unknown client: only the authorization endpoint can tell "not public" from "unknown"
            control = authcheck_authz_probes.control(active_client)
            stranger = authcheck_authz_probes.pre_login(active_client, unknown_client_variation(active_client))
            authcheck_record.attach(*control.exchanges, *stranger.exchanges)
            if control.error == "invalid_client" or not (control.kind is Kind.SENT_TO_LOGIN and stranger.refused):
                raise NotEvaluated(f"{judgement.reason}, and the authorization endpoint does not show it is known "
                                   f"({control.summary}); see client-auth.public-client-known")
        authcheck_record.expect({"none": "accepted"}, observed)
        if observed["none"] != "accepted":
            authcheck_record.fail(f"{active_client.label} declares none: {judgement.reason}: it is not registered as "
                                  "a public client")
        return
    declared_answer = secret_accepted(token_probes, active_client)
    without = other_method(token_probes, active_client, "none")
    _attach(authcheck_record, declared_answer)
    authcheck_record.attach(without.response.exchange)
    # RFC 7591 lets a server accept the other secret method as well; shown, not judged.
    other = "client_secret_post" if method == "client_secret_basic" else "client_secret_basic"
    alternative = method_accepted(token_probes, active_client, other)
    _attach(authcheck_record, alternative)
    authcheck_record.fact(f"{other} (not judged)", f"{alternative.value or 'cannot be told'}: {alternative.reason}")
    if without.observation.accepted:
        observed = {method: declared_answer.value or "not evaluated", "none": "accepted"}
        authcheck_record.expect({method: "authenticated", "none": "refused"}, observed)
        authcheck_record.fail(f"{active_client.label} declares {method}: it is accepted without its secret (as a "
                              "public client): a token was issued")
    value = declared_answer.required()
    if value != "authenticated":
        raise NotEvaluated(f"the declared secret itself is refused ({declared_answer.reason}), so the methods cannot be "
                           "told apart; see client-auth.secret-accepted")
    if without.observation.refused:
        none = "refused"
    else:
        raise NotEvaluated(f"the request without a secret: {without.observation.why_not_evaluable()}")
    authcheck_record.expect({method: "authenticated", "none": "refused"}, {method: value, "none": none})


