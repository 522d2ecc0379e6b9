"""Jamf Pro: URL lint, the API as the checks use it, privilege catalogue, derivation and diffs."""
