"""The hand-checked verdicts of FINDINGS.md that tests and the analysis script share."""

from __future__ import annotations

#: (check, target) pairs where DOT 3.4.1 really breaks the strict policy (FINDINGS.md, verdict TRUE):
#: a correct ``pytest --authcheck`` run fails exactly these, and has no error.
TRUE_FINDINGS = frozenset({
    ("discovery.pkce-s256", "providers.dot"),
    ("discovery.grant-types", "providers.dot"),
    ("discovery.response-types", "providers.dot"),
    ("discovery.signing-algs", "providers.dot"),
    ("pkce.plain-refused", "clients.portal"),
    ("pkce.plain-refused", "clients.cli"),
    ("lifetimes.access-token", "clients.deployer"),
    ("lifetimes.access-token", "clients.portal"),
    ("lifetimes.access-token", "clients.cli"),
    ("lifetimes.id-token", "clients.portal"),
    ("lifetimes.id-token", "clients.cli"),
    ("scopes.out-of-policy-refused", "clients.deployer"),
    # userinfo serves a token sent in the URL query; prompt=none ends in a server error (FINDINGS.md, "Checks of
    # issue 11")
    ("tokens.query-refused", "clients.portal"),
    ("tokens.query-refused", "clients.cli"),
    ("prompt-none.login-required", "clients.portal"),
    ("prompt-none.login-required", "clients.cli"),
    # checks of the verdicts round (FINDINGS.md, "Verdicts judged in one place")
    ("errors.rfc6749-format", "clients.deployer"),
    ("errors.rfc6749-format", "clients.portal"),
    ("introspection.isolation", "clients.deployer"),
    ("introspection.isolation", "clients.portal"),
    ("scopes.omitted-scope-bounded", "clients.deployer"),
    ("code.replay-refused", "clients.portal"),
    ("code.replay-refused", "clients.cli"),
    ("refresh.reuse-revokes-family", "clients.portal"),
    ("refresh.reuse-revokes-family", "clients.cli"),
})

#: (check, target) -> words the "not evaluated" reason holds, where DOT's answer cannot decide the check
#: without a step authcheck never takes (FINDINGS.md, "Verdicts judged in one place"): a correct run reports
#: exactly these as not evaluated, and nothing else.
NOT_EVALUATED = {
    # DOT asks the user to consent to any scope it knows; consenting beyond the policy would grant it for real.
    # (Asked directly and consented, DOT grants write: the hand check in test_dot_idp still shows it.)
    ("scopes.out-of-policy-refused", "clients.portal"): "asks the user to consent",
    ("scopes.out-of-policy-refused", "clients.cli"): "asks the user to consent",
    # DOT's introspection of a refresh token answers without exp (and a public client may not introspect)
    ("lifetimes.refresh-token", "clients.portal"): "does not show it active with an exp",
    ("lifetimes.refresh-token", "clients.cli"): "does not show it active with an exp",
    ("lifetimes.refresh-token-sliding", "clients.portal"): "does not show it active with an exp",
    ("lifetimes.refresh-token-sliding", "clients.cli"): "does not show it active with an exp",
}

#: TRUE by the hand check, yet not evaluated by the run for the reason NOT_EVALUATED gives
TRUE_NOT_OBSERVABLE = frozenset({("scopes.out-of-policy-refused", "clients.portal"),
                                 ("scopes.out-of-policy-refused", "clients.cli")})
