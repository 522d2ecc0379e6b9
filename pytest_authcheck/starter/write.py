"""``pytest --authcheck-init``: detect the kind of server at the URL, have ``oidc`` or ``jamf`` read it, write the
policy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .._errors import EvaluationError
from .._http import HttpClient
from ..policy.load import POLICY_FILE, ca_bundle_problem
from . import jamf, oidc
from .common import Options, Policy, StarterError, check_url, http_client, tls_hint, unavailable


def write(options: Options) -> tuple[Path, Policy]:
    """Detect the kind of server, read it, and write the starter policy; the path and the policy written."""
    url = check_url(options.url)
    if options.out.exists() and not options.force:
        raise StarterError(f"{options.out} exists; pytest --authcheck-init never overwrites a policy "
                           "(add --authcheck-init-force to replace it, or --authcheck-policy PATH to write elsewhere)")
    if options.ca_bundle is not None:
        problem = ca_bundle_problem(options.ca_bundle)
        if problem:
            raise StarterError(f"--authcheck-init-ca: {problem}")

    kind = options.kind
    # the auditor's credentials, if set, are registered for redaction before the first request, whatever the kind
    http = http_client(url, options.ca_bundle, jamf.auditor_secrets(options, required=False))
    try:
        if kind == "auto":
            kind = _detect(http, url)
        policy = Policy()
        if kind == "oidc":
            oidc.build(policy, http, url, options)
        else:
            jamf.build(policy, http, url, options)
    finally:
        http.close()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(policy.text(), encoding="utf-8")
    return options.out, policy


def _detect(http: HttpClient, url: str) -> str:
    """``oidc`` when the URL serves OpenID discovery, ``jamf`` when it answers as the Jamf Pro API does."""
    try:
        where = oidc.discovery_url(url)
        answer = http.get(where, headers={"Accept": "application/json"})
        if answer.status == 200 and isinstance(_json(answer), dict) and "issuer" in _json(answer):
            return "oidc"
        busy = unavailable(answer, where)
        if busy is not None:
            raise StarterError(busy + " (or say which kind of server it is with --authcheck-init-kind)")
        if jamf.looks_like_jamf(http, url):
            return "jamf"
    except EvaluationError as exc:
        raise StarterError(f"cannot read {url}: {exc}" + tls_hint(exc)) from None
    raise StarterError(f"{url} serves neither OpenID discovery ({oidc.discovery_url(url)}) nor the Jamf Pro API "
                       "(/api/v1/jamf-pro-version); check the URL, or say which it is with --authcheck-init-kind")


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return None


def main(config: Any) -> int:
    """The ``--authcheck-init`` command: 0 after writing, 4 (pytest's usage error) with the reason otherwise."""
    import pytest

    explicit = config.getoption("authcheck_policy") or None
    out = Path(explicit).expanduser() if explicit else Path.cwd() / POLICY_FILE
    if not out.is_absolute():
        out = Path.cwd() / out
    ca = config.getoption("authcheck_init_ca")
    options = Options(url=config.getoption("authcheck_init"), out=out, kind=config.getoption("authcheck_init_kind"),
                      ca_bundle=Path(ca).expanduser().resolve() if ca else None,
                      force=config.getoption("authcheck_init_force"),
                      user_var=config.getoption("authcheck_init_user_var"),
                      password_var=config.getoption("authcheck_init_password_var"))
    try:
        path, policy = write(options)
    except StarterError as exc:
        print(f"ERROR: authcheck init: {exc}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)
    print(f"wrote {path}: {policy.summary}")
    print(f"{policy.to_review} value(s) marked 'observed: review'. Set the variables it names, uncomment what you "
          "use, then run: pytest --authcheck" + (f" --authcheck-policy {path}" if explicit else ""))
    return int(pytest.ExitCode.OK)
