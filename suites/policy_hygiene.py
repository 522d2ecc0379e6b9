"""The policy itself: secrets belong in the environment or a secret store, never written into the file
(catalogue CRED-01). Findings name the key path and line, the kind of credential and its length; never
the value.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._expect import Satisfies
from pytest_authcheck._secrets_scan import (
    credential_comments,
    credential_values,
    literal_secret_fields,
    scanned_counts,
    secret_field_paths,
)
from pytest_authcheck.policy.load import SECRET_FIELDS

REFERENCE = "a ${VAR} reference"


@check("credentials.policy-secret-refs", title="Secret fields of the policy are ${VAR} references, not literals",
       sends="Nothing: reads the policy file as written.",
       severity="high", area="credentials", refs=["RFC 6819 §5.3.1", "CWE-798"],
       remediation="Replace each literal with a ${VAR} reference and set the variable from your secret store or CI "
                   "secrets; the literal is in the file's history now, so rotate that secret.")
def test_policy_secret_refs(policy_file, authcheck_record):
    fields = secret_field_paths(policy_file.unresolved, SECRET_FIELDS)
    if not fields:
        pytest.skip(f"{policy_file.path.name} writes no secret field ({', '.join(sorted(SECRET_FIELDS))})")
    findings = literal_secret_fields(policy_file.unresolved, SECRET_FIELDS, policy_file.line)
    written = {f.where: f.kind for f in findings}
    authcheck_record.expect({field: REFERENCE for field in fields},
                            {field: written.get(field, REFERENCE) for field in fields})
    if findings:
        authcheck_record.fail(f"{policy_file.path.name}: " + "; ".join(f.describe() for f in findings))


@check("credentials.policy-no-credentials", title="No credential-shaped string is written anywhere else in the policy",
       sends="Nothing: reads the policy file as written.",
       severity="medium", area="credentials", refs=["RFC 6819 §5.3.1", "CWE-798"],
       remediation="Remove the token, key or secret from the policy (values and comments); reference it as ${VAR} "
                   "where the policy needs it, and rotate it: it is in the file's history now.")
def test_policy_no_credentials(policy_file, authcheck_record):
    scanned = scanned_counts(policy_file.unresolved, SECRET_FIELDS, policy_file.source)
    if not any(scanned.values()):
        pytest.skip(f"{policy_file.path.name} holds no value outside its secret fields and no comment")
    authcheck_record.fact("looked at", scanned)
    findings = credential_values(policy_file.unresolved, SECRET_FIELDS, policy_file.line)
    findings += credential_comments(policy_file.source)
    authcheck_record.expect(Satisfies(lambda found: not found, "no JWT, private key, vendor key or random-looking "
                                      "string"), [f.describe() for f in findings])
    if findings:
        authcheck_record.fail(f"{policy_file.path.name}: " + "; ".join(f.describe() for f in findings))
