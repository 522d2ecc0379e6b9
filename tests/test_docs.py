"""The documentation: generated pages in step with their sources, and the guides' examples runnable."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_authcheck._checks import shipped_checks
from pytest_authcheck._docs import CHECKS_PAGE, POLICY_PAGE, policy_sections, stale
from pytest_authcheck.policy.schema import policy_schema

ROOT = Path(__file__).resolve().parent.parent
# importing the suites outside a run: their area and severity markers are registered only by --authcheck
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")
DOCS = ROOT / "docs"


def test_the_generated_pages_are_up_to_date(tmp_path: Path) -> None:
    """docs/policy.md and docs/checks.md are what scripts/docs writes from the schema and the checks today."""
    names = stale(DOCS)
    assert not names, f"{', '.join(f'docs/{n}' for n in names)} stale: run scripts/docs and commit the result"
    written = subprocess.run([sys.executable, "-m", "pytest_authcheck._docs", "--out", str(tmp_path)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    assert {p.name for p in tmp_path.iterdir()} == {POLICY_PAGE, CHECKS_PAGE}, written.stdout
    for name in (POLICY_PAGE, CHECKS_PAGE):
        assert (tmp_path / name).read_text() == (DOCS / name).read_text(), f"docs/{name} stale: run scripts/docs"


def test_the_check_mode_says_which_page_is_stale(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pytest_authcheck._docs", "--out", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT)
    checked = subprocess.run([sys.executable, "-m", "pytest_authcheck._docs", "--out", str(tmp_path), "--check"],
                             capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 0, checked.stderr
    page = tmp_path / CHECKS_PAGE
    page.write_text(page.read_text().replace("`discovery.reachable`", "`discovery.gone`"))
    checked = subprocess.run([sys.executable, "-m", "pytest_authcheck._docs", "--out", str(tmp_path), "--check"],
                             capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 1
    assert f"{page} is stale: run scripts/docs" in checked.stderr


def test_every_shipped_check_says_what_it_sends_and_is_listed() -> None:
    checks = shipped_checks()
    assert len(checks) >= 100
    assert [c.id for c in checks if not c.sends] == []
    page = (DOCS / CHECKS_PAGE).read_text()
    for check in checks:
        assert f"### `{check.id}`" in page, check.id
        assert f"- sends: {check.sends}" in page, check.id
        assert f"- remediation: {check.remediation}" in page, check.id


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every (path, key, schema) of a property in the schema, definitions included."""
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            yield f"{path}.{key}", key, value
        for key, value in node.items():
            if key != "properties" or not isinstance(value, dict):
                yield from _properties(value, f"{path}.{key}")
            else:
                for name, child in value.items():
                    yield from _properties(child, f"{path}.{name}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{path}[{index}]")


def test_every_key_of_the_schema_is_described_with_an_example_it_accepts() -> None:
    schema = policy_schema()
    seen = 0
    for path, key, node in _properties(schema):
        if path.startswith(".$defs.provider.") or key == "kind" and "enum" in node:
            continue  # the kind switch of [providers.NAME]; each kind's own table describes it
        seen += 1
        ref = node.get("$ref")
        resolved = {**schema["$defs"][ref.rsplit("/", 1)[-1]], **node} if isinstance(ref, str) else node
        assert resolved.get("description"), f"{path}: no description"
        if path.count(".") == 1:
            continue  # a top-level section: its tables' keys carry the examples
        examples = node.get("examples")
        assert isinstance(examples, list) and examples, f"{path}: no example"
        validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **node},
                                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for value in examples + ([node["default"]] if "default" in node else []):
            problems = [e.message for e in validator.iter_errors(value)]
            assert not problems, f"{path}: {value!r} is refused by its own schema: {problems}"
    assert seen >= 100


