"""The local hygiene suites (credentials files and stored tokens, env-based client configuration, literal
secrets in the policy) with real files in temporary directories and tokens from the real test IdP.

Each check passes on a good setup and fails (or is an error / skipped) exactly where it should, with a
message naming what was expected and observed; no token or secret ever reaches an output.
"""

from __future__ import annotations

# See tests/test_suites_oidc.py: pins one httpcore for pytester's in-process runs.
import httpcore  # noqa: F401

import json
import os
import re
import socket
import ssl
import stat
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from freezegun import freeze_time

from pytest_authcheck._credentials import (
    expiry_state,
    human_duration,
    parse_expires_at,
    seconds_until,
    shape_problems,
)
from pytest_authcheck._envcheck import normalise_url, parse_dotenv, url_form_problem
from pytest_authcheck._secrets_scan import credential_comments, credential_kind
from tests.conftest import area_of, invariant_breaches, oidc_policy, unstated_verdicts
from tests.idp.world import DEPLOYER_SECRET, IdpSpec, run_authorization_code_flow

FILE_CHECKS = {"credentials.file-present", "credentials.file-owner", "credentials.file-mode",
               "credentials.dir-not-writable", "credentials.dir-private", "credentials.file-format"}
TOKEN_CHECKS = {"credentials.token-issuer", "credentials.token-signature", "credentials.token-audience",
                "credentials.token-client", "credentials.expiry-consistent", "credentials.token-not-expired",
                "credentials.token-expiring-soon"}
ENV_CHECKS = {"credentials.env-required", "credentials.env-allowed-values", "credentials.env-url-form",
              "credentials.env-matches-policy", "credentials.env-file-private"}
POLICY_CHECKS = {"credentials.policy-secret-refs", "credentials.policy-no-credentials"}
JAMF_PASSWORD = "Jp4ss-w0rd-n0t-f0r-pr1nt"
JAMF_CLIENT_SECRET = "jcs_8Hq2LmZ7xT4vR9nK3pW6yB1cF5gJ0dS"


# ---------------------------------------------------------------------------------------------------
# tokens and files


def _client_credentials_token(idp) -> dict:
    """A real RFC 9068 access token of ci-deployer (aud https://api.test), straight from the IdP."""
    context = ssl.create_default_context(cafile=str(idp.ca_pem_path))
    with httpx.Client(verify=context, timeout=10) as http:
        token_endpoint = http.get(idp.discovery_url).raise_for_status().json()["token_endpoint"]
        response = http.post(token_endpoint, data={"grant_type": "client_credentials", "scope": "deploy read"},
                             auth=("ci-deployer", DEPLOYER_SECRET))
    return response.raise_for_status().json()


@pytest.fixture(scope="module")
def cli_login(idp) -> dict:
    """What `enclii login` obtains: a JWT access token of enclii-cli for https://api.test, and a refresh token."""
    return run_authorization_code_flow(idp("good"), scope="openid offline_access deploy",
                                       extra_params={"prompt": "consent", "resource": "https://api.test"})


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _sign(key, claims: dict, kid: str = "rsa-1") -> str:
    """A token signed by a key the IdP never published (same kid as the IdP's key, so only the signature differs)."""
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


