"""Environment-based client configuration: the variables a client tool reads are set, well formed and
agree with the policy (seeds: "Invalid JAMF_AUTH_TYPE", "Missing required credentials", a JAMF_URL with a
trailing slash or without a protocol, "Wrong OIDC issuer configured").

Offline: the values come from the client's ``env_file`` or from this process's environment. A value is
shown in a message only when it is not a secret and does not look like one.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._credentials import current_uid, describe_bits, describe_user, format_mode, inspect_file
from pytest_authcheck._credentials_fixtures import policy_relative
from pytest_authcheck._envcheck import Shown, normalise_url, same_path, show, url_form_problem
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import Satisfies
from pytest_authcheck._secrets_scan import credential_kind, is_secret_name


def _rules_with(client_config, attribute, what):
    rules = [r for r in client_config.rules if getattr(r, attribute)]
    if not rules:
        pytest.skip(f"{client_config.target} declares no variable with {what}")
    return rules


def _set_rules(client_config, client_env, rules):
    """The rules whose variable is set: an unset one is credentials.env-required's to report."""
    found = [r for r in rules if client_env.value(r.name) is not None]
    if not found:
        pytest.skip(f"none of {', '.join(r.name for r in rules)} is set in {client_env.description} "
                    "(credentials.env-required reports the required ones)")
    return found


def _judge_values(authcheck_record, client_config, client_env, rules, problem_of, wanted):
    """Each set variable of ``rules`` judged by ``problem_of(rule, value, shown)`` (``shown``: the value as it may be
    printed) against ``wanted(rule)`` (the expectation's words); the expectation recorded, the problems returned."""
    problems, expected, observed = [], {}, {}
    for rule in _set_rules(client_config, client_env, rules):
        value = client_env.value(rule.name)
        expected[rule.name] = Satisfies(lambda shown, rule=rule: not problem_of(rule, shown.value, ""), wanted(rule))
        observed[rule.name] = Shown(value, rule.secret)
        problem = problem_of(rule, value, show(value, secret=rule.secret))
        if problem:
            problems.append(f"{rule.name} {problem}")
    authcheck_record.expect(expected, observed)
    return problems


def _fail_all(authcheck_record, problems):
    if problems:
        authcheck_record.fail("; ".join(problems))


@check("credentials.env-required", title="Every variable the client tool needs is set",
       sends="Nothing: reads the variables from env_file, else the environment.",
       severity="high", area="credentials", refs=["JamfMCP troubleshooting: Missing Environment Variables"],
       remediation="Set the missing variables where the tool reads them (its env file or MCP config, or the "
                   "shell); a tool missing one fails at its first request.")
def test_env_required(client_config, client_env, authcheck_record):
    if not client_config.rules:
        pytest.skip(f"{client_config.target} declares no variables under env")
    required = [r for r in client_config.rules if r.is_required(client_env.values)]
    if not required:
        pytest.skip(f"{client_config.target} requires none of its variables with the values set now")
    missing = [r for r in required if not client_env.value(r.name)]
    authcheck_record.expect({r.name: "set" for r in required},
                            {r.name: "set" if client_env.value(r.name) else "not set" for r in required})
    if missing:
        authcheck_record.fail(f"{client_config.target}: not set in {client_env.description}: "
                              + ", ".join(f"{r.name}{r.condition()}" for r in missing))


@check("credentials.env-allowed-values", title="Variables with a fixed set of values hold one of them",
       sends="Nothing: reads the variables from env_file, else the environment.",
       severity="high", area="credentials", refs=["JamfMCP troubleshooting: Invalid Authentication Type"],
       remediation="Set the variable to one of the values the tool accepts (e.g. JAMF_AUTH_TYPE=basic or "
                   "client_credentials), spelled exactly.")
def test_env_allowed_values(client_config, client_env, authcheck_record):
    rules = _rules_with(client_config, "one_of", "one_of")
    problems = _judge_values(
        authcheck_record, client_config, client_env, rules,
        lambda rule, value, shown: None if value in rule.one_of
        else f"is {shown}, not one of {', '.join(map(repr, rule.one_of))}",
        lambda rule: "one of " + ", ".join(map(repr, rule.one_of)))
    _fail_all(authcheck_record, problems)


@check("credentials.env-url-form", title="Server URLs have a scheme and no trailing slash or path",
       sends="Nothing: reads the variables from env_file, else the environment.",
       severity="medium", area="credentials", refs=["RFC 3986 §3", "JamfMCP troubleshooting: Server URL Issues"],
       remediation="Write the server as https://host (or https://host:port), without a trailing slash or path; "
                   "where the tool allows a bare host, write it without a port.")
