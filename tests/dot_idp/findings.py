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
    ("scopes.out-of-policy-refused", "clients.portal"),
    ("scopes.out-of-policy-refused", "clients.cli"),
    # userinfo serves a token sent in the URL query; prompt=none ends in a server error (FINDINGS.md, "Checks of
    # issue 11")
    ("tokens.query-refused", "clients.portal"),
    ("tokens.query-refused", "clients.cli"),
    ("prompt-none.login-required", "clients.portal"),
    ("prompt-none.login-required", "clients.cli"),
})