def _expires_at(token: str) -> str:
    return datetime.fromtimestamp(_claims(token)["exp"], tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(login: dict, **changes) -> dict:
    """The seed's credentials.json for a login response."""
    document = {"access_token": login["access_token"], "refresh_token": login["refresh_token"],
                "token_type": "Bearer", "expires_at": _expires_at(login["access_token"])}
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def _write(path: Path, content: str | dict, *, mode: int = 0o600, dir_mode: int = 0o700) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    os.chmod(path, mode)
    os.chmod(path.parent, dir_mode)
    return path


def _credentials_policy(idp, path: Path, *, client: str = "cli", extra: str = "", table: str = "") -> str:
    return oidc_policy(idp, extra=textwrap.dedent(f"""
        [credentials.cli]
        path = "{path}"
        provider = "sso"
        client = "{client}"
        audience = "https://api.test"
        mode = "600"
        {table}
        """) + textwrap.dedent(extra))


def _run(run_authcheck, policy: str, *args: str, **kwargs):
    """Only the local hygiene checks (area credentials): the provider suites have their own tests. Every run, good
    or broken, holds the result model's invariants: no verdict contradicts its own evidence or rests on nothing."""
    run = run_authcheck(policy, "-m", "credentials", *args, **kwargs)
    assert invariant_breaches(run.report) == {}, run.output()
    assert unstated_verdicts(run.report, {"credentials"}) == {}
    return run


def _results(run, checks: set[str]) -> dict[str, dict]:
    by_check = run.by_check()
    missing = checks - set(by_check)
    assert not missing, f"checks that did not run: {missing}\n{run.output()}"
    return {c: by_check[c] for c in checks}


def _assert_statuses(run, checks: set[str], **expected: str) -> None:
    """Every check in ``checks`` passed, except those named in ``expected`` (check id with _ for . and -)."""
    wanted = {c: "passed" for c in checks}
    for key, status in expected.items():
        wanted[_id(key)] = status
    observed = {c: r["status"] for c, r in _results(run, checks).items()}
    assert observed == wanted, (
        {c: (s, run.by_check()[c]["message"]) for c, s in observed.items() if s != wanted[c]}, run.output())


def _id(key: str) -> str:
    area, _, rest = key.partition("__")
    return f"{area}.{rest.replace('_', '-')}"


def _message(run, check_id: str, *patterns: str) -> str:
    message = run.by_check()[check_id]["message"]
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


def _assert_never_shown(run, *secrets: str) -> None:
    """No secret in the terminal output, the JSON or HTML report (or anything else in the reports folder)."""
    texts = [run.output()] + [p.read_text(errors="replace") for p in run.reports_dir.rglob("*") if p.is_file()]
    for secret in secrets:
        for fragment in (secret, secret[:40], secret[-40:]):
            for text in texts:
                assert fragment not in text


# ---------------------------------------------------------------------------------------------------
# 1. credentials files and stored tokens


def test_a_fresh_cli_login_passes_every_credentials_check(idp, cli_login, run_authcheck, tmp_path):
    good = idp("good")
    path = _write(tmp_path / "home" / ".enclii" / "credentials.json", _document(cli_login))
    run = _run(run_authcheck, _credentials_policy(good, path, table='expiry_warning = "5m"'),
               "--junitxml", "reports/junit.xml")

    _assert_statuses(run, FILE_CHECKS | TOKEN_CHECKS)
    results = run.by_check()
    assert {results[c]["target"] for c in FILE_CHECKS | TOKEN_CHECKS} == {"credentials.cli"}
    assert results["credentials.file-mode"]["observed"] == "0600"
    assert results["credentials.token-issuer"]["observed"] == good.served_issuer
    assert results["credentials.token-client"]["observed"] == "enclii-cli"
    jwts = results["credentials.token-signature"]["evidence"]["jwts"]
    assert jwts[0]["claims"]["iss"] == good.served_issuer and jwts[0]["fingerprint"].startswith("sha256:")
    assert results["credentials.token-signature"]["evidence"]["exchanges"], "the JWKS fetch is evidence"
    assert run.result.ret == pytest.ExitCode.OK
    _assert_never_shown(run, cli_login["access_token"], cli_login["refresh_token"])


@pytest.mark.parametrize("broken", [False, True], ids=["good", "broken"])
def test_verdicts_keep_the_result_model_invariants(idp, cli_login, run_authcheck, tmp_path, broken):
    # Files, the stored token, env variables and the policy, good and broken at once; _run asserts no breach and
    # that every verdict states expected and observed; here, what they say where the check passed and failed.
    good = idp("good")
    credentials = _write(tmp_path / "home" / ".enclii" / "credentials.json",
                         _document(cli_login, **({"expires_at": "2000-01-01T00:00:00Z"} if broken else {})),
                         mode=0o644 if broken else 0o600, dir_mode=0o777 if broken else 0o700)
    env = _enclii_env(good, credentials, **({"ENCLII_API_URL": "api.enclii.dev/"} if broken else {}))
    policy = _credentials_policy(good, credentials, table='expiry_warning = "5m"') + textwrap.dedent(ENCLII_ENV)
    if broken:
        policy += '\n[users.tester]\nprovider = "sso"\nusername = "tester"\npassword = "hunter2-Qx9Lm"\n'
    run = _run(run_authcheck, policy, env=env)
    results = {r["check"]: r for r in run.report["results"]
               if area_of(run.report, r) == "credentials" and "[no-" not in r["nodeid"]}
    stated = {c: r for c, r in results.items() if r["status"] in ("passed", "failed")}
    failed = {c for c, r in stated.items() if r["status"] == "failed"}
    assert failed == ({"credentials.file-mode", "credentials.dir-not-writable", "credentials.dir-private",
                       "credentials.expiry-consistent", "credentials.env-url-form", "credentials.policy-secret-refs"}
                      if broken else set()), {c: r["message"] for c, r in results.items() if r["status"] != "passed"}
    assert len(stated) >= 16, {c: r["status"] for c, r in results.items()}
    mode = stated["credentials.file-mode"]
    assert (mode["expected"], mode["observed"]) == ("0600 or stricter", "0644" if broken else "0600")
    for check_id in ("credentials.token-issuer", "credentials.env-required", "credentials.policy-secret-refs"):
        result = stated[check_id]
        assert (result["expected"] == result["observed"]) == (result["status"] == "passed"), result
    assert "hunter2-Qx9Lm" not in json.dumps(run.report)


def test_a_world_readable_file_fails_the_mode_check(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login), mode=0o644)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _assert_statuses(run, FILE_CHECKS, credentials__file_mode="failed")
    _message(run, "credentials.file-mode", r"has mode 0644, which allows group read, others read; "
                                           r"the policy allows at most 0600")
    assert run.by_check()["credentials.file-mode"]["expected"] == "0600 or stricter"


