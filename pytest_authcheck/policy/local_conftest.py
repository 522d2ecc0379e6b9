"""The ``conftest.py`` beside the policy: a team's login step and fixture overrides, wherever the policy lives.

pytest loads a conftest only from the folders it collects and the folder it runs in, and a conftest's fixtures
reach only the tests below its own folder. The shipped suites live in the installed package, so an
``authcheck_login`` override in ``audit/conftest.py`` (beside ``audit/authcheck.toml``) would reach none of them.
Here that conftest is loaded once (under pytest's own name for it, so collection never imports it a second
time), and its fixtures are also registered as a plain plugin's, which every test sees.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

CONFTEST = "conftest.py"


def load_policy_conftest(config: pytest.Config, policy_path: Path) -> types.ModuleType | None:
    """Load the conftest beside ``policy_path`` (if any) and make its fixtures visible to every test."""
    conftest = policy_path.parent / CONFTEST
    if not conftest.is_file():
        return None
    manager = config.pluginmanager
    names = dict.fromkeys([str(conftest), str(conftest.absolute()), str(conftest.resolve())])
    module = next((m for m in map(manager.get_plugin, names) if m is not None), None)
    if module is None:
        module = _import(conftest)
        manager.register(module, str(conftest))
    if not _scoped_to_its_folder(config, conftest):
        return module  # pytest already gives its fixtures to every test
    fixtures = {name: value for name, value in vars(module).items()
                if not name.startswith(("_", "pytest_")) and _is_fixture(value)}
    if fixtures:
        # a module, as pytest reads fixtures off a module's own attributes (and off an instance's class)
        holder = types.ModuleType(f"authcheck_policy_fixtures_{abs(hash(str(conftest)))}")
        holder.__dict__.update(fixtures)
        # a name that does not end in conftest.py: pytest would scope it to the folder again
        manager.register(holder, f"authcheck-policy-fixtures:{conftest.parent}")
    return module


def _import(conftest: Path) -> types.ModuleType:
    # As pytest's default import mode does: the folder goes first on sys.path, so the conftest's own imports work.
    folder = str(conftest.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"authcheck_policy_conftest_{abs(hash(folder))}", conftest)
    if spec is None or spec.loader is None:
        raise pytest.UsageError(f"authcheck: cannot load {conftest}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise pytest.UsageError(f"authcheck: {conftest} (beside the policy) failed to load: "
                                f"{type(exc).__name__}: {exc}") from None
    return module


def _scoped_to_its_folder(config: pytest.Config, conftest: Path) -> bool:
    """Whether pytest gives this conftest's fixtures only to the tests of its folder (not the rootdir's conftest)."""
    try:
        relative = conftest.parent.resolve().relative_to(Path(str(config.rootpath)).resolve())
    except ValueError:
        return False  # outside the rootdir: pytest makes its fixtures global
    return str(relative) != "."


def _is_fixture(value: object) -> bool:
    # pytest's fixture definitions carry their marker (pytest >= 8.4 wraps the function; older ones mark it)
    return hasattr(value, "_fixture_function_marker") or hasattr(value, "_pytestfixturefunction")
