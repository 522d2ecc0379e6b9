"""The policy itself: secrets belong in the environment or a secret store, never written into the file
(catalogue CRED-01). Findings name the key path and line, the kind of credential and its length; never
the value.
"""

from __future__ import annotations

from pytest_authcheck import check
from pytest_authcheck._policy import SECRET_FIELDS
from pytest_authcheck._secrets_scan import credential_comments, credential_values, literal_secret_fields


def _report(policy_file, authcheck_record, findings, what):
    authcheck_record.expect(what, [f.to_dict() for f in findings] or "none found")
    if findings:
        authcheck_record.fail(f"{policy_file.path.name}: " + "; ".join(f.describe() for f in findings))


@check("credentials.policy-secret-refs", title="Secret fields of the policy are ${VAR} references, not literals",
       sends="Nothing: reads the policy file as written.",
       severity="high", area="credentials", refs=["RFC 6819 §5.3.1", "CWE-798"],
       remediation="Replace each literal with a ${VAR} reference and set the variable from your secret store or CI "
                   "secrets; the literal is in the file's history now, so rotate that secret.")
def test_policy_secret_refs(policy_file, authcheck_record):
    findings = literal_secret_fields(policy_file.unresolved, SECRET_FIELDS, policy_file.line)
    _report(policy_file, authcheck_record, findings,
            f"every {', '.join(sorted(SECRET_FIELDS))} written as ${{VAR}}")


@check("credentials.policy-no-credentials", title="No credential-shaped string is written anywhere else in the policy",
       sends="Nothing: reads the policy file as written.",
       severity="medium", area="credentials", refs=["RFC 6819 §5.3.1", "CWE-798"],
       remediation="Remove the token, key or secret from the policy (values and comments); reference it as ${VAR} "
                   "where the policy needs it, and rotate it: it is in the file's history now.")
def test_policy_no_credentials(policy_file, authcheck_record):
    findings = credential_values(policy_file.unresolved, SECRET_FIELDS, policy_file.line)
    findings += credential_comments(policy_file.source)
    _report(policy_file, authcheck_record, findings, "no JWT, private key, vendor key or random-looking string")