def test_a_stricter_mode_passes_and_a_stricter_policy_fails_600(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login), mode=0o400)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    assert run.status("credentials.file-mode") == "passed"

    os.chmod(path, 0o600)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path).replace('mode = "600"', 'mode = "400"'))
    assert run.status("credentials.file-mode") == "failed"
    _message(run, "credentials.file-mode", r"mode 0600, which allows owner write; the policy allows at most 0400")


def test_directory_permissions(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "open" / "credentials.json", _document(cli_login), dir_mode=0o777)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    _assert_statuses(run, FILE_CHECKS, credentials__dir_not_writable="failed", credentials__dir_private="failed")
    _message(run, "credentials.dir-not-writable", r"mode 0777 allows group write, others write")

    os.chmod(path.parent, 0o755)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    _assert_statuses(run, FILE_CHECKS, credentials__dir_private="failed")
    _message(run, "credentials.dir-private", r"has mode 0755, which allows group read, group execute, others read, "
                                             r"others execute; 0700 is recommended")


def test_owner_is_the_current_user(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    assert run.status("credentials.file-owner") == "passed"
    assert run.by_check()["credentials.file-owner"]["observed"].startswith(f"uid {os.geteuid()}")

    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root; the negative case runs as root")
    os.chown(path, 65534, 65534)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    _assert_statuses(run, FILE_CHECKS, credentials__file_owner="failed")
    _message(run, "credentials.file-owner", r"is owned by uid 65534\b.*, not by uid 0 \(root\) who runs the check")


def test_a_missing_file_fails_presence_and_the_rest_cannot_be_evaluated(idp, run_authcheck, tmp_path):
    path = tmp_path / "nowhere" / "credentials.json"
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _message(run, "credentials.file-present", re.escape(f"there is no file at {path}"))
    statuses = {c: r["status"] for c, r in _results(run, FILE_CHECKS | TOKEN_CHECKS).items()}
    assert statuses.pop("credentials.file-present") == "failed"
    assert set(statuses.values()) == {"error"}, statuses
    assert "no credentials file at" in run.by_check()["credentials.file-mode"]["message"]


def test_a_directory_at_the_path_is_not_a_credentials_file(idp, run_authcheck, tmp_path):
    path = tmp_path / "c" / "credentials.json"
    path.mkdir(parents=True)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    assert run.status("credentials.file-present") == "failed"
    _message(run, "credentials.file-present", r"is a directory, not a regular file")


def test_a_corrupted_file_fails_the_format_check_and_token_checks_cannot_be_evaluated(
        idp, cli_login, run_authcheck, tmp_path):
    text = json.dumps(_document(cli_login))[:-25]  # cut inside the last member: the tokens are still in there
    path = _write(tmp_path / "c" / "credentials.json", text)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _assert_statuses(run, FILE_CHECKS, credentials__file_format="failed")
    _message(run, "credentials.file-format", r"is not valid JSON: .* at line 1 column \d+")
    assert {r["status"] for r in _results(run, TOKEN_CHECKS).values()} == {"error"}
    assert "is not valid JSON" in run.by_check()["credentials.token-issuer"]["message"]
    _assert_never_shown(run, cli_login["access_token"], cli_login["refresh_token"])


def test_the_file_must_have_the_declared_shape(idp, cli_login, run_authcheck, tmp_path):
    document = _document(cli_login, refresh_token=None, token_type="mac", expires_at="tomorrow")
    path = _write(tmp_path / "c" / "credentials.json", document)
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _assert_statuses(run, FILE_CHECKS, credentials__file_format="failed")
    _message(run, "credentials.file-format", r"no refresh_token", r"token_type is 'mac', not Bearer or DPoP",
             r"expires_at 'tomorrow' is not an RFC 3339 time")

    # A file without a refresh token is fine when the policy says the tool writes none.
    path = _write(path, _document(cli_login, refresh_token=None))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path,
                                                  table='fields = ["access_token", "token_type", "expires_at"]'))
    assert run.status("credentials.file-format") == "passed"


def test_a_token_signed_by_another_key_fails_only_the_signature_check(idp, cli_login, other_key, run_authcheck,
                                                                      tmp_path):
    forged = _sign(other_key, _claims(cli_login["access_token"]))
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login, access_token=forged))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _assert_statuses(run, TOKEN_CHECKS - {"credentials.token-expiring-soon"},
                     credentials__token_signature="failed")
    _message(run, "credentials.token-signature", r"its signature \(RS256, kid 'rsa-1'\) does not verify with the "
                                                 r"provider's published key\(s\)")
    _assert_never_shown(run, forged)


def test_a_token_of_another_issuer_fails_issuer_and_signature(idp, cli_login, other_key, run_authcheck, tmp_path):
    claims = {**_claims(cli_login["access_token"]), "iss": "https://auth.other.example"}
    foreign = _sign(other_key, claims, kid="other-1")
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login, access_token=foreign))
    good = idp("good")
    run = _run(run_authcheck, _credentials_policy(good, path))

    _assert_statuses(run, TOKEN_CHECKS - {"credentials.token-expiring-soon"},
                     credentials__token_issuer="failed", credentials__token_signature="failed")
    _message(run, "credentials.token-issuer", re.escape(f"issued by 'https://auth.other.example', not by "
                                                        f"providers.sso ({good.served_issuer})"))
    _message(run, "credentials.token-signature", r"kid 'other-1' is not in the provider's JWK Set "
                                                 r"\(published kids: 'rsa-1', 'ec-1'\)")


