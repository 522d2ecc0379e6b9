"""Pure pieces: redaction, durations, policy resolution and line numbers, host matching, JWK judgement."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import pytest

from pytest_authcheck._duration import format_duration, parse_duration
from pytest_authcheck._errors import PolicyError
from pytest_authcheck._jwk import can_sign, private_members, strength_problem, structure_problems
from pytest_authcheck._jwt import jwk_thumbprint
from pytest_authcheck._redact import MASK, Redactor, Secret
from pytest_authcheck._tls import Certificate
from pytest_authcheck.policy.lines import key_lines
from pytest_authcheck.policy.load import load_policy

SECRET = "s3cr3t-Value/with+chars=="


# ---- redaction -----------------------------------------------------------------------------------------
def test_secret_never_shows_in_repr_or_str() -> None:
    secret = Secret(SECRET, label="clients.x.client_secret")
    assert SECRET not in repr(secret) and SECRET not in str(secret) and SECRET not in f"{secret}"
    assert secret.reveal() == SECRET


def test_redactor_hides_values_and_their_encodings() -> None:
    redactor = Redactor([Secret(SECRET)])
    redactor.add_basic_credentials("client", SECRET)
    text = " ".join([SECRET, urllib.parse.quote(SECRET, safe=""), urllib.parse.quote_plus(SECRET),
                     base64.b64encode(f"client:{SECRET}".encode()).decode()])
    assert redactor.text(text) == " ".join([MASK] * 4)


def test_redactor_hides_credentials_by_key_structure_and_shape() -> None:
    redactor = Redactor()
    data = {"client_secret": "abc123456", "nested": {"refresh_token": "r-token-1"}, "ok": "visible",
            "keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "private-part", "p": "prime"}],
            "note": "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here"}
    out = redactor.wire(data)
    assert out["client_secret"] == MASK and out["nested"]["refresh_token"] == MASK and out["ok"] == "visible"
    assert out["keys"][0]["d"] == MASK and out["keys"][0]["p"] == MASK and out["keys"][0]["n"] == "AQAB"
    assert out["note"] == f"token {MASK} here"
    headers = redactor.headers([("Authorization", "Bearer abc.def"), ("Cookie", "sid=1"), ("Accept", "x")])
    assert headers == [["Authorization", f"Bearer {MASK}"], ["Cookie", MASK], ["Accept", "x"]]
    url = redactor.url("https://user:pw@idp.test/cb?code=abc&state=xyz")
    assert "pw" not in url and "code=[REDACTED]" in url and "state=xyz" in url
    assert redactor.form("grant_type=client_credentials&client_secret=zzz") == \
        "grant_type=client_credentials&client_secret=[REDACTED]"


def test_findings_keep_key_names_and_lose_secret_values() -> None:
    # Expected/observed name grants and members ("password", "refresh_token"): only values the run holds are secrets.
    redactor = Redactor([Secret(SECRET)])
    redactor.add("rt-received-from-the-idp")
    observed = {"password": "refused (unsupported_grant_type)", "refresh_token": "rotated", "code": "HTTP_ERROR",
                "client_secret_post": "accepted", "echo": f"sent rt-received-from-the-idp and {SECRET}",
                "jwk": {"kty": "oct", "k": "c2VjcmV0"}}
    out = redactor.data(observed)
    assert {k: out[k] for k in ("password", "refresh_token", "code", "client_secret_post")} == \
        {k: observed[k] for k in ("password", "refresh_token", "code", "client_secret_post")}
    assert out["echo"] == f"sent {MASK} and {MASK}" and out["jwk"]["k"] == MASK



def test_a_text_shorter_than_every_secret_is_not_scanned_but_a_shorter_secret_added_later_is_found() -> None:
    """The redactor skips texts shorter than its shortest secret form; a shorter secret lowers that bound."""
    redactor = Redactor([Secret("a-long-client-secret-of-32-chars")])
    assert redactor.text("pw-1") == "pw-1"
    redactor.add("pw-1")
    assert redactor.text("pw-1") == MASK
    assert redactor.text("a-long-client-secret-of-32-chars and pw-1") == f"{MASK} and {MASK}"


def test_overlapping_and_nested_secrets_are_masked_whole() -> None:
    # Two secrets overlapping in the text: the union is masked, so no tail of either survives.
    redactor = Redactor(["abcdefgh", "efghijkl", "zzzz-inner-zzzz", "inner"])
    assert redactor.text("<abcdefghijkl>") == f"<{MASK}>"
    assert redactor.text("x zzzz-inner-zzzz y inner") == f"x {MASK} y {MASK}"


def test_many_secrets_keep_few_automata_and_all_are_found() -> None:
    # Scanning cost follows the number of automata, which grows with log2 of the secrets held, not with them.
    tokens = [f"tok-{i:05d}-" + "q" * 40 + f"-{i * 7919 % 100003:06d}" for i in range(3000)]
    redactor = Redactor()
    for token in tokens:
        redactor.add(token)
    assert len(redactor._levels) <= 2 + len(tokens).bit_length()
    text = " ".join(tokens[::97])
    assert redactor.text(text) == " ".join([MASK] * len(tokens[::97]))


def test_the_redactor_keeps_a_digest_of_each_secret_not_the_secret_and_confirms_every_hit_against_it() -> None:
    tail = "-shared-tail-12c"  # longer than the match key: the three share their automaton key
    secrets = [f"first{tail}", f"second{tail}", f"eyJ.third-token{tail}"]
    redactor = Redactor(secrets)
    assert redactor.text(f"<{secrets[0]}> {secrets[1]}; {secrets[2]}") == f"<{MASK}> {MASK}; {MASK}"
    # the same last characters after any other text are not a secret
    assert redactor.text(f"fifth{tail} and irst{tail}") == f"fifth{tail} and irst{tail}"
    held = repr([redactor._by_key, [level.keys for level in redactor._levels]])
    assert not any(secret[:-len(tail)] in held for secret in secrets)
    redactor.add(secrets[0])  # known already: nothing more is kept
    assert redactor.known == 3


def test_a_hit_on_tokens_sharing_their_last_characters_costs_a_digest_per_length_not_per_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_authcheck import _redact

    tokens = [f"tok{i:05d}-same-tail" for i in range(2_000)]  # a provider's tokens, all ending alike: one key
    longer = f"k{tokens[7]}"  # a secret ending with another: both are found, the longer masked whole
    redactor = Redactor([*tokens, longer])
    digests: list[str] = []
    digest = _redact.fingerprint
    monkeypatch.setattr(_redact, "fingerprint", lambda text: digests.append(text) or digest(text))
    assert redactor.text(f"a {tokens[1234]} b {longer} c") == f"a {MASK} b {MASK} c"
    assert len(digests) == 4  # two hits, two lengths each: not one digest for each of the 2,001 forms


def test_short_values_are_not_treated_as_secrets() -> None:
    # A one-letter "secret" would blank out every occurrence of that letter in every report.
    redactor = Redactor(["ab"])
    assert redactor.text("abc") == "abc"


# ---- durations -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("29d", 2505600), (45, 45)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["1 hour", "10", "-5s", "1w", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (60, 3600, 86400, 90, 1.5)] == ["1m", "1h", "1d", "90s", "1.5s"]


# ---- policy ------------------------------------------------------------------------------------------
def test_variables_resolve_everywhere_and_only_secret_fields_become_secrets(tmp_path: Path) -> None:
    policy_file = tmp_path / "authcheck.toml"
    policy_file.write_text('[providers.sso]\nkind = "oidc"\nissuer = "https://${HOST}/realm"\n\n'
                           '[clients.d]\nprovider = "sso"\nclient_id = "id-$${literal}"\nclient_secret = "${SECRET}"\n')
    policy = load_policy(policy_file, environ={"HOST": "idp.test", "SECRET": SECRET})
    assert policy.data["providers"]["sso"]["issuer"] == "https://idp.test/realm"
    assert policy.data["clients"]["d"]["client_id"] == "id-${literal}"
    secret = policy.data["clients"]["d"]["client_secret"]
    assert isinstance(secret, Secret) and secret.reveal() == SECRET
    assert policy.secrets == (secret,)
    assert policy.line("clients", "d", "client_secret") == 8


def test_a_missing_variable_names_itself_and_its_key(tmp_path: Path) -> None:
    policy_file = tmp_path / "authcheck.toml"
    policy_file.write_text('[providers.sso]\nkind = "oidc"\nissuer = "${NOPE}"\n')
    with pytest.raises(PolicyError, match=r"authcheck.toml:3: providers.sso.issuer: environment variable NOPE is not set"):
        load_policy(policy_file, environ={})


def test_key_lines_follow_tables_arrays_and_inline_tables() -> None:
    text = ('[settings]\ntimeout = "1s"\n\n[[waivers]]\ncheck = "a"\n[[waivers]]\ncheck = "b"\n'
            '[apis.p.principals]\nviewer = { client = "c" }\n"quoted.key" = 1\n')
    lines = key_lines(text)
    assert lines[("settings", "timeout")] == 2
    assert lines[("waivers", 0, "check")] == 5 and lines[("waivers", 1, "check")] == 7
    assert lines[("apis", "p", "principals", "viewer")] == 9
    assert lines[("apis", "p", "principals", "quoted.key")] == 10


# ---- TLS host matching -----------------------------------------------------------------------------------
def _cert(*sans: str) -> Certificate:
    return Certificate(subject="", issuer="", sans=list(sans), not_before="", not_after="", serial="", sha256="",
                       days_left=30)


def test_host_matching() -> None:
    assert _cert("IP:127.0.0.1").matches_host("127.0.0.1")
    assert not _cert("DNS:127.0.0.1").matches_host("127.0.0.1")  # an IP literal matches only IP SANs
    assert _cert("DNS:*.example.com").matches_host("auth.example.com")
    assert not _cert("DNS:*.example.com").matches_host("a.b.example.com")
    assert not _cert("DNS:idp.invalid").matches_host("127.0.0.1")


# ---- JWK judgement ---------------------------------------------------------------------------------------
def test_jwk_judgement() -> None:
    weak = {"kty": "RSA", "n": base64.urlsafe_b64encode((1 << 1023).to_bytes(128, "big")).rstrip(b"=").decode(), "e": "AQAB"}
    assert strength_problem(weak) == "RSA modulus of 1024 bits (at least 2048 required)"
    assert strength_problem({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}).startswith("curve 'secp256k1'")
    assert private_members({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}) == ["d"]
    assert private_members({"kty": "oct", "k": "AAAA"}) == ["k (a symmetric key)"]
    assert structure_problems({"kty": "RSA", "n": "not base64!"}) == [
        "member 'n' is not unpadded base64url", "lacks 'e' required for kty RSA"]
    assert can_sign({"kty": "EC", "crv": "P-256"}, "ES256") and not can_sign({"kty": "EC", "crv": "P-256"}, "ES384")
    assert not can_sign({"kty": "RSA", "use": "enc"}, "RS256")
    # RFC 7638 §3.1's example key and thumbprint.
    example = {"kty": "RSA", "e": "AQAB", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91"
        "CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")}
    assert jwk_thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# ---- a provider page's identity ----------------------------------------------------------------------------
def test_a_per_request_id_in_a_path_is_not_part_of_the_page() -> None:
    from pytest_authcheck.observations.authorization import _stable_path

    # oidc-provider's interaction uids: random base64url, this one without a digit (about 1 in 1500 are)
    for uid in ("TC6JmJSexLocH0Zx1ieh39FoLWMvz-KB7ONeIkhCSIw", "vnyLTvWJEeyGelyJrZ_BzYhXXSlilfBAsHbSfbvVcr-",
                "0f8fad5b-d9cb-469f-a165-70867728950e", "a1b2c3d4e5f6"):
        assert _stable_path(f"https://idp.test/interaction/{uid}") == "/interaction/*", uid
    for fixed in ("/.well-known/openid-configuration", "/oauth2/authorize", "/realms/Production/login-actions"):
        assert _stable_path(f"https://idp.test{fixed}") == fixed


def test_the_collector_runs_less_often_during_an_audit_and_as_before_after_it() -> None:
    import gc

    from pytest_authcheck._gc import AUDIT_THRESHOLDS, QuietCollector

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        collector = QuietCollector()
        collector.start()
        assert gc.get_threshold() == AUDIT_THRESHOLDS
        collector.stop()
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(50_000, 5, 100)  # higher than ours stays higher
        collector.start()
        assert gc.get_threshold() == (50_000, 20, 100)
        collector.stop()
        assert gc.get_threshold() == (50_000, 5, 100)
        gc.set_threshold(0, 10, 10)  # whoever turned collection off keeps it off
        collector.start()
        assert gc.get_threshold() == (0, 10, 10)
        collector.stop()
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_once_makes_each_answer_once_for_every_thread_that_asks_and_keeps_failures_as_told() -> None:
    import threading
    import time

    from pytest_authcheck._errors import EvaluationError
    from pytest_authcheck.probes.once import Once

    once, made = Once(), []

    def slow() -> str:
        made.append(1)
        time.sleep(0.05)
        return "answer"

    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(once.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["answer"] * 8 and len(made) == 1 and not once._locks

    def failing() -> str:
        made.append(1)
        raise EvaluationError("refused to answer")

    for keep, sent in ((True, 1), (False, 2)):
        made.clear()
        asked = Once(keep_failures=keep)
        for _ in range(2):
            with pytest.raises(EvaluationError, match="refused to answer"):
                asked.get("k", failing)
        assert len(made) == sent


def test_tests_run_a_block_of_clients_at_a_time_check_by_check_and_the_grant_spenders_last(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from pytest_authcheck import _test_order

    monkeypatch.setattr(_test_order, "CLIENTS_TOGETHER", 2)
    monkeypatch.setattr(_test_order, "check_of", lambda item: SimpleNamespace(spends_grant=item.check == "revoke"))

    def item(check: str, client: str | None = None) -> SimpleNamespace:
        params = {} if client is None else {"oidc_client": client}
        return SimpleNamespace(check=check, callspec=SimpleNamespace(params=params), name=f"{check}[{client or ''}]")

    items = [item("discovery"), *(item(check, client) for check in ("secret", "revoke", "scopes")
                                  for client in ("svc-b", "svc-a", "svc-c")), item("jwks")]
    _test_order.order(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == [
        # the first two clients and the tests of no client, as collected
        "discovery[]", "secret[svc-b]", "secret[svc-a]", "scopes[svc-b]", "scopes[svc-a]", "jwks[]",
        "secret[svc-c]", "scopes[svc-c]",
        "revoke[svc-b]", "revoke[svc-a]", "revoke[svc-c]"]
