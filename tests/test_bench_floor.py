"""The all-kinds floor (``benchmarks/_floor_plugin.py``) writes out by hand what the plugin sends, so that it times raw
httpx without importing the plugin (whose import alone costs a tenth of the floor at 100 clients). Its copies of the
plugin's probe values are held equal here: a suite that changes what it sends changes the floor too."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from pytest_authcheck.probes import variations
from tests.conftest import benchmark_module


@pytest.fixture(scope="module")
def floor() -> Iterator[ModuleType]:
    with benchmark_module("_floor_plugin") as module:
        yield module


@pytest.mark.parametrize(("uri", "native_loopback"), [
    ("http://127.0.0.1/callback", True), ("http://localhost:8080/cb", True), ("https://app.test/auth/callback", False),
    ("https://app.test:8443/cb/?next=1", False), ("com.example.app:/oauth2redirect", False)])
def test_the_floor_sends_the_plugins_near_misses(floor: ModuleType, uri: str, native_loopback: bool) -> None:
    assert floor.variants(uri, native_loopback=native_loopback) == variations.variants(uri, native_loopback=native_loopback)


def test_the_floor_sends_the_plugins_grants_response_types_and_values(floor: ModuleType) -> None:
    def made_up_code_aside(forms: dict[str, dict[str, str]]) -> dict[str, Any]:
        # each process draws its own made-up code
        return {grant: {k: "<made-up code>" if k == "code" else v for k, v in form.items()} for grant, form in forms.items()}

    assert made_up_code_aside(floor.UNDECLARED_GRANTS) == made_up_code_aside(variations.UNDECLARED_GRANT_PROBES)
    assert floor.FRONT_CHANNEL == variations.FRONT_CHANNEL_RESPONSE_TYPES
    assert floor.UNKNOWN_GRANT == variations.UNKNOWN_GRANT
    assert floor.INJECTED_STATE == variations.INJECTED_STATE
    assert floor.STANDARD_OIDC_SCOPES == variations.STANDARD_OIDC_SCOPES
    assert floor.MAX_SCOPE_CANDIDATES == variations.MAX_SCOPE_CANDIDATES
    assert (floor.UNREGISTERED, floor.MADE_UP_SCOPE, floor.LOOPBACK_PROBE_PORT) == (
        variations.UNREGISTERED_URI, variations.MADE_UP_SCOPE, variations.LOOPBACK_PROBE_PORT)