def test_audience_and_client_are_the_declared_ones(idp, run_authcheck, tmp_path):
    good = idp("good")
    token = _client_credentials_token(good)  # ci-deployer's, aud https://api.test
    document = {"access_token": token["access_token"], "refresh_token": "rt-unused-0000",
                "token_type": "Bearer", "expires_at": _expires_at(token["access_token"])}
    path = _write(tmp_path / "c" / "credentials.json", document)

    run = _run(run_authcheck, _credentials_policy(good, path, client="deployer"))
    _assert_statuses(run, TOKEN_CHECKS - {"credentials.token-expiring-soon"})

    policy = _credentials_policy(good, path, client="cli").replace('audience = "https://api.test"',
                                                                   'audience = "https://billing.test"')
    run = _run(run_authcheck, policy)
    _assert_statuses(run, TOKEN_CHECKS - {"credentials.token-expiring-soon"},
                     credentials__token_audience="failed", credentials__token_client="failed")
    _message(run, "credentials.token-audience", r"aud is 'https://api.test', which does not contain "
                                                r"'https://billing.test'")
    _message(run, "credentials.token-client", r"issued to client 'ci-deployer', not to clients.cli \('enclii-cli'\)")
    _assert_never_shown(run, token["access_token"])


def test_expiry_stored_beside_the_token_must_agree_with_it(idp, cli_login, run_authcheck, tmp_path):
    exp = datetime.fromtimestamp(_claims(cli_login["access_token"])["exp"], tz=timezone.utc)
    later = (exp + timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login, expires_at=later))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    _assert_statuses(run, TOKEN_CHECKS - {"credentials.token-expiring-soon"}, credentials__expiry_consistent="failed")
    _message(run, "credentials.expiry-consistent", rf"expires_at {later} is 29d after the token's exp "
                                                   r".* \(max_clock_skew 1m\)")


def test_an_expired_token_is_reported_with_the_time_it_expired(idp_world, run_authcheck, tmp_path):
    short = idp_world.start(IdpSpec(name="short-lived-tokens", access_token_ttl_seconds=1))
    try:
        token = _client_credentials_token(short)
        expired_at = _expires_at(token["access_token"])
        document = {"access_token": token["access_token"], "refresh_token": "rt-unused-0000",
                    "token_type": "Bearer", "expires_at": expired_at}
        path = _write(tmp_path / "c" / "credentials.json", document)
        time.sleep(1.5)
        run = _run(run_authcheck, _credentials_policy(short, path, client="deployer", table='expiry_warning = "1h"'))
    finally:
        short.stop()

    _assert_statuses(run, TOKEN_CHECKS, credentials__token_not_expired="failed",
                     credentials__token_expiring_soon="skipped")
    _message(run, "credentials.token-not-expired", rf"expired at {expired_at}, \d+s ago \(a refresh token is stored")
    assert "already expired" in run.by_check()["credentials.token-expiring-soon"]["message"]


def test_a_token_expiring_within_the_window_is_a_warning(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path, table='expiry_warning = "1h"'))

    _assert_statuses(run, TOKEN_CHECKS, credentials__token_expiring_soon="failed")
    definition = run.report["checks"]["credentials.token-expiring-soon"]
    assert (definition["severity"], definition["level"]) == ("low", "SHOULD")
    _message(run, "credentials.token-expiring-soon", r"expires at \S+Z, in (\d+m|\d+s)\b.*\(expiry_warning 1h\)")


def test_without_a_declared_window_the_warning_does_not_apply(idp, cli_login, run_authcheck, tmp_path):
    path = _write(tmp_path / "c" / "credentials.json", _document(cli_login))
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))
    assert run.status("credentials.token-expiring-soon") == "skipped"
    assert "declares no expiry_warning" in run.by_check()["credentials.token-expiring-soon"]["message"]


