"""``pytest --authcheck-init URL``: a starter policy from what a provider says about itself.

It reads an OpenID Provider's discovery document (``oidc``) or, with an auditor account, a Jamf Pro
server's API clients, roles and privileges (``jamf``), and writes a commented ``authcheck.toml``: strict
defaults, and the observed facts marked ``observed: review`` (they say what the system does today, not what it
should do). It never writes a secret: credentials appear only as ``${VARIABLE}`` references. Every request goes
through the project's HTTP layer (verified TLS, timeouts, size cap, redaction), and credentials only to the URL's
own origin.
"""
