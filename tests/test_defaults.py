"""Defaults stated once (``pytest_authcheck.policy.defaults.DEFAULTS``): the schema documents exactly those values, the
code applies them, and they fit together (api.expired-token can run with the API defaults; when the keys
rule it out, its skip names the keys that lift it)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_authcheck._api import api_spec
from pytest_authcheck._clients import DEFAULT_ACCESS_TOKEN_MAX, DEFAULT_ID_TOKEN_MAX, DEFAULT_REFRESH_TOKEN_MAX
from pytest_authcheck._credentials import DEFAULT_FIELDS, DEFAULT_MODE
from pytest_authcheck.policy.defaults import DEFAULTS, default, seconds
from pytest_authcheck.policy.load import load_policy
from pytest_authcheck.policy.schema import policy_schema
from tests.test_suites_api import ApiWorld, api_world  # noqa: F401  (fixture)

# Importing a suite marks its checks with markers that only a run with --authcheck registers.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")


def _annotated(schema: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(``$defs`` entry, key) -> the ``default`` annotation, for every property of the schema that has one."""
    found = {}
    for name, definition in schema["$defs"].items():
        for key, spec in (definition.get("properties") or {}).items():
            if "default" in spec:
                found[(name, key)] = spec["default"]
    return found


def test_the_schema_documents_exactly_the_table() -> None:
    schema = policy_schema()
    table = {(d.schema, key.rsplit(".", 1)[1]): d.written for key, d in DEFAULTS.items()}
    # "off" and "none" (false, [], {}) are annotated for the reference pages; every other default is the table's
    assert {k: v for k, v in _annotated(schema).items() if v not in (False, [], {})} == table
    # A default the description states in words is the annotated one.
    for name, definition in schema["$defs"].items():
        for key, spec in (definition.get("properties") or {}).items():
            stated = re.search(r"\(default (\d[\w.]*)|the default (\d[\w.]*)", spec.get("description", ""))
            if stated:
                assert (name, key) in table, (name, key, stated.group(0))
                assert (stated.group(1) or stated.group(2)) == str(table[(name, key)]), (name, key, stated.group(0))


def test_the_code_applies_the_table(tmp_path: Path) -> None:
    path = tmp_path / "authcheck.toml"
    path.write_text(textwrap.dedent("""\
        [providers.sso]
        kind = "oidc"
        issuer = "https://sso.example"

        [apis.platform]
        base_url = "https://api.example"
        provider = "sso"
        """))
    policy = load_policy(path, environ={})
    settings = policy.settings
    assert (str(settings.reports), settings.timeout, settings.cert_min_days, settings.max_clock_skew,
            settings.max_response_bytes, settings.retries) == (
        default("settings.reports"), seconds("settings.timeout"), default("settings.cert_min_days"),
        seconds("settings.max_clock_skew"), default("settings.max_response_bytes"), default("settings.retries"))
    spec = api_spec(policy, "platform")
    assert (spec.leeway, spec.max_expiry_wait) == (seconds("apis.*.leeway"), seconds("apis.*.max_expiry_wait"))
    assert (DEFAULT_ACCESS_TOKEN_MAX, DEFAULT_ID_TOKEN_MAX, DEFAULT_REFRESH_TOKEN_MAX) == (3600, 3600, 30 * 86400)
    assert seconds("providers.*.access_token_max") == DEFAULT_ACCESS_TOKEN_MAX  # a client falls back to its provider
    assert (DEFAULT_MODE, DEFAULT_FIELDS) == (0o600, tuple(default("credentials.*.fields")))
    from pytest_authcheck.suites.jamf_auth import JAMF_USER_TOKEN_DEFAULT  # the suite keeps its own name for it

    assert JAMF_USER_TOKEN_DEFAULT == seconds("providers.*.user_token_max")


def test_the_api_defaults_leave_room_for_a_short_lived_token() -> None:
    # api.expired-token waits exp + leeway + 1 s: with the defaults a token living up to 29 s is waited for.
    assert seconds("apis.*.leeway") + 1 + 10 <= seconds("apis.*.max_expiry_wait")


@pytest.mark.parametrize(("keys", "says"), [
    # The leeway alone leaves no room: the skip names the two keys, not the short_lived client.
    ('leeway = "100s"', r"^apis\.platform\.leeway \(100s\) leaves no room within apis\.platform\.max_expiry_wait "
                        r"\(90s\): no token can be waited for; set max_expiry_wait to at least 10[1-4]s"),
    # A token that lives longer than the wait allows: the short_lived client or max_expiry_wait lifts it.
    ('leeway = "1s"\nmax_expiry_wait = "2s"',
     r"^the token from clients\.expiry-probe expires \(plus the API's leeway of 1s\) in [3-5]s, more than "
     r"apis\.platform\.max_expiry_wait \(2s\): declare a client whose tokens live seconds as "
     r"apis\.platform\.probes\.short_lived, or set max_expiry_wait to [3-5]s$"),
])
def test_expired_token_skip_names_the_real_blocker(api_world: ApiWorld, run_authcheck, keys: str,  # noqa: F811
                                                   says: str) -> None:
    with api_world.api() as api:
        policy = api_world.policy(api).replace('leeway = "1s"', keys)
        run = run_authcheck(policy, "-m", "api", "-k", "expired_token", env=api_world.env())
    (result,) = [r for r in run.report["results"] if r["check"] == "api.expired-token"]
    assert result["status"] == "skipped" and re.search(says, result["message"]), result["message"]