def test_an_unreachable_provider_only_stops_the_signature_check(other_key, run_authcheck, tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    issuer = f"https://127.0.0.1:{port}"
    now = int(time.time())
    token = _sign(other_key, {"iss": issuer, "aud": "https://api.test", "client_id": "enclii-cli", "sub": "alice",
                              "iat": now, "exp": now + 3600})
    document = {"access_token": token, "refresh_token": "rt-unused-0000", "token_type": "Bearer",
                "expires_at": datetime.fromtimestamp(now + 3600, tz=timezone.utc).isoformat()}
    path = _write(tmp_path / "c" / "credentials.json", document)
    policy = textwrap.dedent(f"""\
        [settings]
        timeout = "2s"
        retries = 0

        [providers.sso]
        kind = "oidc"
        issuer = "{issuer}"

        [clients.cli]
        provider = "sso"
        client_id = "enclii-cli"

        [credentials.cli]
        path = "{path}"
        provider = "sso"
        client = "cli"
        audience = "https://api.test"
        """)
    run = _run(run_authcheck, policy)

    _assert_statuses(run, FILE_CHECKS | TOKEN_CHECKS - {"credentials.token-expiring-soon"},
                     credentials__token_signature="error")
    _message(run, "credentials.token-signature", r"could not evaluate: .*127\.0\.0\.1")
    _assert_never_shown(run, token)


def test_an_opaque_token_skips_the_claim_checks_with_the_reason(idp, run_authcheck, tmp_path):
    opaque = "0paque-" + "x7Kq" * 10
    later = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = _write(tmp_path / "c" / "credentials.json",
                  {"access_token": opaque, "refresh_token": "rt-unused-0000", "token_type": "Bearer",
                   "expires_at": later})
    run = _run(run_authcheck, _credentials_policy(idp("good"), path))

    results = _results(run, TOKEN_CHECKS)
    for check_id in ("credentials.token-issuer", "credentials.token-signature", "credentials.token-audience",
                     "credentials.token-client", "credentials.expiry-consistent"):
        assert results[check_id]["status"] == "skipped", (check_id, results[check_id])
        assert "opaque" in results[check_id]["message"]
    assert results["credentials.token-not-expired"]["status"] == "passed"
    assert results["credentials.token-not-expired"]["observed"] == later
    _assert_never_shown(run, opaque)


# ---------------------------------------------------------------------------------------------------
# 2. env-based client configuration

ENCLII_ENV = """
    [clients.cli.env]
    ENCLII_CLIENT_ID = { required = false, equals = "client_id" }
    ENCLII_OIDC_ISSUER = { equals = "issuer" }
    ENCLII_API_URL = { form = "url" }
    ENCLII_CREDENTIALS_PATH = { required = false, equals = "credentials.cli" }
    """

JAMF_TABLES = """
    [providers.jamf]
    kind = "jamf"
    url = "https://acme.jamfcloud.com"

    [clients.jamfmcp]
    provider = "jamf"
    client_id = "c0ffee00-1111-2222-3333-444455556666"
    env_file = "{env_file}"
    {pointer}

    [clients.jamfmcp.env]
    JAMF_URL = {{ form = "host-or-url", equals = "provider_url" }}
    JAMF_AUTH_TYPE = {{ one_of = ["basic", "client_credentials"] }}
    JAMF_USERNAME = {{ required_if = {{ JAMF_AUTH_TYPE = "basic" }} }}
    JAMF_PASSWORD = {{ required_if = {{ JAMF_AUTH_TYPE = "basic" }} }}
    JAMF_CLIENT_ID = {{ required_if = {{ JAMF_AUTH_TYPE = "client_credentials" }}, equals = "client_id" }}
    JAMF_CLIENT_SECRET = {{ required_if = {{ JAMF_AUTH_TYPE = "client_credentials" }} }}
    """


def _jamf_policy(idp, env_file: Path, pointer: str = "") -> str:
    return oidc_policy(idp, extra=textwrap.dedent(JAMF_TABLES).format(
        env_file=env_file, pointer=f'env_pointer = "{pointer}"' if pointer else ""))


def _mcp_config(env: dict) -> dict:
    return {"mcpServers": {"jamf": {"command": "uvx", "args": ["jamfmcp"], "env": env}}}


def _enclii_env(idp, credentials: Path, **overrides: str) -> dict[str, str]:
    env = {"ENCLII_CLIENT_ID": "enclii-cli", "ENCLII_OIDC_ISSUER": idp.served_issuer,
           "ENCLII_API_URL": "https://api.enclii.dev", "ENCLII_CREDENTIALS_PATH": str(credentials)}
    env.update(overrides)
    return env


def _env_policy(idp, credentials: Path) -> str:
    return oidc_policy(idp, extra=textwrap.dedent(f"""
        [credentials.cli]
        path = "{credentials}"
        """) + textwrap.dedent(ENCLII_ENV))


def test_a_good_environment_passes_every_env_check(idp, run_authcheck, tmp_path):
    good = idp("good")
    credentials = tmp_path / ".enclii" / "credentials.json"
    run = _run(run_authcheck, _env_policy(good, credentials), env=_enclii_env(good, credentials))

    checks = ENV_CHECKS - {"credentials.env-allowed-values", "credentials.env-file-private"}
    _assert_statuses(run, checks)
    results = [r for r in run.report["results"] if r["target"] == "clients.cli"]
    assert {r["check"]: r["status"] for r in results if r["status"] == "skipped"} == {
        "credentials.env-allowed-values": "skipped", "credentials.env-file-private": "skipped"}
    assert run.by_check()["credentials.env-matches-policy"]["observed"]["ENCLII_OIDC_ISSUER"] == good.served_issuer


def test_a_wrong_issuer_url_and_path_in_the_environment_fail(idp, run_authcheck, tmp_path):
    good = idp("good")
    credentials = tmp_path / ".enclii" / "credentials.json"
    env = _enclii_env(good, credentials, ENCLII_OIDC_ISSUER=good.served_issuer + "/",
                      ENCLII_API_URL="api.enclii.dev/v1/", ENCLII_CREDENTIALS_PATH="/tmp/elsewhere.json",
                      ENCLII_CLIENT_ID="enclii-cli-old")
    run = _run(run_authcheck, _env_policy(good, credentials), env=env)

    _assert_statuses(run, {"credentials.env-required", "credentials.env-url-form", "credentials.env-matches-policy"},
                     credentials__env_url_form="failed", credentials__env_matches_policy="failed")
    _message(run, "credentials.env-url-form", r"ENCLII_API_URL 'api.enclii.dev/v1/' has no scheme \(https://\)")
    _message(run, "credentials.env-matches-policy",
             re.escape(f"ENCLII_OIDC_ISSUER is '{good.served_issuer}/', not providers.sso.issuer "
                       f"('{good.served_issuer}')"),
             r"ENCLII_CLIENT_ID is 'enclii-cli-old', not clients.cli.client_id \('enclii-cli'\)",
             r"ENCLII_CREDENTIALS_PATH is '/tmp/elsewhere.json', not the path of credentials.cli")


def test_a_missing_variable_fails_env_required(idp, run_authcheck, tmp_path, monkeypatch):
    good = idp("good")
    credentials = tmp_path / "credentials.json"
    env = _enclii_env(good, credentials)
    del env["ENCLII_OIDC_ISSUER"]
    monkeypatch.delenv("ENCLII_OIDC_ISSUER", raising=False)
    run = _run(run_authcheck, _env_policy(good, credentials), env=env)
    assert run.status("credentials.env-required") == "failed"
    _message(run, "credentials.env-required", r"clients.cli: not set in the environment of this process: "
                                              r"ENCLII_OIDC_ISSUER$")


def test_a_good_jamf_mcp_config_passes(idp, run_authcheck, tmp_path):
    env_file = _write(tmp_path / "claude_desktop_config.json", _mcp_config({
        "JAMF_URL": "acme.jamfcloud.com", "JAMF_AUTH_TYPE": "client_credentials",
        "JAMF_CLIENT_ID": "c0ffee00-1111-2222-3333-444455556666", "JAMF_CLIENT_SECRET": JAMF_CLIENT_SECRET}))
    run = _run(run_authcheck, _jamf_policy(idp("good"), env_file, "/mcpServers/jamf/env"))

    _assert_statuses(run, ENV_CHECKS)
    assert run.by_check()["credentials.env-file-private"]["evidence"]["facts"]["secrets held"] == ["JAMF_CLIENT_SECRET"]
    _assert_never_shown(run, JAMF_CLIENT_SECRET)


def test_seed_jamf_mistakes_each_fail_their_check(idp, run_authcheck, tmp_path):
    env_file = _write(tmp_path / "jamf.json", {"env": {
        "JAMF_URL": "your-server.com:8443", "JAMF_AUTH_TYPE": "oauth", "JAMF_PASSWORD": JAMF_PASSWORD}},
        mode=0o644, dir_mode=0o755)
    run = _run(run_authcheck, _jamf_policy(idp("good"), env_file, "/env"))

    _assert_statuses(run, ENV_CHECKS, credentials__env_allowed_values="failed", credentials__env_url_form="failed",
                     credentials__env_file_private="failed", credentials__env_matches_policy="failed")
    _message(run, "credentials.env-allowed-values", r"^JAMF_AUTH_TYPE is 'oauth', not one of 'basic', "
                                                    r"'client_credentials'$")
    _message(run, "credentials.env-url-form", r"JAMF_URL 'your-server.com:8443' has a port but no scheme")
    _message(run, "credentials.env-matches-policy", r"JAMF_URL is 'your-server.com:8443', not providers.jamf URL")
    _message(run, "credentials.env-file-private", r"it holds JAMF_PASSWORD and its mode 0644 allows group read, "
                                                  r"others read")
    _assert_never_shown(run, JAMF_PASSWORD)


def test_basic_auth_without_a_password_fails_env_required(idp, run_authcheck, tmp_path):
    env_file = _write(tmp_path / "jamf.env", textwrap.dedent("""\
        # JamfMCP
        export JAMF_URL="https://acme.jamfcloud.com/"
        JAMF_AUTH_TYPE=basic
        JAMF_USERNAME=api-user
        """))
    run = _run(run_authcheck, _jamf_policy(idp("good"), env_file))

    _assert_statuses(run, ENV_CHECKS, credentials__env_required="failed", credentials__env_url_form="failed")
    _message(run, "credentials.env-required", r"not set in .*jamf.env: JAMF_PASSWORD \(required when "
                                              r"JAMF_AUTH_TYPE is 'basic'\)$")
    _message(run, "credentials.env-url-form", r"JAMF_URL 'https://acme.jamfcloud.com/' ends with a slash")
    # a trailing slash is a form problem, not a different server
    assert run.status("credentials.env-matches-policy") == "passed"


def test_an_unreadable_env_file_cannot_be_evaluated(idp, run_authcheck, tmp_path):
    env_file = _write(tmp_path / "mcp.json", '{"mcpServers": {"jamf": ')
    run = _run(run_authcheck, _jamf_policy(idp("good"), env_file, "/mcpServers/jamf/env"))
    results = _results(run, ENV_CHECKS)
    assert {r["status"] for r in results.values()} == {"error"}, results
    assert "is not valid JSON" in results["credentials.env-required"]["message"]


# ---------------------------------------------------------------------------------------------------
# 3. secrets written into the policy

PRIVATE_KEY_PEM = ("-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n"
                   "-----END PRIVATE KEY-----")
GITHUB_TOKEN = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"


def test_a_clean_policy_passes_the_policy_checks(idp, run_authcheck):
    run = _run(run_authcheck, oidc_policy(idp("good")))
    _assert_statuses(run, POLICY_CHECKS)
    assert {run.by_check()[c]["target"] for c in POLICY_CHECKS} == {"policy.authcheck.toml"}


def test_literal_secrets_are_reported_by_key_and_line_never_by_value(idp, run_authcheck):
    policy = oidc_policy(idp("good"), extra=f"""
[clients.portal]
provider = "sso"
client_id = "web-portal"
client_secret = "{DEPLOYER_SECRET}"

[users.tester]
provider = "sso"
username = "alice"
password = "hunter2"

[apis.platform]
base_url = "https://api.test"
audience = "https://api.test?key={GITHUB_TOKEN}"

[apis.platform.principals]
reader = {{ bearer = "${{READER_TOKEN}}" }}

[users.signer]
provider = "sso"
username = "{PRIVATE_KEY_PEM}"
""", settings='checks = []  # old token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl')
    run = _run(run_authcheck, policy, env={"READER_TOKEN": "rt-0123456789"})
    lines = policy.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if fragment in line)

    _assert_statuses(run, POLICY_CHECKS, credentials__policy_secret_refs="failed",
                     credentials__policy_no_credentials="failed")
    secret_line, password_line = line_of("client_secret = \"dpl"), line_of("hunter2")
    audience_line, signer_line, comment_line = line_of("?key="), line_of("BEGIN PRIVATE KEY"), line_of("old token")
    _message(run, "credentials.policy-secret-refs",
             rf"clients.portal.client_secret \(line {secret_line}\): a literal value of {len(DEPLOYER_SECRET)} "
             r"characters",
             rf"users.tester.password \(line {password_line}\): a literal value of 7 characters")
    assert "READER_TOKEN" not in run.by_check()["credentials.policy-secret-refs"]["message"]
    _message(run, "credentials.policy-no-credentials",
             rf"apis.platform.audience \(line {audience_line}\): a GitHub token",
             rf"users.signer.username \(line {signer_line}\): a PEM private key",
             rf"comment \(line {comment_line}\): a JWT of \d+ characters")
    _assert_never_shown(run, DEPLOYER_SECRET, "hunter2", GITHUB_TOKEN, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
                        "eyJzdWIiOiIxMjM0NTY3ODkwIn0")