def test_env_url_form(client_config, client_env, authcheck_record):
    rules = _rules_with(client_config, "form", "a form")
    problems = _judge_values(authcheck_record, client_config, client_env, rules,
                             lambda rule, value, shown: (problem := url_form_problem(value, rule.form))
                             and f"{shown} {problem}",
                             lambda rule: f"a {rule.form}")
    _fail_all(authcheck_record, problems)


def _reference(policy, client_config, reference):
    """(what the policy says, how to compare, how to name it) for an ``equals`` reference."""
    provider_name = client_config.config["provider"]
    provider = policy.section("providers")[provider_name]
    if reference == "issuer":
        return provider["issuer"], lambda v, e: v == e, f"providers.{provider_name}.issuer"
    if reference == "provider_url":
        url = provider.get("url") or provider.get("issuer")
        return url, lambda v, e: normalise_url(v) == normalise_url(e), f"providers.{provider_name} URL"
    if reference == "client_id":
        return client_config.config["client_id"], lambda v, e: v == e, f"{client_config.target}.client_id"
    name = reference.removeprefix("credentials.")
    path = policy_relative(policy, policy.section("credentials")[name]["path"])
    return str(path), lambda v, e: same_path(v, path), f"the path of credentials.{name}"


@check("credentials.env-matches-policy", title="Variables that name the issuer, client or files agree with the policy",
       sends="Nothing: compares the variables with the policy.",
       severity="high", area="credentials", refs=["OIDC Discovery 1.0 §4.3", "RFC 9068 §4"],
       remediation="Set the variable to exactly what the policy declares (the issuer string as the provider "
                   "publishes it, the registered client id, the credentials path); a near miss sends the tool to "
                   "the wrong issuer or client.")
def test_env_matches_policy(client_config, client_env, authcheck_policy, authcheck_record):
    rules = _set_rules(client_config, client_env, _rules_with(client_config, "equals", "equals"))
    problems, expected, observed = [], {}, {}
    for rule in rules:
        value = client_env.value(rule.name)
        target, same, label = _reference(authcheck_policy, client_config, rule.equals)
        expected[rule.name] = Satisfies(lambda shown, same=same, target=target: same(shown.value, target),
                                        f"{label}: {show(target, secret=rule.secret, quote=False)}")
        observed[rule.name] = Shown(value, rule.secret)
        if not same(value, target):
            problems.append(f"{rule.name} is {show(value, secret=rule.secret)}, not {label} "
                            f"({show(target, secret=rule.secret)})")
    authcheck_record.expect(expected, observed)
    _fail_all(authcheck_record, problems)


@check("credentials.env-file-private", title="An env file that holds secrets is readable by its owner only",
       sends="Nothing: reads the env file's owner and mode.",
       severity="high", area="credentials", refs=["RFC 6749 §2.3.1", "RFC 6819 §5.3.3", "CWE-732"],
       remediation="chmod 600 the env file (or MCP config) and keep it owned by the user who runs the tool; better, "
                   "keep the secrets in the OS keychain or a secret manager and reference them. If others could "
                   "read it, rotate the secrets in it.")
def test_env_file_private(client_config, client_env, authcheck_record):
    if client_config.env_file is None:
        pytest.skip(f"{client_config.target} reads its variables from the environment, not from a file")
    uid = current_uid()
    if uid is None:
        pytest.skip("file owners and modes are POSIX notions; this machine has none")
    facts = inspect_file(client_config.env_file)
    authcheck_record.fact("file", facts.to_dict())
    if not facts.exists:
        raise EvaluationError(f"there is no env file at {client_config.env_file}")
    secret_rules = {r.name for r in client_config.rules if r.secret}
    secrets = sorted(name for name, value in client_env.values.items()
                     if value and (name in secret_rules or is_secret_name(name)
                                   or credential_kind(value.reveal()) is not None))
    authcheck_record.fact("secrets held", secrets)
    expected, observed = {"owner": describe_user(uid)}, {"owner": describe_user(facts.uid)}
    if secrets:  # without secrets in it, who may read the file is no finding
        expected["mode"] = Satisfies(lambda shown: not int(shown, 8) & 0o077,
                                     f"owner-only (0600 or stricter): it holds {', '.join(secrets)}")
        observed["mode"] = format_mode(facts.mode)
    authcheck_record.expect(expected, observed)
    problems = []
    if facts.uid != uid:
        problems.append(f"it is owned by {describe_user(facts.uid)}, not by {describe_user(uid)}")
    exposed = facts.mode & 0o077
    if secrets and exposed:
        problems.append(f"it holds {', '.join(secrets)} and its mode {format_mode(facts.mode)} allows "
                        f"{describe_bits(exposed)}")
    if problems:
        authcheck_record.fail(f"{client_config.env_file}: " + "; ".join(problems))