def test_the_policy_reference_covers_every_table_and_key() -> None:
    sections = {s.path: s for s in policy_sections()}
    for table in ("settings", "providers.NAME", "providers.NAME.test_user", "clients.NAME", "clients.NAME.env.VAR",
                  "users.NAME", "privileges.NAME", "apis.NAME", "apis.NAME.principals.NAME", "apis.NAME.probes",
                  "apis.NAME.probes.*", "apis.NAME.rules", "credentials.NAME", "waivers"):
        assert table in sections, table
    keys = {row.path for s in policy_sections() for row in s.rows}
    assert {"settings.timeout", "providers.NAME.issuer", "providers.NAME.url", "clients.NAME.env.VAR.required_if",
            "apis.NAME.rules.request", "apis.NAME.probes.*.bearer", "waivers.expires"} <= keys
    page = (DOCS / POLICY_PAGE).read_text()
    assert "| `clients.NAME.grant_types` | array of strings | `[\"authorization_code\"]` |" in page
    assert "string, secret: write a `${VAR}`" in page


# ---- links ------------------------------------------------------------------------------------------------------------
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(text: str) -> list[str]:
    """The Markdown link targets of a page, outside code blocks and inline code."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    return LINK.findall(prose)


def anchors(text: str) -> set[str]:
    """The fragments a page answers to: GitHub's heading slugs (numbered when repeated) and explicit ``<a id>``."""
    found = set(re.findall(r'<a id="([^"]+)"', text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_the_link_checker_sees_what_it_must() -> None:
    text = "[a](docs/x.md#two-words) `[b](not.md)`\n```\n[c](nor.md)\n```\n## Two words\n## Two words\n<a id=\"z\"></a>"
    assert links(text) == ["docs/x.md#two-words"]
    assert anchors(text) == {"two-words", "two-words-1", "z"}


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page: str) -> None:
    """README.md and every page of docs/: each relative link names a file of the repository, and an anchor there."""
    source = ROOT / page
    text = source.read_text()
    for target in links(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ...: not ours to check offline
        path, _, fragment = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        assert resolved.exists(), f"{page} links to {target}, which does not exist"
        assert resolved.is_relative_to(ROOT), f"{page} links to {target}, outside the repository"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved.read_text()), f"{page} links to {target}: no such anchor"


# ---- the guides' examples run -----------------------------------------------------------------------------------------
def code_blocks(page: str) -> list[str]:
    """The ```python blocks of a page, in order."""
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_the_form_login_example_signs_in_once(idp_world, run_authcheck, pytester: pytest.Pytester) -> None:
    from tests.idp.world import VARIANTS
    from tests.test_login import LOGIN_POST, login_policy
    from tests.test_suites_clients import ENV, TEST_PASSWORD, native

    fresh = idp_world.start(VARIANTS["good"])
    pytester.makeconftest(code_blocks("login.md")[0])
    run = run_authcheck(login_policy(fresh, native("cli", "enclii-cli")), "-m", "clients", env=ENV, clients=True)
    assert run.status("refresh.rotation") == "passed", run.output()
    assert run.status("pkce.verifier-enforced") == "passed", run.output()
    assert len(LOGIN_POST.findall(fresh.log_text())) == 1  # one sign-in, every later flow reused the session
    assert TEST_PASSWORD not in run.output() + (run.reports_dir / "authcheck.json").read_text()


def test_the_json_login_example_signs_in_through_the_api(idp_world) -> None:
    """The JSON example against a provider whose login is an API (scripted: the test IdP's login is a form)."""
    import json

    from pytest_authcheck._http import HttpClient
    from pytest_authcheck._login import Browser, LoginFlow, LoginUser, Session
    from pytest_authcheck._redact import Redactor, Secret
    from tests.hostile_idp import Answer, HostileIdp

    password = "pw-" + "x7Qz" * 6
    callback = "http://127.0.0.1/callback"

    def authorize(request):
        if "auth=1" in (request.header("Cookie") or ""):
            return Answer(status=302, body=b"", headers={"Location": f"{callback}?code=c0de&state=s1"})
        return Answer(body="<div id=app></div>", content_type="text/html", headers={"Set-Cookie": "sid=1; Path=/"})

    def api_login(request):
        sent = json.loads(request.body or b"{}")
        if sent == {"username": "alice", "password": password} and "sid=1" in (request.header("Cookie") or ""):
            return Answer(body=b'{"ok": true}', headers={"Set-Cookie": "auth=1; Path=/"})
        return Answer(status=401, body=b'{"ok": false}')

    namespace: dict = {}
    exec(code_blocks("login.md")[1], namespace)  # noqa: S102 - the page's own example
    fixture = namespace["authcheck_login"]
    wrapped = getattr(fixture, "_get_wrapped_function", None)
    login = (wrapped() if wrapped is not None else fixture.__wrapped__)()
    with HostileIdp(ca=idp_world.ca, routes={"/authorize": Answer(body=authorize),
                                             "/api/v1/login": Answer(body=api_login)}) as server:
        http = HttpClient(redactor=Redactor([password]), ca_bundle=idp_world.ca_pem_path, timeout=5)
        session = Session()
        user = LoginUser(name="test_user", username="alice", password=Secret(password, label="password"))
        exchanges = []
        for _ in range(2):
            flow = LoginFlow(client="cli", provider="sso", redirect_uri=callback, provider_hosts={"127.0.0.1"},
                             authorization_url=f"{server.url}/authorize?client_id=cli&state=s1", user=user)
            flow.browser = Browser(http, session, flow)
            assert login(flow) == f"{callback}?code=c0de&state=s1"
            exchanges += flow.exchanges
        http.close()
        assert server.hits["/api/v1/login"] == 1  # the second flow reused the session
        assert len(exchanges) >= 4
        assert all(password not in str(e.to_dict()) for e in exchanges)


def test_the_worked_example_of_writing_checks_runs(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    from tests.conftest import oidc_policy

    (example,) = [block for block in code_blocks("writing-checks.md") if block.startswith("# authchecks/test_acme.py")]
    pytester.mkdir("authchecks")
    (pytester.path / "authchecks" / "test_acme.py").write_text(example)
    run = run_authcheck(oidc_policy(idp("good"), settings='checks = ["authchecks"]'), "-k", "acme")
    results = {(r["check"], r["target"]): r for r in run.report["results"] + run.not_applicable}
    assert results[("acme.userinfo-https", "providers.sso")]["status"] == "passed", run.output()
    assert results[("acme.no-admin-scope", "clients.deployer")]["status"] == "passed", run.output()
    assert results[("acme.no-admin-scope", "clients.deployer")]["observed"] == ["deploy", "read"]
    cli = results[("acme.no-admin-scope", "clients.cli")]
    assert cli["status"] == "skipped" and cli["message"] == "clients.cli has no client-credentials token to look at"
    checks = {c["id"]: c for c in run.report["checks"]} if isinstance(run.report["checks"], list) else run.report["checks"]
    assert checks["acme.no-admin-scope"]["severity"] == "high"


def test_the_worked_example_fails_on_a_granted_admin_scope(idp_world, run_authcheck, pytester: pytest.Pytester) -> None:
    """The same example against a client the test IdP grants admin: the check can fail."""
    from tests.conftest import oidc_policy
    from tests.idp.world import client_matrix_spec

    (example,) = [block for block in code_blocks("writing-checks.md") if block.startswith("# authchecks/test_acme.py")]
    pytester.mkdir("authchecks")
    (pytester.path / "authchecks" / "test_acme.py").write_text(example)
    policy = oidc_policy(idp_world.start(client_matrix_spec()), settings='checks = ["authchecks"]').replace(
        'client_id = "ci-deployer"', 'client_id = "ci-deployer-wide"').replace(
        'scopes = ["deploy", "read"]', 'scopes = ["deploy", "read", "admin"]')
    run = run_authcheck(policy, "-k", "acme.no-admin-scope")
    (result,) = [r for r in run.report["results"] if r["target"] == "clients.deployer"]
    assert result["status"] == "failed", run.output()
    assert result["message"] == "clients.deployer was granted admin"
    assert result["observed"] == ["admin", "deploy", "read"]