def test_policy_errors_in_env_rules_name_key_and_line(idp, run_authcheck, tmp_path):
    good = idp("good")
    cases = {
        'JAMF_URL = { form = "url", requred = true }': r"clients\.jamfmcp\.env\.JAMF_URL\.requred: unknown key "
                                                       r"\(did you mean 'required'\?\)",
        'JAMF_URL = { form = "uri" }': r"clients\.jamfmcp\.env\.JAMF_URL\.form: 'uri' is not one of 'url', "
                                       r"'host-or-url'",
        'JAMF_URL = { equals = "issuer" }': r"clients\.jamfmcp\.env\.JAMF_URL\.equals: provider 'jamf' is not an "
                                            r"oidc provider and has no issuer",
        'JAMF_URL = { equals = "credentials.nope" }': r"clients\.jamfmcp\.env\.JAMF_URL\.equals: no credentials "
                                                      r"file named 'nope'",
    }
    for rule, pattern in cases.items():
        policy = oidc_policy(good, extra=textwrap.dedent(f"""
            [providers.jamf]
            kind = "jamf"
            url = "https://acme.jamfcloud.com"

            [clients.jamfmcp]
            provider = "jamf"
            client_id = "abc"

            [clients.jamfmcp.env]
            {rule}
            """))
        run = _run(run_authcheck, policy)
        assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output()
        line = next(i for i, text in enumerate(policy.splitlines(), start=1) if text.strip() == rule.strip())
        assert re.search(rf"authcheck.toml:{line}: {pattern}", run.output()), (pattern, run.output())


