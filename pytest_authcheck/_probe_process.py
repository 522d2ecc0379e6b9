"""Whether a run sends its checks' probes from a probe process (``probes.prober``): what the command line or the ini
says, and whether the policy gives it anything to send. Read when the session starts (``_session``) and, for ``-n``,
at configure (``_xdist.why_not_workers``)."""

from __future__ import annotations

import pytest

from .policy.load import Policy

_TRUE, _FALSE = ("1", "true", "yes", "on", "y", "t"), ("0", "false", "no", "off", "n", "f")


def probe_process_said(config: pytest.Config) -> bool | None:
    """Whether the command line or the ini asks for the probe process (True) or for one process (False); None when
    neither says (the default: a prober where a fork is safe, silently none where it is not)."""
    option = config.getoption("authcheck_probe_process")
    if option is not None:
        return bool(option)
    text = str(config.getini("authcheck_probe_process")).strip().lower()
    if not text:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise pytest.UsageError(f"authcheck_probe_process: {text!r} is neither true nor false")


def prober_applies(config: pytest.Config, policy: Policy) -> bool:
    """Whether a run of ``policy`` in one process would fork a prober where a fork is safe: not refused, and with
    client probes to send."""
    return (probe_process_said(config) is not False and not config.option.collectonly
            and bool(policy.providers_of_kind("oidc")) and bool(policy.section("clients")))
