"""Signing in: once per (account, provider) per run, also with xdist workers; throttled logins; logins of one's own.

The real oidc-provider counts the logins (its request log holds every password POST), so the test measures what
the run cost the provider, not what the plugin believes it did.
"""

from __future__ import annotations

import json
import re
import ssl
import textwrap
import urllib.parse
import urllib.request

import pytest

from pytest_authcheck._http import HttpClient
from pytest_authcheck._login import Browser, ConsentWithheld, FormLogin, LoginFlow, Session
from pytest_authcheck._redact import Redactor, Secret
from tests.conftest import oidc_policy
from tests.hostile_idp import Answer, HostileIdp, json_answer
from tests.idp.world import VARIANTS, pkce_pair
from tests.test_suites_clients import ENV, TEST_PASSWORD, cc, native, web

LOGIN_POST = re.compile(r"\] prompt login\b")


def login_policy(idp, clients: str) -> str:
    head = oidc_policy(idp, provider='test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }')
    return head[:head.index("[clients.deployer]")] + textwrap.dedent(clients)


@pytest.fixture
def fresh_idp(idp_world):
    """An IdP of its own, so its log counts only this test's logins."""
    return idp_world.start(VARIANTS["good"])


@pytest.mark.parametrize(("workers", "logins"), [([], 1), (["-n", "2", "--authcheck-worker-targets", "0"], 2)],
                         ids=["one process", "two workers"])
def test_one_login_per_account_and_provider(fresh_idp, run_authcheck, workers, logins):
    """Every flow of the run reuses the account's session: one login (one per xdist worker, which do not share
    sessions: providers rotate the session cookie on each flow)."""
    clients = native("cli", "enclii-cli") + web("portal", "web-portal") + cc("deployer", "ci-deployer")
    run = run_authcheck(login_policy(fresh_idp, clients), "-m", "clients", *workers, subprocess=bool(workers), env=ENV,
                        clients=True)
    results = run.report["results"]
    flows = [r for r in results if r["check"] in ("refresh.rotation", "pkce.verifier-enforced", "code.replay-refused")
             and r["status"] == "passed"]
    assert flows, run.output()  # the run did sign in for several flows
    assert len(LOGIN_POST.findall(fresh_idp.log_text())) <= logins, fresh_idp.log_text()[-3000:]
    assert run.not_passed() == {} or all(s == "skipped" for s in run.not_passed().values()), run.not_passed()
    assert TEST_PASSWORD not in run.output() + (run.reports_dir / "authcheck.json").read_text()


def test_a_login_api_of_ones_own_reuses_the_session(fresh_idp, run_authcheck, pytester):
    """A team's login step: it signs in its own way (here: the form, posted by hand), then follows to the client."""
    pytester.makeconftest("""
        import re
        import pytest

        CALLS = []

        @pytest.fixture(scope="session")
        def authcheck_login():
            def login(flow):
                browser = flow.browser
                CALLS.append(browser.signed_in)
                if not browser.signed_in:
                    page = browser.get(flow.authorization_url)
                    while page.status in (302, 303):
                        page = browser.get(page.headers["location"])
                    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
                    signed = browser.post(action, data={"login": flow.user.username, "password": flow.user.password,
                                                        "prompt": "login"})
                    browser.mark_signed_in()
                    return browser.follow(signed.headers["location"])
                return browser.follow()
            return login

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"own login: {CALLS.count(False)} sign-in(s), {CALLS.count(True)} reuse(s)")
    """)
    run = run_authcheck(login_policy(fresh_idp, native("cli", "enclii-cli")), "-m", "clients", env=ENV, clients=True)
    assert run.status("refresh.rotation") == "passed", run.output()
    assert re.search(r"own login: 1 sign-in\(s\), [1-9]\d* reuse\(s\)", run.output()), run.output()
    assert len(LOGIN_POST.findall(fresh_idp.log_text())) == 1


def test_a_login_page_that_throttles_is_not_evaluated_at_once(idp_world, run_authcheck):
    with HostileIdp(ca=idp_world.ca) as idp:
        login_form = ('<form method="post" action="/login"><input name="username"><input type="password" '
                      'name="password"></form>')
        idp.routes.update({
            "/.well-known/openid-configuration": json_answer({
                "issuer": idp.url, "authorization_endpoint": idp.url + "/authorize", "token_endpoint": idp.url + "/token",
                "jwks_uri": idp.url + "/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}),
            "/jwks": json_answer({"keys": []}),
            "/authorize": Answer(body=login_form, content_type="text/html"),
            "/login": Answer(status=429, body=b"slow down", content_type="text/plain",
                             headers={"Retry-After": "3600"}),
        })
        policy = textwrap.dedent(f"""\
            [settings]
            ca_bundle = "{idp_world.ca_pem_path}"
            timeout = "3s"

            [providers.sso]
            kind = "oidc"
            issuer = "{idp.url}"
            signing_algs = ["RS256"]
            test_user = {{ username = "alice", password = "${{SSO_TEST_PASSWORD}}" }}

            """) + textwrap.dedent(native("cli", "enclii-cli"))
        run = run_authcheck(policy, "-m", "clients", "-k", "rotation", env=ENV, clients=True)
        result = run.by_check()["refresh.rotation"]
        assert result["status"] == "error", result
        assert "throttles its login pages (HTTP 429, Retry-After 3600s)" in result["message"], result["message"]
        assert result["duration"] < 30
        assert idp.hits["/login"] == 1


def test_a_login_step_of_ones_own_never_consents_beyond_the_policy(fresh_idp):
    """``Browser.follow`` reads a consent page the flow may not approve as the built-in login does: ConsentWithheld
    (the checks say why they are not evaluated), with the consent never submitted; allowed, it consents and lands."""
    context = ssl.create_default_context(cafile=str(fresh_idp.ca_pem_path))
    with urllib.request.urlopen(fresh_idp.discovery_url, context=context) as answer:  # noqa: S310 (loopback https)
        endpoint = json.load(answer)["authorization_endpoint"]
    callback = "http://127.0.0.1/callback"

    def flow(scope: str, *, consent: bool) -> LoginFlow:
        params = {"client_id": "enclii-cli", "response_type": "code", "scope": scope, "redirect_uri": callback,
                  "state": "s1", "nonce": "n1", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}
        return LoginFlow(client="cli", provider="sso", authorization_url=endpoint + "?" + urllib.parse.urlencode(params),
                         redirect_uri=callback, provider_hosts={"127.0.0.1"}, consent=consent)

    http = HttpClient(redactor=Redactor([TEST_PASSWORD]), ca_bundle=fresh_idp.ca_pem_path, timeout=5)
    session = Session()
    try:
        # signed in, consent given to openid alone
        assert FormLogin(http, "alice", Secret(TEST_PASSWORD), session=session)(flow("openid", consent=True)) \
            .startswith(callback + "?code=")
        withheld = flow("openid profile", consent=False)
        with pytest.raises(ConsentWithheld, match=r"^the provider asks for consent at https://127\.0\.0\.1:\d+/"):
            Browser(http, session, withheld).follow()
        assert withheld.exchanges and all(e.method == "GET" for e in withheld.exchanges), \
            [(e.method, e.url) for e in withheld.exchanges]  # the consent form was never posted
        allowed = flow("openid profile", consent=True)
        assert Browser(http, session, allowed).follow().startswith(callback + "?code=")
        assert any(e.method == "POST" for e in allowed.exchanges)  # the control did consent
    finally:
        http.close()
