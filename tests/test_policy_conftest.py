"""The conftest.py beside the policy reaches the shipped suites, wherever the policy lives and pytest runs."""

from __future__ import annotations

import re
import textwrap

import pytest

POLICY = """\
[credentials.cli]
path = "credentials.json"
"""
# Wraps a fixture every credentials check uses: the count says how many tests the override reached.
CONFTEST = """\
import pytest

SEEN = []


@pytest.fixture
def authcheck_record(authcheck_record):
    SEEN.append(1)
    return authcheck_record


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"policy conftest: override used {len(SEEN)} times")
"""
USED = re.compile(r"policy conftest: override used (\d+) times")


def _folder(pytester: pytest.Pytester, name: str) -> None:
    folder = pytester.path / name if name else pytester.path
    folder.mkdir(exist_ok=True)
    (folder / "authcheck.toml").write_text(POLICY)
    (folder / "credentials.json").write_text("{}")
    (folder / "credentials.json").chmod(0o600)
    (folder / "conftest.py").write_text(CONFTEST)


def _used(result: pytest.RunResult) -> int:
    found = USED.findall(result.stdout.str())
    assert len(found) == 1, result.stdout.str()[-2000:]  # the conftest's hooks run once
    return int(found[0])


def test_beside_the_policy_in_the_rootdir(pytester: pytest.Pytester) -> None:
    _folder(pytester, "")
    assert _used(pytester.runpytest_subprocess("--authcheck", "-m", "credentials")) > 0


@pytest.mark.parametrize("run_from", ["the rootdir", "the policy's folder"])
def test_beside_a_policy_in_a_folder_below_the_rootdir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                       run_from: str) -> None:
    """pytest alone would not load audit/conftest.py from the rootdir, and from audit/ would give its fixtures only
    to tests under audit/: the shipped suites would never see the override."""
    _folder(pytester, "")
    reference = _used(pytester.runpytest_subprocess("--authcheck", "-m", "credentials"))
    for name in ("authcheck.toml", "conftest.py"):
        (pytester.path / name).unlink()
    _folder(pytester, "audit")
    pytester.makepyprojecttoml(textwrap.dedent("""\
        [tool.pytest.ini_options]
        addopts = "-p no:cacheprovider"
        """))
    if run_from == "the policy's folder":
        monkeypatch.chdir(pytester.path / "audit")
        result = pytester.runpytest_subprocess("--authcheck", "-m", "credentials")
    else:
        result = pytester.runpytest_subprocess("--authcheck", "--authcheck-policy", "audit/authcheck.toml",
                                               "-m", "credentials")
    assert _used(result) == reference


def test_a_conftest_that_fails_to_load_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _folder(pytester, "audit")
    (pytester.path / "audit" / "conftest.py").write_text("raise RuntimeError('broken on purpose')\n")
    result = pytester.runpytest_subprocess("--authcheck", "--authcheck-policy", "audit/authcheck.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "conftest.py (beside the policy) failed to load: RuntimeError: broken on purpose" in result.stderr.str()
