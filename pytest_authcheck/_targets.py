"""Targets: what a check runs against, known from the static policy alone.

A suite asks for a target by naming its fixture (``oidc_provider``, ...). Each entry here says which
policy table the target lives in and how to list its names, so ``pytest_generate_tests`` can
parametrize every test the same way on every xdist worker, and results can name their target
(``providers.sso``). Suites for new kinds of targets add an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._api import cell_id, cell_target, matrix_cells
from ._clients import PolicyClient
from ._interned import KeptOnce
from .policy.load import Policy

_TARGET_NAMES = KeptOnce[str](1_000_000)


@dataclass(frozen=True)
class TargetKind:
    """One kind of target: its policy table, how to list it, and what to say when there is none."""

    section: str
    names: Callable[[Policy], list[str]]
    none_reason: str
    # The test id of a name (default: the name), and the result's target (default: "section.name").
    test_id: Callable[[Policy, str], str] | None = None
    target: Callable[[str], str] | None = None
    # What a check's ``applies`` rule is given for the target ``name`` (default: its policy table).
    subject: Callable[[Policy, str], Any] | None = None

    def subject_of(self, policy: Policy, name: str) -> Any:
        """The object a check's ``applies`` rule judges."""
        if self.subject is not None:
            return self.subject(policy, name)
        return policy.section(self.section).get(name)

    def id_of(self, policy: Policy, name: str) -> str:
        """The test id shown for the target ``name``."""
        return self.test_id(policy, name) if self.test_id is not None else name

    def target_of(self, name: str) -> str:
        """The target named in results (``providers.sso``, ``apis.platform``)."""
        # every result of the target names it: one string for all of them (tens of thousands of results)
        return _TARGET_NAMES(self.target(name) if self.target is not None else f"{self.section}.{name}")


def _clients_of_kind(kind: str) -> Callable[[Policy], list[str]]:
    def names(policy: Policy) -> list[str]:
        providers = policy.section("providers")
        return [n for n, c in policy.section("clients").items() if providers.get(c["provider"], {}).get("kind") == kind]
    return names


TARGET_KINDS: dict[str, TargetKind] = {
    "oidc_provider": TargetKind("providers", lambda p: list(p.providers_of_kind("oidc")),
                                "the policy declares no oidc provider"),
    "oidc_client": TargetKind("clients", _clients_of_kind("oidc"), "the policy declares no client of an oidc provider",
                              subject=lambda p, name: PolicyClient.from_policy(name, p.section("clients")[name])),
    "jamf_provider": TargetKind("providers", lambda p: list(p.providers_of_kind("jamf")),
                                "the policy declares no jamf provider"),
    # Every provider whatever its kind, for what all kinds share (TLS, clock).
    "any_provider": TargetKind("providers", lambda p: list(p.section("providers")), "the policy declares no provider"),
    "jamf_client": TargetKind("clients", _clients_of_kind("jamf"), "the policy declares no client of a jamf provider"),
    "jamf_user": TargetKind("users", lambda p: [n for n, u in p.section("users").items()
                                                if p.section("providers").get(u["provider"], {}).get("kind") == "jamf"],
                            "the policy declares no user of a jamf provider"),
    "privilege_set": TargetKind("privileges", lambda p: list(p.section("privileges")),
                                "the policy declares no privilege set"),
    "api": TargetKind("apis", lambda p: list(p.section("apis")), "the policy declares no api"),
    # One test per (rule, principal) of every API: its id shows both, its result names the API.
    "api_cell": TargetKind("apis", matrix_cells, "the policy declares no api with rules",
                           test_id=cell_id, target=cell_target),
    "credential_file": TargetKind("credentials", lambda p: list(p.section("credentials")),
                                  "the policy declares no credentials file"),
    "client_config": TargetKind("clients", lambda p: [n for n, c in p.section("clients").items()
                                                      if c.get("env") or c.get("env_file")],
                                "the policy declares no client with env or env_file"),
    # The policy file itself (target ``policy.authcheck.toml``), for checks of what its author wrote.
    "policy_file": TargetKind("policy", lambda p: [p.path.name], "there is no policy file"),
}
