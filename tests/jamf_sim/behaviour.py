"""Switches for Jamf Pro behaviour the reference does not confirm.

Every field is named after the fact it models; the tag in the comment is the reference's
confidence mark ([C] confirmed, [O] observed, [T] third party, [I] inferred, [U] unconfirmed)
and the section of /work/shared/reference/jamf-pro-auth.md. Defaults are the documented or
most likely behaviour. A few [C] facts are switches too so that broken presets can model a
server that misbehaves (e.g. ``invalidate_token_revokes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalogue import CLASSIC_READ_PRIVILEGES, JAMF_PRO_VERSION, PRIVILEGE_RENAMES_11_7_1_TO_11_12


@dataclass
class Behaviour:
    # --- tokens -------------------------------------------------------------------------
    # [T/C] 1.1: user tokens last 30 minutes by default.
    user_token_lifetime_seconds: int = 1800
    # [U] 2.2: the default accessTokenLifetimeSeconds of a new API client is unknown. Used only
    # when an integration is created without a lifetime. 300 is the spec's own example value.
    default_access_token_lifetime_seconds: int = 300
    # [O]/[I] 1.5: expires_in "reflects accessTokenLifetimeSeconds" [C], but both observed
    # responses show lifetime-1 (599 for 600, 299). True -> expires_in = lifetime - 1.
    oauth_expires_in_is_lifetime_minus_one: bool = True
    # [U] 1.2: what keep-alive does with an OAuth token. SDKs say it is only supported for user
    # tokens. "reject" -> 401 INVALID_TOKEN (token stays valid); "renew" -> behaves as for users.
    oauth_keep_alive: str = "reject"
    # [U] 1.3/7.7: what invalidate-token does with an OAuth token.
    # "invalidate" -> 204 and the token is dead (same as user tokens); "ignore" -> 204, still alive.
    oauth_invalidate_token: str = "invalidate"
    # [C] 1.3 (204) + [I] (later use -> 401 INVALID_TOKEN). False models a broken server that
    # answers 204 but keeps accepting the token (preset invalidated_token_still_accepted_tenant).
    invalidate_token_revokes: bool = True
    # [C] 1.2: keep-alive invalidates the old token. False models a server that keeps it alive.
    keep_alive_revokes_old_token: bool = True

    # --- OAuth client credentials ---------------------------------------------------------
    # [U] 1.5: what a *disabled* client gets from the token endpoint.
    # "invalid_client" -> 401 {"error":"invalid_client"}; "empty_token" -> 200 with access_token "".
    disabled_client_token_response: str = "invalid_client"
    # [I] 1.5: HTTP status for bad id/secret (jamf-cli treats 401 as invalid credentials [C];
    # the spec documents 400 for RFC 6749 errors [C]).
    invalid_client_status: int = 401
    # [U] RFC 6749 client_secret_basic (credentials in an Authorization: Basic header) is not
    # documented for Jamf; only form fields are [C].
    oauth_accept_client_secret_basic: bool = False
    # [C] 2.2 (learn.jamf.com "Rotating a Client Secret"): adding/removing roles on a client only
    # takes effect after the secret is rotated. False -> role changes apply immediately.
    role_assignment_change_requires_rotation: bool = True
    # [C] 2.2: editing a role's privilege list does NOT need a new secret (privileges are resolved
    # from the token's role ids at request time [T]). True models the other reading: a client
    # keeps the privilege snapshot taken at its last secret rotation.
    role_privilege_edit_requires_rotation: bool = False
    # [T] 2.2: disabling/deleting a client does not revoke tokens already issued.
    disable_revokes_live_tokens: bool = False
    # [U] whether rotating a secret kills tokens issued with the old secret (only the old secret
    # is confirmed dead [C]). Default: tokens live until they expire, like for disable [T].
    rotation_revokes_live_tokens: bool = False
    # [I] whether rotation also issues a new clientId (reference only says the old secret dies).
    rotation_changes_client_id: bool = False
    # [T] 2.2: the client must be enabled before a secret can be generated (400 otherwise).
    rotation_requires_enabled_client: bool = True

    # --- authorization --------------------------------------------------------------------
    # [I] 7.3: a multi-privilege x-required-privileges entry needs ALL ("all") or ANY ("any").
    multi_privilege_rule: str = "all"
    # [U] 1.7: the ApiError code of a Jamf Pro 403. Only observed code is the API gateway's
    # BAD_PERMISSIONS [O]; spec 403 descriptions say "Insufficient privileges" [C].
    forbidden_error_code: str = "BAD_PERMISSIONS"
    forbidden_error_description: str = "Insufficient privileges"
    # [I] 2.3: the 11.12 server accepts the renamed privilege where 11.7.1's spec names the old one.
    privilege_renames: dict[str, str] = field(default_factory=lambda: dict(PRIVILEGE_RENAMES_11_7_1_TO_11_12))
    # [U] 7.7: whether an account needs a separate "Access to Jamf Pro API" switch (JamfMCP doc
    # mentions it; no such privilege in any list, reference 2.5). True -> users with
    # api_access=False cannot get a token.
    require_user_api_access_flag: bool = False
    # [U] 1.4: the privilegesBySite key used for a Full Access account ("-1" in one demo mock;
    # the official example uses a real site id "1").
    full_access_site_key: str = "-1"
    # [U] 1.4: what GET /api/v1/auth returns for a client-credentials token.
    # "minimal" -> authenticationType CLIENT_CREDENTIALS, account without privileges;
    # "with_privileges" -> also lists the token's effective privileges under full_access_site_key.
    v1_auth_for_client_credentials: str = "minimal"
    # [T] 1.1: Classic API Basic auth is off by default since 10.42 / forced off on 11.5+.
    classic_api_basic_auth_enabled: bool = False
    # [I] 5.7: Classic resource -> read privilege(s) (any one suffices); see catalogue.py.
    # Writes (POST/PUT/DELETE) need Create/Update/Delete of the same object [I].
    classic_read_privileges: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CLASSIC_READ_PRIVILEGES))

    # --- error bodies ---------------------------------------------------------------------
    # [O] 1.1: bad username/password -> {"httpStatus":401,"errors":[]} (older endpoint).
    # "empty_errors" or "invalid_credentials" (adds one cause with code INVALID_CREDENTIALS [I]).
    bad_login_body: str = "empty_errors"
    # [C] 1.1: expired / force-changed password -> ApiError code USER_EXPIRED_PASSWORD.
    expired_password_code: str = "USER_EXPIRED_PASSWORD"
    # [O] 1.7: expired/invalid/invalidated token -> 401 INVALID_TOKEN, description "Unauthorized".
    invalid_token_code: str = "INVALID_TOKEN"
    # [O] 0: real servers pretty-print JSON with " : " separators (optional per 7.4).
    pretty_json: bool = True

    # --- misc -----------------------------------------------------------------------------
    jamf_pro_version: str = JAMF_PRO_VERSION  # [O] 4
    serve_legacy_auth_endpoints: bool = True  # [C] 1.6 deprecated /api/auth/* still in 11.7.1
    max_page_size: int = 2000  # [T] 0: jamf-pro-sdk paginator docstring
