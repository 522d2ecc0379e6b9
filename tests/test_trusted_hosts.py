"""One spelling of a trusted host everywhere: the provider's ``trusted_hosts`` and the confinement of credentials
agree on every way a policy may write an ``allowed_hosts`` entry (case, trailing dot, port, IDNA)."""

from __future__ import annotations

import pytest

from pytest_authcheck._confine import Confinement
from pytest_authcheck._errors import CredentialsWithheld
from pytest_authcheck._http import HttpClient
from pytest_authcheck._oidc import OidcProvider
from pytest_authcheck._redact import Redactor, Secret
from pytest_authcheck.policy.load import load_policy

ISSUER = "https://idp.example.test"
SPELLINGS = ["login.example.com", "LOGIN.Example.COM", "login.example.com.", "login.example.com:8443",
             "Login.Example.Com.:443"]
SECRET = "s3cret-confined-7731"


def _policy(tmp_path, allowed: str):
    path = tmp_path / "authcheck.toml"
    path.write_text(f"""
[providers.sso]
kind = "oidc"
issuer = "{ISSUER}"
allowed_hosts = ["{allowed}", "Bücher.Example"]

[clients.deployer]
provider = "sso"
client_id = "ci"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
""", encoding="utf-8")
    return load_policy(path, environ={})


@pytest.mark.parametrize("allowed", SPELLINGS)
def test_every_layer_trusts_the_same_hosts(tmp_path, allowed):
    policy = _policy(tmp_path, allowed)
    http = HttpClient(redactor=Redactor([]), timeout=1)
    try:
        provider = OidcProvider("sso", policy.section("providers")["sso"], http=http, settings=policy.settings)
        assert provider.trusted_hosts() == {"idp.example.test", "login.example.com", "xn--bcher-kva.example"}
        confinement = Confinement.from_policy(policy)
        secret = Secret(SECRET, label="clients.deployer.client_secret")
        for url, trusted in [("https://login.example.com/token", True), ("https://LOGIN.EXAMPLE.COM:8443/t", True),
                             ("https://login.example.com./t", True), ("https://bücher.example/t", True),
                             ("https://xn--bcher-kva.example/t", True), ("https://evil.example.com/t", False),
                             ("https://login.example.com.evil.test/t", False)]:
            assert provider.trusts(url) is trusted, url
            if trusted:
                confinement.check("POST", url, data={"client_secret": secret})
            else:
                with pytest.raises(CredentialsWithheld):
                    confinement.check("POST", url, data={"client_secret": secret})
    finally:
        http.close()
