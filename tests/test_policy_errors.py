"""A corpus of broken policies: each ends in one line per problem, in file order, naming line, key and problem.

Most cases call the loader directly (fast); a few run ``pytest --authcheck`` in a child process to see
what a user sees: exit code 4, no traceback, the lines and nothing else.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from pytest_authcheck._errors import PolicyError, PolicyErrors
from pytest_authcheck.policy.load import load_policy

ENV = {"HOST": "sso.example", "SECRET": "s3cr3t-value"}
SSO = '[providers.sso]\nkind = "oidc"\nissuer = "https://sso.example"\n'  # lines 1-3
CLI = '\n[clients.cli]\nprovider = "sso"\nclient_id = "cli"\n'  # lines 5-7 after SSO
WAIVER = '\n[[waivers]]\ncheck = "{check}"\ntarget = "providers.sso"\nreason = "accepted"\nexpires = "{expires}"\n'
NOTHING = ("declares nothing to check: add at least one [providers.NAME], [apis.NAME] or [credentials.NAME] table "
           "(pytest --authcheck-init URL writes a starter policy; see also the minimal policy in the README)")
DURATION = "is not a duration such as '30s', '15m', '1h' or '29d'"
TEN_YEARS = "is longer than 10 years (3650d): write the bound meant, such as '30d'"
DEEP = "arrays or inline tables nested more than 24 levels deep; a policy needs a few"
UNTERMINATED = "'${' without its closing '}' (write $${ for a literal ${)"
PLAIN_HTTP = ("which is not a loopback host: credentials and tokens would travel unencrypted; use https "
              "(allow_http_loopback covers only 127.0.0.1, ::1 and localhost)")


@dataclass(frozen=True)
class Case:
    """A broken policy and the lines it must produce: (line or None, key or None, problem)."""

    policy: str | bytes
    errors: list[tuple[int | None, str | None, str | re.Pattern[str]]]
    files: dict[str, str | bytes] = field(default_factory=dict)
    pyproject: bool = False


def api(extra: str = "", principals: str = "viewer = { client = \"cli\", role = \"viewer\" }") -> str:
    """SSO + CLI + an API with roles (lines 9-12) and one principal (lines 14-15), then ``extra`` (from line 16)."""
    return SSO + CLI + textwrap.dedent(f"""
        [apis.platform]
        base_url = "https://api.example"
        provider = "sso"
        roles = ["viewer", "admin"]

        [apis.platform.principals]
        {principals}
        """) + textwrap.dedent(extra)


CASES: dict[str, Case] = {
    # ---- the file itself: empty, not UTF-8, not TOML, too large, too deep ---------------------------------------
    "empty-file": Case("", [(None, None, NOTHING)]),
    "comments-only": Case("# to do\n", [(None, None, NOTHING)]),
    "settings-only": Case('[settings]\ntimeout = "5s"\n', [(None, None, NOTHING)]),
    "waivers-only": Case(WAIVER.format(check="discovery.issuer-match", expires="2099-01-01"), [(None, None, NOTHING)]),
    "empty-providers-table": Case("[providers]\n", [(None, None, NOTHING)]),
    "not-utf8-in-a-string": Case(SSO.encode() + b'signing_algs = ["RS\xff256"]\n',
                                 [(4, None, "not UTF-8 text: byte 0xff at column 20 (save the file as UTF-8)")]),
    "not-utf8-in-a-key": Case(SSO.encode() + b"sig\xe9 = 1\n",
                              [(4, None, "not UTF-8 text: byte 0xe9 at column 4 (save the file as UTF-8)")]),
    "not-utf8-then-more": Case(SSO.encode() + b"# caf\xe9\nisuer = 'x'\n",
                               [(4, None, "not UTF-8 text: byte 0xe9 at column 6 (save the file as UTF-8)"),
                                (5, "providers.sso.isuer", "unknown key (did you mean 'issuer'?)")]),
    "not-toml": Case(SSO + "signing_algs = [\n", [(4, None, "not valid TOML: Invalid value (at end of document)")]),
    "not-toml-value": Case('[providers.sso]\nkind = "oidc"\nissuer = \n',
                           [(3, None, re.compile(r"not valid TOML: Invalid value \(at line 3, column 10\)"))]),
    "too-large": Case("# " + "x" * (32 * 1024 * 1024) + "\n",
                      [(None, None, "the file is larger than 32 MiB; a policy of 10,000 clients is about 2 MiB (is "
                                    "this the right file?)")]),
    "nested-arrays-10000-deep": Case(SSO + "signing_algs = " + "[" * 10_000 + "]" * 10_000 + "\n", [(4, None, DEEP)]),
    "nested-inline-tables": Case(SSO + "test_user = " + "{ a = " * 100 + "1" + " }" * 100 + "\n", [(4, None, DEEP)]),
    "nested-dotted-keys": Case(SSO + "[x." + ".".join(["a"] * 30) + "]\n",
                               [(4, "x.a.a.a...", "nested more than 24 levels deep; a policy needs a few")]),
    "array-too-long": Case(SSO + "signing_algs = [" + '"RS256", ' * 1001 + "]\n",
                           [(4, "providers.sso.signing_algs", "1001 items; a policy array holds at most 1000")]),
    "integer-of-5000-digits": Case("[settings]\ntimeout = " + "9" * 5000 + "\n" + SSO,
                                   [(2, None, re.compile(r"not valid TOML: Exceeds the limit \(4300 digits\) .*"))]),
    "pyproject-without-table": Case('[project]\nname = "x"\n', [(None, None, "no [tool.authcheck] table in pyproject.toml")],
                                    pyproject=True),
    "pyproject-lines": Case('[project]\nname = "x"\n\n[tool.authcheck.providers.sso]\nkind = "oidc"\nissuer = 42\n',
                            [(6, "providers.sso.issuer", "expected string, got integer (42)")], pyproject=True),

    # ---- the schema: unknown and misplaced keys, types, forms ---------------------------------------------------
    "unknown-top-level-table": Case('[provider.sso]\nkind = "oidc"\n',
                                    [(1, "provider", "unknown key (did you mean 'providers'?)"), (None, None, NOTHING)]),
    "typo-in-a-provider": Case(SSO + 'isuer = "https://x"\n',
                               [(4, "providers.sso.isuer", "unknown key (did you mean 'issuer'?)")]),
    "typo-of-a-required-key": Case('[providers.sso]\nkind = "oidc"\nisuer = "https://x"\n',
                                   [(3, "providers.sso.isuer", "unknown key (did you mean 'issuer'?)")]),
    "provider-without-kind": Case('[providers.sso]\nissuer = "https://sso.example"\n',
                                  [(1, "providers.sso", "kind is required (oidc | jamf)")]),
    "provider-kind-unknown": Case('[providers.sso]\nkind = "saml"\n',
                                  [(2, "providers.sso.kind", "'saml' is not one of 'oidc', 'jamf'")]),
    "oidc-without-issuer": Case('[providers.sso]\nkind = "oidc"\n', [(1, "providers.sso", "issuer is required")]),
    "jamf-key-in-oidc-provider": Case(SSO + 'url = "https://x.jamfcloud.com"\n',
                                      [(4, "providers.sso.url", 'unknown key (url is a key of providers with kind = "jamf")')]),
    "misplaced-probe-resource": Case(api("""
        [apis.platform.probes]
        other_audience = { client = "cli", resource = "https://billing" }
        """), [(18, "apis.platform.probes.other_audience.resource",
                "unknown key (did you mean 'clients.cli.resource'?)")]),
    "misplaced-issuer-in-client": Case(SSO + CLI + 'issuer = "https://sso.example"\n',
                                       [(8, "clients.cli.issuer", "unknown key (did you mean 'providers.sso.issuer'?)")]),
    "misplaced-timeout-in-provider": Case(SSO + 'timeout = "5s"\n',
                                          [(4, "providers.sso.timeout", "unknown key (did you mean 'settings.timeout'?)")]),
    "misplaced-scopes-in-provider": Case(SSO + 'scopes = ["openid"]\n',
                                         [(4, "providers.sso.scopes", "unknown key (did you mean 'clients.NAME.scopes'?)")]),
    "wrong-type": Case('[settings]\ncert_min_days = "21"\n' + SSO,
                       [(2, "settings.cert_min_days", "expected integer, got string ('21')")]),
    "section-of-wrong-type": Case("providers = 5\n", [(1, "providers", "expected table, got integer (5)")]),
    "below-minimum": Case("[settings]\ncert_min_days = -1\n" + SSO,
                          [(2, "settings.cert_min_days", "-1 is less than the minimum, 0")]),
    "above-maximum": Case("[settings]\nretries = 9\n" + SSO, [(2, "settings.retries", "9 is more than the maximum, 5")]),
    "bad-table-name": Case('[providers."bad name"]\nkind = "oidc"\nissuer = "https://x"\n',
                           [(1, "providers.bad name", "'bad name' is not a valid name (letters, digits, '-', '_' and '.', "
                                                      "starting with a letter or digit)")]),
    "bad-env-variable-name": Case(SSO + CLI + '[clients.cli.env]\n"1A" = {}\n',
                                  [(9, "clients.cli.env.1A", "'1A' is not an environment variable name (letters, digits "
                                                             "and _, not starting with a digit)")]),
    "enum": Case(SSO + CLI + 'type = "secret"\n',
                 [(8, "clients.cli.type", "'secret' is not one of 'public', 'confidential'")]),
    "duplicate-items": Case(SSO + CLI + 'scopes = ["openid", "openid"]\n',
                            [(8, "clients.cli.scopes", "lists an item more than once")]),
    "probe-with-two-sources": Case(api("""
        [apis.platform.probes]
        other_audience = { client = "cli", bearer = "${SECRET}" }
        """), [(18, "apis.platform.probes.other_audience", "needs exactly one of client or bearer")]),
    "rule-request-form": Case(api("""
        [[apis.platform.rules]]
        request = "FETCH /x"
        """), [(18, "apis.platform.rules[0].request",
                "'FETCH /x' does not have the expected form (^(GET|HEAD|OPTIONS|POST|PUT|PATCH|DELETE) /\\S*$)")]),

    # ---- durations --------------------------------------------------------------------------------------------
    "duration-form": Case('[settings]\ntimeout = "ten seconds"\n' + SSO, [(2, "settings.timeout", f"'ten seconds' {DURATION}")]),
    "duration-negative": Case("[settings]\ntimeout = -5\n" + SSO, [(2, "settings.timeout", f"-5 {DURATION}")]),
    "duration-zero-timeout": Case('[settings]\ntimeout = "0s"\n' + SSO, [(2, "settings.timeout", "must be more than 0s")]),
    "duration-absurd-days": Case('[settings]\ntimeout = "99999999999999999999999d"\n' + SSO,
                                 [(2, "settings.timeout", f"'99999999999999999999999d' {TEN_YEARS}")]),
    "duration-int64-max": Case("[settings]\ntimeout = 9223372036854775807\n" + SSO,
                               [(2, "settings.timeout", f"9223372036854775807 {TEN_YEARS}")]),
    "duration-just-over-ten-years": Case(SSO + CLI + 'refresh_token_max = "3651d"\n',
                                         [(8, "clients.cli.refresh_token_max", f"'3651d' {TEN_YEARS}")]),
    "duration-in-an-api": Case(api().replace('roles = ["viewer", "admin"]', 'roles = ["viewer", "admin"]\nleeway = "87601h"'),
        [(13, "apis.platform.leeway", f"'87601h' {TEN_YEARS}")]),

    # ---- waivers ----------------------------------------------------------------------------------------------
    "waiver-impossible-date": Case(SSO + WAIVER.format(check="discovery.issuer-match", expires="2027-13-45"),
                                   [(9, "waivers[0].expires", "'2027-13-45' is not a date (YYYY-MM-DD, a real day of a real month)")]),
    "waiver-february-30": Case(SSO + WAIVER.format(check="discovery.issuer-match", expires="2027-02-30"),
                               [(9, "waivers[0].expires", "'2027-02-30' is not a date (YYYY-MM-DD, a real day of a real month)")]),
    "waiver-word-for-date": Case(SSO + WAIVER.format(check="discovery.issuer-match", expires="tomorrow"),
                                 [(9, "waivers[0].expires", "'tomorrow' is not a date (YYYY-MM-DD, a real day of a real month)")]),
    "waiver-impossible-toml-date": Case(SSO + WAIVER.format(check="discovery.issuer-match", expires="x").replace(
        '"x"', "2027-13-45"), [(9, None, re.compile(r"not valid TOML: .*\(at line 9, column \d+\)"))]),
    "waiver-unknown-check-typo": Case(SSO + WAIVER.format(check="redirect-uri.loopback-any-prt", expires="2099-01-01"),
                                      [(6, "waivers[0].check", "no check with id 'redirect-uri.loopback-any-prt' (did you "
                                                               "mean 'redirect-uri.loopback-any-port'?)")]),
    "waiver-unknown-check": Case(SSO + WAIVER.format(check="zz", expires="2099-01-01"),
                                 [(6, "waivers[0].check", "no check with id 'zz' (docs/checks.md lists the shipped checks; a "
                                                          "team's own come from the folders in settings.checks)")]),
    "waiver-missing-keys": Case(SSO + '\n[[waivers]]\ncheck = "discovery.issuer-match"\n',
                                [(5, "waivers[0]", "target is required"), (5, "waivers[0]", "reason is required"),
                                 (5, "waivers[0]", "expires is required")]),
    "waiver-short-reason": Case(SSO + WAIVER.format(check="discovery.issuer-match", expires="2099-01-01").replace(
        '"accepted"', '"x"'), [(8, "waivers[0].reason", "must be at least 3 characters long")]),

    # ---- ${VAR} references --------------------------------------------------------------------------------------
    "variable-not-set": Case(SSO + CLI + 'client_secret = "${NOPE}"\n',
                             [(8, "clients.cli.client_secret", "environment variable NOPE is not set")]),
    "two-variables-not-set": Case(SSO + CLI + 'client_secret = "${A_ID}:${B_ID}"\n',
                                  [(8, "clients.cli.client_secret", "environment variable A_ID is not set"),
                                   (8, "clients.cli.client_secret", "environment variable B_ID is not set")]),
    "variable-unterminated": Case('[providers.sso]\nkind = "oidc"\nissuer = "https://${HOST"\n',
                                  [(3, "providers.sso.issuer", UNTERMINATED)]),
    "variable-empty": Case(SSO + CLI + 'client_secret = "${}"\n',
                           [(8, "clients.cli.client_secret", "'${}' names no environment variable (write ${NAME}, or "
                                                             "$${} for a literal ${})")]),
    "variable-not-a-name": Case(SSO + CLI + 'client_secret = "${hunter2-not-a-name}"\n',
                                [(8, "clients.cli.client_secret", "'${...}' holds no variable name (letters, digits and "
                                                                  "_, not starting with a digit)")]),

    # ---- issuers and URLs -----------------------------------------------------------------------------------------
    "http-issuer": Case('[providers.sso]\nkind = "oidc"\nissuer = "http://sso.example"\n',
                        [(3, "providers.sso.issuer", f"plain http issuer on sso.example, {PLAIN_HTTP}")]),
    "http-loopback-issuer-not-allowed": Case('[providers.sso]\nkind = "oidc"\nissuer = "http://127.0.0.1:8080"\n',
                                             [(3, "providers.sso.issuer", "plain http issuer: set allow_http_loopback = "
                                                                          "true on this provider to test a loopback issuer "
                                                                          "over http, or use https")]),
    "http-issuer-not-loopback-allowed": Case('[providers.sso]\nkind = "oidc"\nissuer = "http://sso.example"\n'
                                             "allow_http_loopback = true\n",
                                             [(3, "providers.sso.issuer", f"plain http issuer on sso.example, {PLAIN_HTTP}")]),
    "issuer-without-scheme": Case('[providers.sso]\nkind = "oidc"\nissuer = "sso.example"\n',
                                  [(3, "providers.sso.issuer", "'sso.example' is not an https URL (write it as discovery "
                                                               "states it: https://host/path)")]),
    "issuer-port-out-of-range": Case('[providers.sso]\nkind = "oidc"\nissuer = "https://sso.example:99999"\n',
                                     [(3, "providers.sso.issuer", "'https://sso.example:99999' is not a URL (Port out of "
                                                                  "range 0-65535)")]),
    "issuer-empty": Case('[providers.sso]\nkind = "oidc"\nissuer = ""\n', [(3, "providers.sso.issuer", "must not be empty")]),
    "jamf-url-plain-http": Case('[providers.jamf]\nkind = "jamf"\nurl = "http://acme.jamfcloud.com"\n',
                                [(3, "providers.jamf.url", "'http://acme.jamfcloud.com' uses plain http: Jamf Pro "
                                                           "credentials and tokens would travel unencrypted; use https://")]),

    # ---- references between tables ---------------------------------------------------------------------------------
    "client-unknown-provider": Case(SSO + CLI.replace('"sso"', '"ssso"'),
                                    [(6, "clients.cli.provider", "no provider named 'ssso' (did you mean 'sso'?)")]),
    "user-unknown-provider": Case(SSO + '\n[users.alice]\nprovider = "okta"\nusername = "alice"\n',
                                  [(6, "users.alice.provider", "no provider named 'okta' (declared: sso)")]),
    "privilege-unknown-principal": Case(SSO + CLI + '\n[privileges.cli]\nprincipal = "clii"\nrequire = ["Read"]\n',
                                        [(10, "privileges.cli.principal", "no client or user named 'clii' (did you mean 'cli'?)")]),
    "credentials-client-of-other-provider": Case(
        SSO + CLI + '\n[providers.other]\nkind = "oidc"\nissuer = "https://other.example"\n'
        '\n[credentials.cli]\npath = "~/.cli.json"\nprovider = "other"\nclient = "cli"\n',
        [(16, "credentials.cli.client", "clients.cli belongs to provider 'sso', not 'other'")]),
    "api-anonymous-reserved": Case(api(principals='anonymous = { bearer = "${SECRET}" }'),
                                   [(15, "apis.platform.principals.anonymous",
                                     "'anonymous' is reserved: it is the implicit principal that sends no credential")]),
    "api-unknown-role": Case(api("""
        [[apis.platform.rules]]
        request = "GET /x"
        min_role = "boss"
        """), [(19, "apis.platform.rules[0].min_role",
                "min_role 'boss' is not one of the API's roles (viewer, admin)")]),
    "api-unknown-principal": Case(api("""
        [[apis.platform.rules]]
        request = "GET /x"
        allow = ["nobody"]
        """), [(19, "apis.platform.rules[0].allow", "no principal named 'nobody' (declared: viewer, anonymous)")]),
    "api-duplicate-rule": Case(api("""
        [[apis.platform.rules]]
        request = "GET /x"

        [[apis.platform.rules]]
        request = "GET /x"
        """), [(17, "apis.platform.rules", "more than one rule for GET /x")]),
    "api-probe-unknown-client": Case(api("""
        [apis.platform.probes]
        other_audience = { client = "billing" }
        """), [(18, "apis.platform.probes.other_audience.client", "no client named 'billing' (declared: cli)")]),
    "env-issuer-of-a-jamf-provider": Case(
        '[providers.jamf]\nkind = "jamf"\nurl = "https://acme.jamfcloud.com"\n'
        '\n[clients.mcp]\nprovider = "jamf"\nclient_id = "abc"\n\n[clients.mcp.env]\nJAMF_URL = { equals = "issuer" }\n',
        [(10, "clients.mcp.env.JAMF_URL.equals", "provider 'jamf' is not an oidc provider and has no issuer (use "
                                                 "provider_url)")]),
    "env-pointer-without-json": Case(SSO + CLI + 'env_file = ".env"\nenv_pointer = "/env"\n',
                                     [(9, "clients.cli.env_pointer", "env_pointer needs a .json env_file")]),

    # ---- files the policy names ---------------------------------------------------------------------------------
    "ca-bundle-missing": Case('[settings]\nca_bundle = "missing.pem"\n' + SSO,
                              [(2, "settings.ca_bundle", "file not found: {dir}/missing.pem")]),
    "ca-bundle-not-pem": Case('[settings]\nca_bundle = "ca.pem"\n' + SSO,
                              [(2, "settings.ca_bundle", "{dir}/ca.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
                                                         "give the CA certificates in PEM form")],
                              files={"ca.pem": "this is not a certificate\n"}),
    "ca-bundle-empty": Case('[settings]\nca_bundle = "ca.pem"\n' + SSO,
                            [(2, "settings.ca_bundle", "{dir}/ca.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
                                                       "give the CA certificates in PEM form")], files={"ca.pem": ""}),
    "ca-bundle-corrupt-pem": Case('[settings]\nca_bundle = "ca.pem"\n' + SSO,
                                  [(2, "settings.ca_bundle", re.compile(r"\{dir\}/ca\.pem is not a readable PEM certificate "
                                                                        r"bundle \(.+\); give the CA certificates in PEM form"))],
                                  files={"ca.pem": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"}),
    "ca-bundle-der": Case('[settings]\nca_bundle = "ca.der"\n' + SSO,
                          [(2, "settings.ca_bundle", "{dir}/ca.der is not UTF-8 text (byte 1)")],
                          files={"ca.der": b"\x30\x82\xff\xfe\x00"}),
    "checks-folder-missing": Case('[settings]\nchecks = ["ours"]\n' + SSO,
                                  [(2, "settings.checks[0]", "folder not found: {dir}/ours")]),
}

# Every kind of problem at once: all of them are reported, in the order of the file.
MANY = textwrap.dedent("""\
    [settings]
    timeout = "99999999999999999999999d"
    ca_bundle = "ca.pem"

    [providers.sso]
    kind = "oidc"
    issuer = "http://sso.example"
    isuer = "x"

    [providers.nokind]
    issuer = "https://${HOST"

    [clients.cli]
    provider = "ssso"
    client_id = "${}"
    scope = ["openid"]

    [apis.platform]
    base_url = "https://api.example"
    [apis.platform.probes]
    other_audience = { client = "cli", resource = "https://billing" }

    [[waivers]]
    check = "redirect-uri.loopback-any-prt"
    target = "clients.cli"
    reason = "upgrade scheduled"
    expires = "2027-13-45"
    """)
MANY_ERRORS = [
    (2, "settings.timeout", f"'99999999999999999999999d' {TEN_YEARS}"),
    (3, "settings.ca_bundle", "{dir}/ca.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA "
                              "certificates in PEM form"),
    (7, "providers.sso.issuer", f"plain http issuer on sso.example, {PLAIN_HTTP}"),
    (8, "providers.sso.isuer", "unknown key (did you mean 'issuer'?)"),
    (10, "providers.nokind", "kind is required (oidc | jamf)"),
    (11, "providers.nokind.issuer", UNTERMINATED),
    (14, "clients.cli.provider", "no provider named 'ssso' (did you mean 'sso'?)"),
    (15, "clients.cli.client_id", "'${}' names no environment variable (write ${NAME}, or $${} for a literal ${})"),
    (16, "clients.cli.scope", "unknown key (did you mean 'scopes'?)"),
    (21, "apis.platform.probes.other_audience.resource", "unknown key (did you mean 'clients.cli.resource'?)"),
    (24, "waivers[0].check", "no check with id 'redirect-uri.loopback-any-prt' (did you mean "
                             "'redirect-uri.loopback-any-port'?)"),
    (27, "waivers[0].expires", "'2027-13-45' is not a date (YYYY-MM-DD, a real day of a real month)"),
]
CASES["every-kind-at-once"] = Case(MANY, MANY_ERRORS, files={"ca.pem": "not a certificate\n"})


def write(case: Case, folder: Path) -> Path:
    for name, content in case.files.items():
        target = folder / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    path = folder / ("pyproject.toml" if case.pyproject else "authcheck.toml")
    path.write_bytes(case.policy if isinstance(case.policy, bytes) else case.policy.encode())
    return path


def expected_line(name: str, line: int | None, key: str | None, problem: str, folder: Path) -> str:
    where = f"{name}:{line}" if line else name
    return f"{where}: {key}: {problem}" if key else f"{where}: {problem}"


def assert_lines(actual: list[str], case: Case, name: str, folder: Path) -> None:
    assert len(actual) == len(case.errors), "\n".join(actual)
    for got, (line, key, problem) in zip(actual, case.errors, strict=True):
        if isinstance(problem, re.Pattern):
            prefix = re.escape(expected_line(name, line, key, "", folder))
            pattern = prefix + problem.pattern.replace(r"\{dir\}", re.escape(str(folder)))
            assert re.fullmatch(pattern, got), (got, pattern)
        else:
            assert got == expected_line(name, line, key, problem.replace("{dir}", str(folder)), folder)


@pytest.mark.parametrize("case_id", list(CASES))
def test_broken_policy_reports_every_problem_with_line_and_key(case_id: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[case_id]
    monkeypatch.chdir(tmp_path)
    path = write(case, tmp_path)
    with pytest.raises(PolicyError) as caught:
        load_policy(path, pyproject=case.pyproject, environ=ENV)
    assert isinstance(caught.value, PolicyErrors)
    assert_lines(list(caught.value.lines), case, path.name, tmp_path)
    assert str(caught.value) == "\n".join(caught.value.lines)


def test_the_corpus_is_large_and_its_base_policies_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(CASES) >= 60
    monkeypatch.chdir(tmp_path)
    for good in (SSO, SSO + CLI, api()):
        path = tmp_path / "authcheck.toml"
        path.write_text(good)
        load_policy(path, environ=ENV)


def test_a_secret_written_in_a_malformed_reference_is_not_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "authcheck.toml"
    path.write_text(SSO + CLI + 'client_secret = "${hunter2-s3cr3t}"\npassword = "x${hunter2"\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(path, environ=ENV)
    assert "hunter2" not in str(caught.value)
    assert "clients.cli.client_secret" in str(caught.value)


# ---- what is fine must stay fine ----------------------------------------------------------------------------------
def test_near_misses_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "checks.py").write_text(
        "from pytest_authcheck import check\n\n"
        "@check('acme.userinfo', title='t', severity='low', area='custom', refs=[], remediation='r')\n"
        "def test_userinfo():\n    pass\n\n"
        "def test_plain():\n    pass\n")
    policy = textwrap.dedent("""\
        [settings]
        ca_bundle = "ca.pem"
        timeout = 30
        max_clock_skew = "3650d"
        checks = ["ours"]

        [providers.sso]
        kind = "oidc"
        issuer = "https://${HOST}/realm"
        signing_algs = ["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"]  # [[[[ not nesting
        allowed_hosts = ['''[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[''']

        [providers.local]
        kind = "oidc"
        issuer = "http://127.0.0.1:8080/"
        allow_http_loopback = true

        [clients.cli]
        provider = "sso"
        client_id = "cost-$${literal}-$$5"
        client_secret = "${SECRET}"

        [[waivers]]
        check = "acme.userinfo"
        target = "providers.sso"
        reason = "ours"
        expires = 2099-12-31

        [[waivers]]
        check = "custom.test_plain"
        target = "providers.sso"
        reason = "ours too"
        expires = "2099-12-31"
        """)
    path = tmp_path / "authcheck.toml"
    path.write_text(policy)
    loaded = load_policy(path, environ=ENV)
    assert loaded.data["providers"]["sso"]["issuer"] == "https://sso.example/realm"
    assert loaded.data["clients"]["cli"]["client_id"] == "cost-${literal}-$5"
    assert loaded.settings.ca_bundle == tmp_path / "ca.pem"
    assert loaded.settings.max_clock_skew == 3650 * 86400


def test_waivers_of_a_teams_checks_are_judged_against_its_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "checks.py").write_text(
        "from pytest_authcheck import check\n\n"
        "@check('acme.userinfo', title='t', severity='low', area='custom', refs=[], remediation='r')\n"
        "def test_userinfo():\n    pass\n")
    path = tmp_path / "authcheck.toml"
    path.write_text('[settings]\nchecks = ["ours"]\n' + SSO + WAIVER.format(check="acme.userinf", expires="2099-01-01"))
    with pytest.raises(PolicyError, match=r"^authcheck.toml:8: waivers\[0\].check: no check with id 'acme.userinf' "
                                          r"\(did you mean 'acme.userinfo'\?\)$"):
        load_policy(path, environ=ENV)
    # A folder that does not parse cannot tell which ids exist: the waiver is not refused on a guess.
    (tmp_path / "ours" / "broken.py").write_text("def (:\n")
    load_policy(path, environ=ENV)


# ---- end to end: what `pytest --authcheck` prints -----------------------------------------------------------------
@pytest.mark.parametrize("case_id", ["every-kind-at-once", "nested-arrays-10000-deep", "waiver-impossible-date",
                                     "ca-bundle-not-pem", "not-utf8-then-more", "empty-file",
                                     "duration-absurd-days", "http-loopback-issuer-not-allowed"])
def test_pytest_authcheck_exits_4_with_one_line_per_problem(case_id: str, pytester: pytest.Pytester) -> None:
    case = CASES[case_id]
    write(case, pytester.path)
    result = pytester.runpytest_subprocess("--authcheck", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out, err = result.stdout.str(), result.stderr.str()
    for text in (out, err):
        assert "Traceback" not in text and "INTERNALERROR" not in text and "RecursionError" not in text, text
    assert not out.strip(), out
    lines = [line for line in err.splitlines() if line.strip()]
    if len(case.errors) == 1:
        assert lines[0].startswith("ERROR: authcheck policy: "), lines
        lines = [lines[0].removeprefix("ERROR: authcheck policy: ")] + lines[1:]
    else:
        assert lines[0] == f"ERROR: authcheck policy: {len(case.errors)} errors", lines
        lines = lines[1:]
    assert_lines(lines, case, "authcheck.toml", pytester.path)
    assert not (pytester.path / "reports").exists()


def test_hundreds_of_problems_print_a_bounded_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_authcheck.plugin import MAX_POLICY_ERROR_LINES, _policy_error_text

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "authcheck.toml"
    path.write_text(SSO + "".join(f"unknown_{i} = 1\n" for i in range(150)))
    with pytest.raises(PolicyError) as caught:
        load_policy(path, environ=ENV)
    assert isinstance(caught.value, PolicyErrors) and len(caught.value.errors) == 150
    assert [e.line for e in caught.value.errors] == list(range(4, 154))  # file order
    text = _policy_error_text(caught.value).splitlines()
    assert text[0] == "authcheck policy: 150 errors"
    assert len(text) == 1 + MAX_POLICY_ERROR_LINES + 1 and text[-1] == "... and 50 more"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # importing the suites outside a run
def test_check_ids_read_from_source_are_the_shipped_checks() -> None:
    # Waiver ids are judged against the suites' source (not imported at policy load): it must agree with the import.
    from pytest_authcheck._check_ids import check_ids, shipped_suites_dir
    from pytest_authcheck._checks import shipped_checks

    ids, complete = check_ids([shipped_suites_dir()])
    assert complete
    assert {c.id for c in shipped_checks()} == {i for i in ids if not i.startswith("custom.")}


def test_an_unset_variable_in_a_path_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "authcheck.toml"
    path.write_text('[settings]\nca_bundle = "${CA}"\nchecks = ["${OURS}"]\n' + SSO.replace("https://sso.example", "${ISSUER}"))
    with pytest.raises(PolicyError) as caught:
        load_policy(path, environ=ENV)
    assert caught.value.lines == ("authcheck.toml:2: settings.ca_bundle: environment variable CA is not set",
                                  "authcheck.toml:3: settings.checks[0]: environment variable OURS is not set",
                                  "authcheck.toml:6: providers.sso.issuer: environment variable ISSUER is not set")


def test_a_file_of_thousands_of_unknown_keys_is_described_in_bounded_time(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_authcheck.policy.schema import MAX_SCHEMA_PROBLEMS

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "authcheck.toml"
    path.write_text(SSO + "".join(f"k{i} = 1\n" for i in range(5000)))
    with pytest.raises(PolicyError) as caught:
        load_policy(path, environ=ENV)
    lines = caught.value.lines
    assert len(lines) == MAX_SCHEMA_PROBLEMS + 1
    assert lines[0].startswith("authcheck.toml:4: providers.sso.k0: unknown key")
    assert lines[-1] == f"authcheck.toml: and about {5000 - MAX_SCHEMA_PROBLEMS} more problems the schema found (the first " \
                        f"{MAX_SCHEMA_PROBLEMS} are shown)"
