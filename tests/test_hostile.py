"""``pytest --authcheck`` against a hostile identity provider (tests/hostile_idp.py).

Whatever the IdP answers (garbage, HTML, truncated or absurdly nested JSON, bodies above the size cap,
gzip bombs, 503 storms, redirects elsewhere, silence, half a body, hostile strings and types in its
metadata and keys) the run must finish normally: no INTERNALERROR, exit code 1, a valid JSON report,
known statuses only, and every check that could not be evaluated is an ``error`` whose message names
the cause. Hostile strings appear escaped in the HTML report, secrets appear nowhere.

Wall-clock bounds are soft here (a loaded machine marks them xfail); the benchmark measures speed.
"""

from __future__ import annotations

import base64
import email.utils
import json
import secrets
import textwrap
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (imported before pytester's in-process runs: see the note below)
import pytest
import trustme

from pytest_authcheck.policy.load import DEFAULT_SETTINGS
from tests.hostile_idp import (
    Answer,
    Blackhole,
    Dribble,
    HostileIdp,
    echo_request,
    gzip_bomb,
    json_answer,
    nested_json,
    streamed,
    unused_port,
)
from tests.html_report import readable

DISCOVERY = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"
# Note: pytester's in-process runs drop the modules first imported during a run. httpx imports httpcore
# lazily and maps its exceptions by class; if httpcore were first imported inside a run, later runs would
# raise a fresh httpcore.ReadTimeout class that httpx no longer maps. Importing it here keeps one copy.
STATUSES = {"passed", "failed", "error", "skipped"}
# Checks that need only a TLS handshake with the issuer's host, never an HTTP answer.
TLS_ONLY = {"tls.chain-trusted", "tls.hostname", "tls.cert-lifetime", "tls.protocol-version"}
# Checks that read the discovery *response* (whatever it is) rather than the parsed document.
RESPONSE_CHECKS = {"discovery.reachable", "clock.date-header"}
SCRIPT = "<script>alert(1)</script>"
TIMEOUT = 2.0
CAP = DEFAULT_SETTINGS["max_response_bytes"]
RETRIES = DEFAULT_SETTINGS["retries"]
PYTHON_ERRORS = ("TypeError", "AttributeError", "KeyError", "IndexError", "RecursionError", "ValueError",
                 "InvalidURL", "UnicodeDecodeError")


# ---- fixtures and helpers ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="hostile idp test CA")


@pytest.fixture(scope="module")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def run_authcheck(run_authcheck: Callable[..., Any]) -> Callable[..., Any]:
    """Only the provider suites: the hostile IdP is theirs to face; the offline local hygiene checks
    (which reach a verdict whatever the IdP answers) have their own tests."""
    def run(policy_text: str, *args: str, **kwargs: Any) -> Any:
        return run_authcheck(policy_text, "-m", "discovery or jwks or tls or clock", *args, **kwargs)
    return run


@pytest.fixture
def hostile(ca: trustme.CA) -> Iterator[Callable[..., HostileIdp]]:
    """``hostile(routes)``: a started HostileIdp, stopped at teardown."""
    started: list[HostileIdp] = []

    def start(routes: dict[str, Answer] | None = None) -> HostileIdp:
        idp = HostileIdp(routes, ca=ca).start()
        started.append(idp)
        return idp

    yield start
    for idp in started:
        idp.stop()


def policy(issuer: str, ca_pem: Path, *, settings: str = "", extra: str = "", client: bool = True) -> str:
    text = textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{ca_pem}"
        timeout = "{TIMEOUT:g}s"
        reports = "reports"
        {settings}

        [providers.x]
        kind = "oidc"
        issuer = "{issuer}"
        rfc8414 = true  # so that discovery.rfc8414 faces the hostile answers too (it is not applicable unasked)
        """)
    if client:
        text += textwrap.dedent("""
            [clients.svc]
            provider = "x"
            client_id = "svc"
            client_secret = "${DEPLOYER_SECRET}"
            type = "confidential"
            grant_types = ["client_credentials"]
            """)
    return text + textwrap.dedent(extra)


def metadata(url: str, **changes: Any) -> dict[str, Any]:
    document = {
        "issuer": url, "authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token",
        "jwks_uri": f"{url}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["client_credentials"],
    }
    document.update(changes)
    return document


@cache
def rsa_public_jwk() -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()

    def b64u(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": b64u(numbers.n), "e": b64u(numbers.e)}


def good_routes(url: str, **changes: Any) -> dict[str, Answer]:
    return {DISCOVERY: json_answer(metadata(url, **changes)), "/jwks": json_answer({"keys": [rsa_public_jwk()]}),
            "/token": json_answer({"error": "invalid_client"}, status=401)}


def assert_survived(run: Any) -> None:
    """The run ended as a run with findings does: the plugin did not crash, and the reports are sound."""
    output = run.output()
    assert "INTERNALERROR" not in output, output[-4000:]
    assert run.result.ret == 1, f"exit code {run.result.ret}\n{output[-4000:]}"
    assert run.report, "reports/authcheck.json missing"
    json.loads((run.reports_dir / "authcheck.json").read_text())  # valid JSON
    assert run.report["results"], "no results"
    assert {r["status"] for r in run.report["results"]} <= STATUSES, run.report["results"]
    # hostile values never make a check pass against its own evidence (a defect of the check, reported as an error)
    defects = {r["check"]: r["message"] for r in run.report["results"]
               if "passed against its own evidence" in (r["message"] or "") or "without stating" in (r["message"] or "")}
    assert not defects, defects
    html = run.reports_dir / "authcheck.html"
    assert html.exists()
    assert SCRIPT not in readable(html)


def within(elapsed: float, bound: float, what: str) -> None:
    """Timing bounds: exceeding one on a loaded machine is reported as xfail, not as a failure."""
    if elapsed >= bound:
        pytest.xfail(f"{what} took {elapsed:.1f}s (bound {bound:.0f}s): timing is measured by the benchmark; here "
                     "a loaded machine only marks it")


def errors(run: Any) -> dict[str, str]:
    return {r["check"]: r["message"] or "" for r in run.report["results"] if r["status"] == "error"}


# ---- 1. hostile answers -------------------------------------------------------------------------------
# name -> (routes for the IdP at url, cause every error must name, whether discovery had an HTTP answer)

def _nonutf8(url: str) -> dict[str, Answer]:
    body = json.dumps(metadata(url)).encode().replace(b'"public"', b'"p\xff\xfeblic\xc3"')
    return {DISCOVERY: Answer(body=body)}


SCENARIOS: dict[str, tuple[Callable[[str, str], dict[str, Answer]], str, bool]] = {
    "arbitrary-bytes": (lambda u, o: {DISCOVERY: Answer(body=bytes(range(256)) * 8,
                                                        content_type="application/octet-stream")}, "not JSON", True),
    "html": (lambda u, o: {DISCOVERY: Answer(body=f"<html><body>{SCRIPT}<h1>Sign in</h1></body></html>",
                                             content_type="text/html")}, "not JSON", True),
    "truncated-json": (lambda u, o: {DISCOVERY: Answer(body=json.dumps(metadata(u))[:57])}, "not JSON", True),
    "non-utf8": (lambda u, o: _nonutf8(u), "not JSON", True),
    "json-as-text-plain": (lambda u, o: {**good_routes(u), DISCOVERY: Answer(body=json.dumps(metadata(u)),
                                                                            content_type="text/plain")}, "", True),
    "no-content-type": (lambda u, o: {**good_routes(u), DISCOVERY: Answer(body=json.dumps(metadata(u)),
                                                                         content_type=None)}, "", True),
    "nested-json": (lambda u, o: {DISCOVERY: Answer(body=nested_json(100_000))}, "not JSON", True),
    "nested-json-as-text": (lambda u, o: {DISCOVERY: Answer(body=nested_json(100_000), content_type="text/plain")},
                            "not JSON", True),
    "above-size-cap": (lambda u, o: {DISCOVERY: Answer(body=streamed(CAP * 8))}, f"larger than {CAP} bytes", False),
    "above-size-cap-declared": (lambda u, o: {DISCOVERY: Answer(body=streamed(CAP * 2), length=CAP * 2)},
                                f"larger than {CAP} bytes", False),
    "gzip-bomb": (lambda u, o: {DISCOVERY: Answer(body=gzip_bomb(CAP * 32), headers={"Content-Encoding": "gzip"})},
                  f"decompressed body larger than {CAP} bytes", False),
    "not-really-gzip": (lambda u, o: {DISCOVERY: Answer(body=b"\x1f\x8b\x08garbage", headers={"Content-Encoding": "gzip"})},
                        "not JSON", True),
    "503-forever": (lambda u, o: {DISCOVERY: Answer(status=503, body=b"{}", headers={"Retry-After": "0"})},
                    "throttled the request (HTTP 503, Retry-After 0) on each of 3 attempts", True),
    "redirect-elsewhere": (lambda u, o: {DISCOVERY: Answer(status=302, body=b"", headers={"Location": o + DISCOVERY})},
                           "answered HTTP 302", True),
    "slower-than-timeout": (lambda u, o: {DISCOVERY: Answer(body=json.dumps(metadata(u)), delay=TIMEOUT + 1.5)},
                            f"within {TIMEOUT:g}s", False),
    "closed-mid-body": (lambda u, o: {DISCOVERY: Answer(body=json.dumps(metadata(u)), close_early=True)},
                        "peer closed connection", False),
    "trickle-headers": (lambda u, o: {DISCOVERY: Answer(body=json.dumps(metadata(u)), header_delay=TIMEOUT * 0.3)},
                        f"within {TIMEOUT:g}s", False),
    "trickle-beyond-timeout": (
        lambda u, o: {DISCOVERY: Answer(body=json.dumps(metadata(u)).encode().ljust(3000), chunks=6,
                                        chunk_delay=TIMEOUT * 0.45)}, f"within {TIMEOUT:g}s", False),
}


@pytest.mark.parametrize(("routes", "cause", "answered"), list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_hostile_answer(routes, cause, answered, hostile, ca_pem, run_authcheck):
    other = hostile({})
    idp = hostile()
    idp.routes.update(routes(idp.url, other.url))
    started = time.monotonic()
    run = run_authcheck(policy(idp.url, ca_pem))
    elapsed = time.monotonic() - started
    assert_survived(run)
    assert other.hits == {}, "a redirect to another origin was followed"
    by_check = run.by_check()
    if not cause:  # a usable document served with the wrong content type: only reachable fails for it
        assert by_check["discovery.reachable"]["status"] == "failed"
        assert by_check["discovery.schema"]["status"] == "passed"
        return
    # Every check that reads the document could not evaluate, and says why.
    throttled = "throttled" in cause  # a throttle is no answer about the document: reachable is not evaluated
    for check, result in by_check.items():
        if check in TLS_ONLY or (answered and check in RESPONSE_CHECKS and not (throttled and check == "discovery.reachable")):
            continue
        assert result["status"] == "error", (check, result)
    for check, message in errors(run).items():
        assert cause in message, (check, message)
        assert not any(f"could not evaluate: {e}" in message for e in PYTHON_ERRORS), (check, message)
    if answered and not throttled:
        assert by_check["discovery.reachable"]["status"] == "failed"
    # The document is fetched once per run, whatever it was.
    assert idp.hits[DISCOVERY] <= 1 + RETRIES, dict(idp.hits)
    if "503" not in cause:
        assert idp.hits[DISCOVERY] == 1, dict(idp.hits)
    within(elapsed, 6 * TIMEOUT, "the run")


# Discovery and JWKS whose values are hostile strings and wrong types.
BIG = "A" * 100_000


def _strings(url: str) -> dict[str, Answer]:
    doc = metadata(url, issuer=f"{url}/{SCRIPT}", authorization_endpoint=f"https://evil.invalid/\"'{SCRIPT}",
                   scopes_supported=[SCRIPT, "'\"", BIG], response_types_supported=[f"{SCRIPT} token", BIG],
                   grant_types_supported=[SCRIPT, BIG], id_token_signing_alg_values_supported=[SCRIPT, "none"],
                   code_challenge_methods_supported=[SCRIPT], token_endpoint_auth_methods_supported=[SCRIPT, "none"],
                   service_documentation=BIG, **{SCRIPT: SCRIPT, "k" + BIG: BIG})
    return {DISCOVERY: json_answer(doc), RFC8414: json_answer({"issuer": SCRIPT, "jwks_uri": BIG}),
            "/jwks": json_answer({"keys": [{"kty": SCRIPT, "kid": SCRIPT, "n": SCRIPT, "e": SCRIPT, "alg": SCRIPT,
                                            "use": SCRIPT}, {**rsa_public_jwk(), "kid": BIG}]}),
            "/token": json_answer({"error": SCRIPT, "error_description": BIG}, status=400)}


def _long_token_endpoint(url: str) -> dict[str, Answer]:
    return good_routes(url, token_endpoint=f"{url}/token?x={BIG}")


def _types(url: str) -> dict[str, Answer]:
    doc = metadata(url, issuer=123, jwks_uri=None, token_endpoint={"a": 1}, authorization_endpoint=[url],
                   userinfo_endpoint=True, response_types_supported="code token", grant_types_supported=5,
                   code_challenge_methods_supported={"S256": True, "plain": 1}, id_token_signing_alg_values_supported=7,
                   token_endpoint_auth_methods_supported=7.5, scopes_supported={"openid": 1})
    return {DISCOVERY: json_answer(doc)}


def _item_types(url: str) -> dict[str, Answer]:
    doc = metadata(url, issuer=None, grant_types_supported=[1, None, {}], response_types_supported=[None, 1, ["token"]],
                   id_token_signing_alg_values_supported=[None, {"a": 1}, ["none"]], scopes_supported=[None],
                   token_endpoint_auth_methods_supported=[None, {"x": 1}],
                   code_challenge_methods_supported=[{"a": 1}, None, "S256"])
    return {DISCOVERY: json_answer(doc), "/jwks": json_answer({"keys": {"kty": "RSA"}})}


def _bad_keys(url: str) -> dict[str, Answer]:
    keys = [1, "x", None, [], {"kty": "RSA", "n": "!!!not base64!!!", "e": "AQAB", "kid": "a"},
            {"kty": "RSA", "n": "", "e": "", "kid": "b"}, {"kty": "RSA", "n": "A" * 100_000, "e": "AQAB", "kid": "c"},
            {"kty": "EC", "crv": SCRIPT, "x": "%%", "y": None, "kid": "d"}, {"kty": "OKP", "crv": "Ed25519", "x": 1},
            {"kty": "RSA", "kid": {"a": 1}, "n": 123, "e": None, "alg": 5, "use": "sig"}]
    return {**good_routes(url), "/jwks": json_answer({"keys": keys})}


def _unhashable_keys(url: str) -> dict[str, Answer]:
    return {**good_routes(url), "/jwks": json_answer({"keys": [{"kty": ["RSA"], "kid": "a", "use": ["sig"]}]})}


VALUE_SCENARIOS = {
    "hostile-strings": _strings,
    "long-token-endpoint": _long_token_endpoint,
    "wrong-types": _types,
    "wrong-item-types": _item_types,
    "keys-object": lambda u: {**good_routes(u), "/jwks": json_answer({"keys": {"kty": "RSA", "n": "x", "e": "AQAB"}})},
    "keys-string": lambda u: {**good_routes(u), "/jwks": json_answer({"keys": "lots"})},
    "jwks-array": lambda u: {**good_routes(u), "/jwks": json_answer([rsa_public_jwk()])},
    "keys-not-objects": _bad_keys,
    "unhashable-kty-use": _unhashable_keys,
}


@pytest.mark.parametrize("routes", list(VALUE_SCENARIOS.values()), ids=list(VALUE_SCENARIOS))
def test_hostile_values(routes, hostile, ca_pem, run_authcheck):
    idp = hostile()
    idp.routes.update(routes(idp.url))
    run = run_authcheck(policy(idp.url, ca_pem))
    assert_survived(run)
    # Hostile values are findings (failed) or named causes (error), never a Python exception of a check.
    for check, message in errors(run).items():
        assert not any(f"could not evaluate: {e}" in message for e in PYTHON_ERRORS), (check, message)
    json_text = (run.reports_dir / "authcheck.json").read_text()
    assert BIG not in json_text or len(json_text) < 40 * len(BIG), "100 KB strings copied without limit"


def test_wrong_typed_response_types_is_not_a_pass(hostile, ca_pem, run_authcheck):
    """A string where a list is expected must not be iterated character by character into a pass."""
    idp = hostile()
    idp.routes.update(good_routes(idp.url, response_types_supported="code id_token token"))
    run = run_authcheck(policy(idp.url, ca_pem))
    assert_survived(run)
    assert run.status("discovery.schema") == "failed"
    assert run.status("discovery.response-types") == "failed"
    assert "response_types_supported is not an array of strings" in run.by_check()["discovery.response-types"]["message"]


# ---- 2. retries ---------------------------------------------------------------------------------------

def test_503_on_discovery_is_retried_a_bounded_number_of_times(hostile, ca_pem, run_authcheck):
    idp = hostile({DISCOVERY: Answer(status=503, body=b"{}", headers={"Retry-After": "1"})})
    started = time.monotonic()
    run = run_authcheck(policy(idp.url, ca_pem, client=False))
    elapsed = time.monotonic() - started
    assert_survived(run)
    assert idp.hits[DISCOVERY] == 1 + RETRIES == 3
    assert elapsed >= RETRIES * 1.0, "Retry-After was not honoured"
    # Throttled to the end: not evaluated (an error naming the throttle), never a failure of the provider.
    assert run.status("discovery.reachable") == "error"
    assert "throttled the request (HTTP 503, Retry-After 1) on each of 3 attempts" in errors(run)["discovery.reachable"]
    assert "throttled the request" in errors(run)["discovery.schema"]
    within(elapsed, RETRIES * 1.0 + 3 * TIMEOUT, "the run")


def test_retries_setting_is_obeyed_and_429_counts(hostile, ca_pem, run_authcheck):
    idp = hostile({DISCOVERY: Answer(status=429, body=b"{}", headers={"Retry-After": "0"})})
    run = run_authcheck(policy(idp.url, ca_pem, settings="retries = 0", client=False))
    assert_survived(run)
    assert idp.hits[DISCOVERY] == 1


def _in_two_hours() -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)


@pytest.mark.parametrize(("status", "retry_after", "wait"), [(429, "3600", "3600 s"), (503, "86400", "86400 s"),
                                                             (429, None, "7200 s")], ids=["429-hour", "503-day", "429-date"])
def test_long_retry_after_is_not_evaluated_at_once(status, retry_after, wait, hostile, ca_pem, run_authcheck):
    """A throttle asking for a longer wait than the retry bound: no waiting, no retry, not evaluated with the wait."""
    header = retry_after or _in_two_hours()
    idp = hostile({DISCOVERY: Answer(status=status, body=b"{}", headers={"Retry-After": header})})
    started = time.monotonic()
    run = run_authcheck(policy(idp.url, ca_pem, client=False))
    elapsed = time.monotonic() - started
    assert_survived(run)
    assert idp.hits[DISCOVERY] == 1, dict(idp.hits)
    assert run.status("discovery.reachable") == "error"
    message = errors(run)["discovery.reachable"]
    if retry_after is None:  # an HTTP date two hours ahead: 7199 or 7200 s, whichever second it is read in
        assert "the provider asks to wait 7" in message and " s (Retry-After); not evaluated" in message, message
    else:
        assert f"the provider asks to wait {wait} (Retry-After); not evaluated" in message, message
    assert "(Retry-After); not evaluated" in errors(run)["discovery.schema"]
    within(elapsed, 3 * TIMEOUT, "the run")


def test_short_retry_after_is_honoured(hostile, ca_pem, run_authcheck):
    idp = hostile()
    idp.routes.update(good_routes(idp.url))
    idp.routes[DISCOVERY] = [Answer(status=429, body=b"{}", headers={"Retry-After": "1"}), json_answer(metadata(idp.url))]
    started = time.monotonic()
    run = run_authcheck(policy(idp.url, ca_pem, client=False))
    elapsed = time.monotonic() - started
    assert_survived(run)
    assert idp.hits[DISCOVERY] == 2, dict(idp.hits)
    assert elapsed >= 1.0, "Retry-After was not honoured"
    assert run.status("discovery.reachable") == "passed"
    assert run.status("discovery.schema") == "passed"


def test_post_is_never_retried(hostile, ca_pem, run_authcheck):
    idp = hostile()
    idp.routes.update(good_routes(idp.url))
    idp.routes["/token"] = Answer(status=503, body=b'{"error":"temporarily_unavailable"}', headers={"Retry-After": "1"})
    run = run_authcheck(policy(idp.url, ca_pem))
    assert_survived(run)
    # one token request, and discovery.endpoints-answer's harmless POST without a body: each sent once
    token_requests = [r for r in idp.requests if r.path == "/token"]
    assert idp.hits["/token"] == 2, dict(idp.hits)
    assert [r.method for r in token_requests] == ["POST", "POST"]
    assert sum(1 for r in token_requests if b"grant_type" in r.body) == 1
    for check in ("clock.token-iat", "jwks.token-signature"):
        assert run.status(check) == "error"
        assert "throttled the request (HTTP 503, Retry-After 1); not evaluated" in errors(run)[check]


# ---- 3. unreachable issuers ---------------------------------------------------------------------------

def _assert_all_error_with_one_cause(run: Any, needle: str) -> str:
    results = [r for r in run.report["results"] if r["status"] != "skipped"]
    assert results
    assert {r["status"] for r in results} == {"error"}, {r["check"]: r["status"] for r in results}
    causes = {r["message"] for r in results}
    assert len(causes) == 1, causes
    cause = causes.pop()
    assert needle in cause, cause
    return cause


def test_nothing_listening(ca_pem, run_authcheck):
    port = unused_port()
    started = time.monotonic()
    run = run_authcheck(policy(f"https://127.0.0.1:{port}", ca_pem))
    elapsed = time.monotonic() - started
    assert_survived(run)
    _assert_all_error_with_one_cause(run, f"127.0.0.1:{port}")
    within(elapsed, 3 * TIMEOUT, "the run")


def test_blackhole_accepts_and_never_answers(ca_pem, run_authcheck):
    with Blackhole() as hole:
        started = time.monotonic()
        run = run_authcheck(policy(hole.url, ca_pem))
        elapsed = time.monotonic() - started
        accepted = hole.accepted
    assert_survived(run)
    _assert_all_error_with_one_cause(run, f"127.0.0.1:{hole.port}")
    assert accepted <= 1 + RETRIES, f"{accepted} connections: the dead origin was not remembered"
    within(elapsed, 3 * TIMEOUT, "the run")


def test_tls_handshake_dribbled_byte_by_byte(ca_pem, run_authcheck):
    """A server that never completes its handshake yet never goes quiet costs one timeout, not hours."""
    with Dribble(interval=TIMEOUT / 10) as dribble:
        started = time.monotonic()
        run = run_authcheck(policy(dribble.url, ca_pem))
        elapsed = time.monotonic() - started
    assert_survived(run)
    _assert_all_error_with_one_cause(run, f"127.0.0.1:{dribble.port}")
    within(elapsed, 3 * TIMEOUT * (1 + RETRIES), "the run")


# ---- 4. the canary ------------------------------------------------------------------------------------

# The long secret guards against --showlocals: saferepr truncates a long dict in the middle ("abc...xyz"),
# and value redaction cannot match half a secret (it leaked that way before evaluation errors lost their
# tracebacks); hence the 16-character windows below.
@pytest.mark.parametrize("length", [24, 300], ids=["short-secret", "long-secret"])
def test_canary_secret_never_leaks(length, hostile, ca_pem, run_authcheck):
    canary = ("CaNaRy+/=" + secrets.token_hex(length))[:length]
    idp = hostile()
    # Provider x: basic auth, the token endpoint echoes the request (body, headers) in a 400 and its error.
    idp.routes.update(good_routes(idp.url))
    idp.routes["/token"] = Answer(status=400, body=echo_request)
    # Provider y: client_secret_post, the echo is cut off mid-body (the error travels through the HTTP layer).
    y = f"{idp.url}/y"
    idp.routes.update({f"/y{DISCOVERY}": json_answer(metadata(y, jwks_uri=f"{idp.url}/jwks")),
                       "/y/token": Answer(status=400, body=echo_request, close_early=True)})
    extra = f"""
        [providers.y]
        kind = "oidc"
        issuer = "{y}"

        [clients.post]
        provider = "y"
        client_id = "poster"
        client_secret = "${{DEPLOYER_SECRET}}"
        type = "confidential"
        grant_types = ["client_credentials"]
        token_endpoint_auth_method = "client_secret_post"
        """
    run = run_authcheck(policy(idp.url, ca_pem, extra=extra), "-vv", "--showlocals", "--tb=long",
                        "--junitxml=junit.xml", "-rA", subprocess=True, env={"DEPLOYER_SECRET": canary})
    assert_survived(run)
    # The IdP really got the secret (so the echo carries it back).
    sent = [r for r in idp.requests if r.path in ("/token", "/y/token")]
    assert {r.path for r in sent} == {"/token", "/y/token"}
    basic = base64.b64encode(f"svc:{canary}".encode()).decode()
    assert any(r.header("Authorization") == f"Basic {basic}" for r in sent)
    assert any(urllib.parse.quote_plus(canary).encode() in r.body for r in sent)

    forms = {canary, basic, urllib.parse.quote(canary, safe=""), urllib.parse.quote_plus(canary),
             base64.b64encode(f"poster:{canary}".encode()).decode()}
    window = 16  # any 16 characters of the secret in a row count as a leak (truncated reprs, ...)
    fragments = {canary[i:i + window] for i in range(0, len(canary) - window + 1)}
    places = {
        "output": run.output(),
        "authcheck.json": (run.reports_dir / "authcheck.json").read_text(),
        "authcheck.html": readable(run.reports_dir / "authcheck.html"),
        "junit.xml": (run.reports_dir.parent / "junit.xml").read_text(),
    }
    leaks = {where: sorted(f for f in forms | fragments if f in text) for where, text in places.items()}
    assert not any(leaks.values()), leaks