# ---------------------------------------------------------------------------------------------------
# 4. pure functions: time arithmetic (frozen clock), shapes, forms, detectors

EXPIRES = datetime(2026, 2, 24, tzinfo=timezone.utc)


@pytest.mark.parametrize(("now", "window", "state"), [
    ("2026-02-23T00:00:00Z", None, "valid"),
    ("2026-02-23T00:00:00Z", 86400.0, "expiring"),       # exactly one day left: inside the window
    ("2026-02-22T23:59:59Z", 86400.0, "valid"),
    ("2026-02-24T00:00:00Z", 86400.0, "expired"),        # the instant of expiry counts as expired
    ("2026-03-01T00:00:00Z", None, "expired"),
])
def test_expiry_state_with_a_frozen_clock(now, window, state):
    with freeze_time(now):
        assert expiry_state(EXPIRES, window) == state


def test_seconds_and_human_durations_with_a_frozen_clock():
    with freeze_time("2026-02-24T03:15:30Z"):
        left = seconds_until(EXPIRES)
    assert left == -(3 * 3600 + 15 * 60 + 30)
    assert human_duration(left) == "3h 15m"
    assert human_duration(29 * 86400 + 60) == "29d 1m"
    assert human_duration(42) == "42s"


def test_expires_at_forms():
    assert parse_expires_at("2026-02-24T00:00:00Z") == EXPIRES
    assert parse_expires_at("2026-02-24T01:00:00+01:00") == EXPIRES
    assert parse_expires_at(EXPIRES.timestamp()) == EXPIRES
    for bad, why in (("2026-02-24T00:00:00", "no time zone"), ("soon", "not an RFC 3339 time"),
                     (True, "boolean"), ([], "an array"), (10**20, "out of range")):
        with pytest.raises(ValueError, match=why):
            parse_expires_at(bad)


