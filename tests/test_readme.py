"""The README is the page a newcomer reads: short, naming the project's two commands, its policy valid, every page
of docs/ one link away. (Its links resolve: tests/test_docs.py checks every page's links.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_authcheck._errors import PolicyErrors
from pytest_authcheck.policy.load import load_policy

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_stays_short() -> None:
    size = len(README.read_bytes())
    assert size < 15_000, f"README.md is {size} bytes: move the detail into docs/ (the limit is 15,000)"


def test_the_readme_names_the_two_commands_ci_runs() -> None:
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("scripts/demo", "scripts/test"):
        assert f"\n{command}" in ci, f".ci/run no longer runs {command}: the README's promise is stale"
        assert re.search(rf"^{re.escape(command)}\s+#", readme, re.M), f"README.md does not show {command}"


def test_every_toml_block_of_the_readme_is_a_valid_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = toml_blocks(README.read_text())
    assert blocks, "README.md shows no policy"
    for index, block in enumerate(blocks):
        for name in set(re.findall(r"\$\{(\w+)\}", block)):
            monkeypatch.setenv(name, f"value-of-{name.lower()}")
        path = tmp_path / f"policy-{index}.toml"
        path.write_text(block)
        try:
            policy = load_policy(path)
        except PolicyErrors as exc:
            pytest.fail(f"README.md's policy #{index + 1} does not load:\n{exc}")
        assert policy.section("providers"), f"README.md's policy #{index + 1} declares no provider"


def test_the_minimal_policy_is_an_oidc_provider_with_a_client_and_a_jamf_server(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = toml_blocks(README.read_text())
    for name in set(re.findall(r"\$\{(\w+)\}", block)):
        monkeypatch.setenv(name, "x")
    (tmp_path / "authcheck.toml").write_text(block)
    policy = load_policy(tmp_path / "authcheck.toml")
    kinds = sorted(p["kind"] for p in policy.section("providers").values())
    assert kinds == ["jamf", "oidc"]
    (oidc,) = [n for n, p in policy.section("providers").items() if p["kind"] == "oidc"]
    assert list(policy.clients_of(oidc)) != []


def test_a_broken_readme_policy_would_be_caught(tmp_path: Path) -> None:
    """The validation above is the package's own: a typo in a README policy fails it."""
    (tmp_path / "authcheck.toml").write_text('[providers.sso]\nkind = "oidc"\nisuer = "https://auth.example.com"\n')
    with pytest.raises(PolicyErrors, match="isuer"):
        load_policy(tmp_path / "authcheck.toml")


def test_the_readme_links_to_every_page_of_docs() -> None:
    readme = README.read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name}" in readme, f"README.md does not link to docs/{page.name}"


def test_the_readme_keeps_the_place_of_the_measured_table() -> None:
    readme = README.read_text()
    section = readme.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
    assert "<!-- perf-table -->" in section
    assert "](benchmarks/README.md)" in section


def test_the_exit_codes_are_the_ones_the_code_gives() -> None:
    from pytest_authcheck.results.outcome import exit_status

    readme = README.read_text()
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", readme, re.M))
    assert sorted(rows) == ["0", "1", "2", "3", "4", "5"]
    assert exit_status(0, {"gate": {"decision": "passed"}}) == 0
    assert exit_status(0, {"gate": {"decision": "failed"}}) == 1
    assert exit_status(1, {"gate": {"decision": "passed"}}) == 0  # the gate decides, not pytest's failures
    for code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR,
                 pytest.ExitCode.NO_TESTS_COLLECTED):
        assert exit_status(int(code), {"gate": {"decision": "failed"}}) == int(code)
    assert int(pytest.ExitCode.USAGE_ERROR) == 4 and "policy" in rows["4"]


def test_every_public_fixture_is_documented() -> None:
    from pytest_authcheck import _api_fixtures, _client_fixtures, _fixtures, _jamf_fixtures

    page = (ROOT / "docs" / "fixtures.md").read_text()
    listed = set(re.findall(r"`(\w+)`", "\n".join(line.split(" | ")[0] for line in page.splitlines()
                                                  if line.startswith("| `"))))
    public = {*_fixtures.iter_fixture_names(), *_client_fixtures.iter_fixture_names(),
              *_jamf_fixtures.iter_fixture_names(), *_api_fixtures.iter_fixture_names()}
    assert len(public) >= 30
    assert public - listed == set(), "public fixtures missing from docs/fixtures.md"
