"""The documentation: generated pages in step with their sources, and the guides' examples runnable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_authcheck._checks import shipped_checks
from pytest_authcheck._docs import CHECKS_PAGE, POLICY_PAGE, policy_sections, stale
from pytest_authcheck._policy_schema import policy_schema

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


@pytest.mark.parametrize("page", ["login.md", "writing-checks.md", "reading-the-report.md"])
def test_the_guides_link_to_pages_that_exist(page: str) -> None:
    import re

    text = (DOCS / page).read_text()
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
        if target == "verdicts.md":  # the lead's page, written beside this one
            continue
        assert (DOCS / target).is_file(), f"docs/{page} links to {target}, which does not exist"