def test_shape_problems_name_members_and_types_never_values():
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzIjoxfQ.sig"
    problems = shape_problems({"access_token": 42, "id_token": "", "token_type": secret, "expires_at": "x"},
                              ["access_token", "refresh_token", "token_type", "expires_at"])
    assert problems[:3] == ["no refresh_token", "access_token is a number, not a non-empty string",
                            "id_token is a string, not a non-empty string"]
    assert all(secret not in p for p in problems)


@pytest.mark.parametrize(("value", "form", "problem"), [
    ("https://acme.jamfcloud.com", "url", None),
    ("https://acme.example.com:8443", "url", None),
    ("http://127.0.0.1:8080", "url", None),
    ("https://acme.jamfcloud.com/", "url", "ends with a slash"),
    ("https://acme.example.com/api", "url", "has a path (/api)"),
    ("acme.jamfcloud.com", "url", "has no scheme (https://)"),
    ("http://acme.example.com", "url", "uses plain http"),
    ("ftp://acme.example.com", "url", "has scheme 'ftp', not https"),
    ("https://user:pw@acme.example.com", "url", "carries credentials in the URL"),
    ("https://acme.example.com:99999", "url", "has an invalid port"),
    ("https://acme.example.com?x=1", "url", "has a query or fragment"),
    ("acme.jamfcloud.com", "host-or-url", None),
    ("https://acme.example.com:8443", "host-or-url", None),
    ("acme.example.com:8443", "host-or-url", "has a port but no scheme (write https://host:port)"),
    ("acme.jamfcloud.com/", "host-or-url", "ends with a slash"),
    ("acme.jamfcloud.com/x/", "host-or-url", "has a path"),
    ("acme_jamf!", "host-or-url", "is not a host name"),
])
def test_url_forms(value, form, problem):
    assert url_form_problem(value, form) == problem


def test_urls_compare_as_servers():
    assert normalise_url("acme.jamfcloud.com") == normalise_url("https://ACME.jamfcloud.com:443/")
    assert normalise_url("https://acme.jamfcloud.com:8443") != normalise_url("https://acme.jamfcloud.com")


def test_dotenv_parsing():
    assert parse_dotenv('# c\nexport A="x y"\nB=\'q\'\nC=plain # note\nnot a line\nA=again\n') == {
        "A": "again", "B": "q", "C": "plain"}


@pytest.mark.parametrize(("value", "kind"), [
    ("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "JWT"),
    ("-----BEGIN RSA PRIVATE KEY-----", "PEM private key"),
    ("-----BEGIN EC PRIVATE KEY-----", "PEM private key"),
    ("-----BEGIN PUBLIC KEY-----", None),
    (GITHUB_TOKEN, "GitHub token"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
    ("https://bob:s3cret@host", "URL with an embedded password"),
    ("ek_live_4f9Qz2Lm8Kp1", "API key (ek_live_)"),
    (DEPLOYER_SECRET, "high-entropy string"),
    ("${CI_DEPLOYER_SECRET}", None),
    ("client_secret_basic", None),
    ("refresh_token_rotation", None),
    ("ci-deployer-2024-production-v2", None),
    ("c0ffee00-1111-2222-3333-444455556666", None),
    ("/home/alice/.enclii/credentials.json", None),
    ("Read Computer Inventory Collection", None),
])
def test_credential_detectors(value, kind):
    assert credential_kind(value) == kind


def test_comments_are_told_apart_from_strings():
    jwt_text = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"
    source = f'a = "# {jwt_text}"\nb = 1 # {jwt_text}\nc = """\n# {jwt_text}\n"""\n'
    findings = credential_comments(source)
    assert [(f.line, f.kind) for f in findings] == [(2, "a JWT")]


def test_mode_bits_of_real_files(tmp_path):
    from pytest_authcheck._credentials import describe_bits, excess_bits, inspect_file

    path = _write(tmp_path / "d" / "f.json", "{}", mode=0o640, dir_mode=0o750)
    facts = inspect_file(path)
    assert (facts.kind, facts.mode, facts.dir_mode) == ("regular file", 0o640, 0o750)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert describe_bits(excess_bits(facts.mode, 0o600)) == "group read"
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert inspect_file(link).symlink_to == str(path)
