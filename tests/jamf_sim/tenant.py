"""Live state of a simulated Jamf Pro instance: users, API roles, API clients, tokens.

Facts (reference = /work/shared/reference/jamf-pro-auth.md):

* API roles have a *string* id, a displayName and a privilege list [C] 2.1.
* API clients ("api-integrations") have an *integer* id, displayName, enabled,
  accessTokenLifetimeSeconds, authorizationScopes = role *display names*, appType, clientId [C] 2.2.
* A client gets the union of its roles' privileges [C]. Its tokens carry ``api-role:<id>`` scopes
  and the server resolves privileges from those ids at request time [T], so editing a role's
  privileges applies at once, but adding/removing a role on a client only takes effect after
  the secret is rotated [C] 2.2. The simulator keeps ``effective_role_ids``: the role-id snapshot
  taken at the last rotation.
* User tokens last 1800 s by default [T/C] 1.1; keep-alive replaces the token [C] 1.2;
  invalidate-token kills it [C] 1.3.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import jwt

from .behaviour import Behaviour
from .catalogue import privilege_catalogue


class JamfError(Exception):
    """An error the Jamf Pro API reports as an ApiError body."""

    def __init__(self, status: int, code: str | None = None, description: str = "", field: str | None = None):
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.field = field

    def body(self) -> dict:
        errors = []
        if self.code is not None:
            errors.append({"code": self.code, "field": self.field, "description": self.description, "id": "0"})
        return {"httpStatus": self.status, "errors": errors}


class OAuthError(Exception):
    """An RFC 6749 error from the token endpoint (reference 1.5)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict:
        return {
            "error": self.error,
            "error_description": self.description,
            "error_uri": "https://datatracker.ietf.org/doc/html/rfc6749#section-5.2",
        }


class Clock:
    """Injectable clock: real time plus an offset tests can advance (no freezegun needed)."""

    def __init__(self, start: float | None = None):
        self._offset = 0.0 if start is None else start - time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


def iso_ms(ts: float) -> str:
    """ISO-8601 UTC with milliseconds and Z, as AuthTokenV1.expires [C] 1.1."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# Fixed privilege sets (reference 1.4/3 name them; their contents are [I]).
PRIVILEGE_SETS = ("ADMINISTRATOR", "AUDITOR", "ENROLLMENT", "CUSTOM")


@dataclass
class User:
    id: str
    username: str
    password: str
    privileges: frozenset[str] = frozenset()  # used when privilege_set == "CUSTOM"
    privilege_set: str = "CUSTOM"  # ADMINISTRATOR | AUDITOR | ENROLLMENT | CUSTOM
    site_id: str | None = None  # None -> Full Access; a site id -> Site Access
    enabled: bool = True
    password_expired: bool = False  # [C] 1.1 -> USER_EXPIRED_PASSWORD
    force_password_change: bool = False  # [C] 1.1 -> USER_EXPIRED_PASSWORD too
    sso_only: bool = False  # [C] 0: API auth does not support SSO
    api_access: bool = True  # [U] see Behaviour.require_user_api_access_flag
    real_name: str = ""
    email: str = ""

    @property
    def access_level(self) -> str:
        return "FullAccess" if self.site_id is None else "SiteAccess"

    def effective_privileges(self) -> frozenset[str]:
        cat = privilege_catalogue()
        if self.privilege_set == "ADMINISTRATOR":
            return frozenset(cat)
        if self.privilege_set == "AUDITOR":  # [I] read-only on everything
            return frozenset(p for p in cat if p.startswith("Read "))
        if self.privilege_set == "ENROLLMENT":  # [I]
            return frozenset({"Allow User to Enroll"})
        return frozenset(self.privileges)


@dataclass
class ApiRole:
    id: str
    display_name: str
    privileges: list[str]

    def to_json(self) -> dict:
        return {"id": self.id, "displayName": self.display_name, "privileges": list(self.privileges)}


@dataclass
class ApiIntegration:
    id: int
    display_name: str
    authorization_scopes: list[str]  # role display names, as configured (what the API shows)
    enabled: bool = True
    access_token_lifetime_seconds: int = 300
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str | None = None  # None -> appType NONE (no credentials generated yet)
    # Role ids captured at the last secret rotation: what tokens actually get [C] 2.2.
    effective_role_ids: tuple[str, ...] = ()
    # Privileges captured at the last rotation; only used if
    # Behaviour.role_privilege_edit_requires_rotation is switched on (not the real behaviour).
    role_privileges_snapshot: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def app_type(self) -> str:
        return "CLIENT_CREDENTIALS" if self.client_secret is not None else "NONE"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "authorizationScopes": list(self.authorization_scopes),
            "displayName": self.display_name,
            "enabled": self.enabled,
            "accessTokenLifetimeSeconds": self.access_token_lifetime_seconds,
            "appType": self.app_type,
            "clientId": self.client_id,
        }


@dataclass
class Token:
    token: str
    uuid: str
    kind: str  # "user" | "oauth"
    subject: str  # username or integration id (as str)
    issued_at: float
    expires_at: float
    role_ids: tuple[str, ...] = ()  # oauth only: the granted api-role ids
    privileges_snapshot: frozenset[str] = frozenset()
    revoked: bool = False
    revoked_reason: str = ""


class Tenant:
    """All mutable state of one simulated Jamf Pro instance. Thread-safe."""

    def __init__(self, behaviour: Behaviour | None = None, clock: Clock | None = None, name: str = "sim"):
        self.name = name
        self.behaviour = behaviour or Behaviour()
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.sites: dict[str, str] = {}
        self.users: dict[str, User] = {}
        self.roles: dict[str, ApiRole] = {}
        self.integrations: dict[int, ApiIntegration] = {}
        self.tokens: dict[str, Token] = {}
        self.signing_key = secrets.token_bytes(64)
        self.request_log: list[dict] = []  # {"method","path","status","principal"} per HTTP request
        self._next_user_id = 1
        self._next_role_id = 1
        self._next_integration_id = 1
        self._next_site_id = 1

    # ------------------------------------------------------------------ sites / users
    def add_site(self, name: str) -> str:
        with self.lock:
            sid = str(self._next_site_id)
            self._next_site_id += 1
            self.sites[sid] = name
            return sid

    def add_user(self, username: str, password: str, *, privileges=(), **kw) -> User:
        with self.lock:
            if username in self.users:
                raise ValueError(f"user {username!r} exists")
            user = User(id=str(self._next_user_id), username=username, password=password,
                        privileges=frozenset(privileges), **kw)
            if user.privilege_set not in PRIVILEGE_SETS:
                raise ValueError(f"bad privilege_set {user.privilege_set!r}")
            self._next_user_id += 1
            self.users[username] = user
            return user

    def user_by_id(self, user_id: str) -> User | None:
        with self.lock:
            return next((u for u in self.users.values() if u.id == user_id), None)

    # ------------------------------------------------------------------ API roles
    def add_role(self, display_name: str, privileges) -> ApiRole:
        with self.lock:
            if self.role_by_name(display_name):
                raise JamfError(400, "DUPLICATE_FIELD", "displayName must be unique", "displayName")  # [I]
            role = ApiRole(id=str(self._next_role_id), display_name=display_name, privileges=list(privileges))
            self._next_role_id += 1
            self.roles[role.id] = role
            return role

    def role_by_name(self, display_name: str) -> ApiRole | None:
        with self.lock:
            return next((r for r in self.roles.values() if r.display_name == display_name), None)

    def update_role(self, role_id: str, *, display_name: str | None = None, privileges=None) -> ApiRole:
        """Editing a role's privileges needs no secret rotation [C] 2.2: tokens see it at once."""
        with self.lock:
            role = self._role(role_id)
            if display_name is not None and display_name != role.display_name:
                for integ in self.integrations.values():  # scopes are names: follow the rename
                    integ.authorization_scopes = [display_name if n == role.display_name else n
                                                  for n in integ.authorization_scopes]
                role.display_name = display_name
            if privileges is not None:
                role.privileges = list(privileges)
            return role

    def delete_role(self, role_id: str) -> None:
        with self.lock:
            role = self._role(role_id)
            if any(role.display_name in i.authorization_scopes for i in self.integrations.values()):
                raise JamfError(409, "ROLE_IN_USE", "Role in use by an Integration/Client")  # [C] text, [I] code
            del self.roles[role_id]

    def _role(self, role_id: str) -> ApiRole:
        role = self.roles.get(str(role_id))
        if role is None:
            raise JamfError(404, "NOT_FOUND", "API Role not found")  # [I] code
        return role

    # ------------------------------------------------------------------ API clients
    def add_integration(self, display_name: str, roles, *, enabled: bool = True,
                        access_token_lifetime_seconds: int | None = None, client_id: str | None = None,
                        client_secret: str | None = None, generate_secret: bool = True) -> ApiIntegration:
        with self.lock:
            roles = list(roles)
            self._check_role_names(roles)
            integ = ApiIntegration(
                id=self._next_integration_id,
                display_name=display_name,
                authorization_scopes=roles,
                enabled=enabled,
                access_token_lifetime_seconds=(access_token_lifetime_seconds
                                               if access_token_lifetime_seconds is not None
                                               else self.behaviour.default_access_token_lifetime_seconds),
            )
            if client_id:
                integ.client_id = client_id
            self._next_integration_id += 1
            self.integrations[integ.id] = integ
            if generate_secret:
                self._rotate(integ, client_secret, force=True)
            return integ

    def integration(self, integration_id) -> ApiIntegration:
        with self.lock:
            try:
                integ = self.integrations.get(int(integration_id))
            except (TypeError, ValueError):
                integ = None
            if integ is None:
                raise JamfError(404, "NOT_FOUND", "API Integration not found")  # [I] code
            return integ

    def integration_by_client_id(self, client_id: str) -> ApiIntegration | None:
        with self.lock:
            return next((i for i in self.integrations.values() if i.client_id == client_id), None)

    def update_integration(self, integration_id, *, display_name: str | None = None, roles=None,
                           enabled: bool | None = None, access_token_lifetime_seconds: int | None = None
                           ) -> ApiIntegration:
        """Changing ``roles`` (authorizationScopes) is NOT effective until rotate_client_secret
        [C] 2.2, unless Behaviour.role_assignment_change_requires_rotation is False."""
        with self.lock:
            integ = self.integration(integration_id)
            if display_name is not None:
                integ.display_name = display_name
            if roles is not None:
                roles = list(roles)
                self._check_role_names(roles)
                integ.authorization_scopes = roles
                if not self.behaviour.role_assignment_change_requires_rotation:
                    self._snapshot(integ)
            if enabled is not None:
                integ.enabled = enabled
                if not enabled and self.behaviour.disable_revokes_live_tokens:
                    self._revoke_client_tokens(integ, "client disabled")
            if access_token_lifetime_seconds is not None:
                integ.access_token_lifetime_seconds = int(access_token_lifetime_seconds)
            return integ

    def set_integration_roles(self, integration_id, roles) -> ApiIntegration:
        return self.update_integration(integration_id, roles=roles)

    def rotate_client_secret(self, integration_id, secret: str | None = None) -> tuple[str, str]:
        """POST /v1/api-integrations/{id}/client-credentials: new secret, old one dead [C]; the
        client's role snapshot is retaken so pending role changes take effect [C] 2.2."""
        with self.lock:
            integ = self.integration(integration_id)
            self._rotate(integ, secret)
            return integ.client_id, integ.client_secret

    def delete_integration(self, integration_id) -> None:
        with self.lock:
            integ = self.integration(integration_id)
            if self.behaviour.disable_revokes_live_tokens:
                self._revoke_client_tokens(integ, "client deleted")
            del self.integrations[integ.id]

    def pending_role_change(self, integration_id) -> bool:
        """True when the configured roles differ from what tokens get (rotation outstanding)."""
        with self.lock:
            integ = self.integration(integration_id)
            configured = {self.role_by_name(n).id for n in integ.authorization_scopes if self.role_by_name(n)}
            return configured != set(integ.effective_role_ids)

    def _rotate(self, integ: ApiIntegration, secret: str | None, force: bool = False) -> None:
        if not force and not integ.enabled and self.behaviour.rotation_requires_enabled_client:
            raise JamfError(400, "INVALID_FIELD", "Client credentials could not be created for this api integration")  # [T] rule, [I] body
        if self.behaviour.rotation_revokes_live_tokens:
            self._revoke_client_tokens(integ, "secret rotated")
        if self.behaviour.rotation_changes_client_id and integ.client_secret is not None:
            integ.client_id = str(uuid.uuid4())
        integ.client_secret = secret or secrets.token_urlsafe(48)
        self._snapshot(integ)

    def _snapshot(self, integ: ApiIntegration) -> None:
        ids = []
        for name in integ.authorization_scopes:
            role = self.role_by_name(name)
            if role is not None:
                ids.append(role.id)
        integ.effective_role_ids = tuple(ids)
        integ.role_privileges_snapshot = {rid: frozenset(self.roles[rid].privileges) for rid in ids}

    def _check_role_names(self, names) -> None:
        unknown = [n for n in names if self.role_by_name(n) is None]
        if unknown:
            raise JamfError(400, "INVALID_FIELD", f"Unknown API role(s): {', '.join(unknown)}", "authorizationScopes")  # [I]

    def _revoke_client_tokens(self, integ: ApiIntegration, reason: str) -> None:
        for tok in self.tokens.values():
            if tok.kind == "oauth" and tok.subject == str(integ.id):
                tok.revoked, tok.revoked_reason = True, reason

    # ------------------------------------------------------------------ tokens
    def login(self, username: str, password: str) -> Token:
        """POST /api/v1/auth/token with Basic auth (reference 1.1)."""
        b = self.behaviour
        with self.lock:
            user = self.users.get(username)
            if (user is None or not secrets.compare_digest(user.password.encode(), password.encode())
                    or not user.enabled or user.sso_only  # [C] SSO-only cannot get a token; [I] disabled
                    or (b.require_user_api_access_flag and not user.api_access)):
                if b.bad_login_body == "invalid_credentials":
                    raise JamfError(401, "INVALID_CREDENTIALS", "Unauthorized")  # [I]
                raise JamfError(401, None)  # [O] {"httpStatus":401,"errors":[]}
            if user.password_expired or user.force_password_change:
                raise JamfError(401, b.expired_password_code, "The password for this account has expired")  # [C] code, [I] text
            return self._issue_user_token(user)

    def _issue_user_token(self, user: User) -> Token:
        now = self.clock.now()
        exp = now + self.behaviour.user_token_lifetime_seconds
        tuuid = str(uuid.uuid4())
        claims = {  # spec example JWT claims [C] 1.1
            "authenticated-app": "GENERIC",
            "authentication-type": "JSS",
            "groups": [],
            "subject-type": "JSS_USER_ID",
            "token-uuid": tuuid,
            "ldap-server-id": -1,
            "sub": user.id,
            "exp": int(exp),
        }
        tok = Token(token=jwt.encode(claims, self.signing_key, algorithm="HS512"), uuid=tuuid, kind="user",
                    subject=user.username, issued_at=now, expires_at=exp)
        self.tokens[tok.token] = tok
        return tok

    def issue_client_token(self, client_id: str, client_secret: str, scope: str | None = None) -> Token | None:
        """POST /api/(v1/)oauth/token, grant_type=client_credentials (reference 1.5).
        Returns None when a disabled client gets the "empty_token" treatment."""
        b = self.behaviour
        with self.lock:
            integ = self.integration_by_client_id(client_id)
            if (integ is None or integ.client_secret is None
                    or not secrets.compare_digest(integ.client_secret.encode(), client_secret.encode())):
                raise OAuthError(b.invalid_client_status, "invalid_client", "Client authentication failed")
            if not integ.enabled:
                if b.disabled_client_token_response == "empty_token":
                    return None
                raise OAuthError(b.invalid_client_status, "invalid_client", "Client authentication failed")
            granted = list(integ.effective_role_ids)
            if scope is not None and scope.strip():
                wanted = scope.split()
                bad = [s for s in wanted if not s.startswith("api-role:") or s[len("api-role:"):] not in granted]
                if bad:
                    raise OAuthError(400, "invalid_scope", f"Requested scope is not assigned: {' '.join(bad)}")
                granted = [s[len("api-role:"):] for s in wanted]
            snapshot = frozenset(p for rid in granted for p in integ.role_privileges_snapshot.get(rid, ()))
            return self._mint_oauth(integ.client_id, str(integ.id), tuple(granted),
                                    integ.access_token_lifetime_seconds, snapshot)

    def _mint_oauth(self, client_id: str, subject: str, role_ids: tuple[str, ...], lifetime: int,
                    snapshot: frozenset[str]) -> Token:
        now = self.clock.now()
        tuuid = str(uuid.uuid4())
        claims = {  # decoded learn.jamf.com example [C] 1.5
            "sub": client_id,
            "aud": client_id,
            "nbf": int(now),
            "subject-type": "REGISTERED_CLIENT_ID",
            "authentication-type": "CLIENT_CREDENTIALS",
            "scope": [f"api-role:{rid}" for rid in role_ids],
            "iss": "http://jamf-pro-sim",
            "exp": int(now) + lifetime,
            "iat": int(now),
            "token-uuid": tuuid,
        }
        tok = Token(token=jwt.encode(claims, self.signing_key, algorithm="HS256"), uuid=tuuid, kind="oauth",
                    subject=subject, issued_at=now, expires_at=now + lifetime, role_ids=role_ids,
                    privileges_snapshot=snapshot)
        self.tokens[tok.token] = tok
        return tok

    def oauth_expires_in(self, tok: Token) -> int:
        lifetime = int(round(tok.expires_at - tok.issued_at))
        return lifetime - 1 if self.behaviour.oauth_expires_in_is_lifetime_minus_one else lifetime

    def authenticate(self, token: str | None) -> Token:
        """Validate a bearer token; 401 INVALID_TOKEN when missing/unknown/expired/revoked [O] 1.7."""
        with self.lock:
            tok = self.tokens.get(token or "")
            if tok is None or tok.revoked or self.clock.now() >= tok.expires_at:
                raise JamfError(401, self.behaviour.invalid_token_code, "Unauthorized")
            return tok

    def keep_alive(self, tok: Token) -> Token:
        b = self.behaviour
        with self.lock:
            if tok.kind == "oauth" and b.oauth_keep_alive == "reject":
                raise JamfError(401, b.invalid_token_code, "Unauthorized")
            if b.keep_alive_revokes_old_token:
                tok.revoked, tok.revoked_reason = True, "keep-alive"
            if tok.kind == "user":
                user = self.users.get(tok.subject)
                if user is None:
                    raise JamfError(401, b.invalid_token_code, "Unauthorized")
                return self._issue_user_token(user)
            # "renew" [U]: same client, same scopes, fresh lifetime
            integ = self.integrations.get(int(tok.subject))
            lifetime = integ.access_token_lifetime_seconds if integ else int(round(tok.expires_at - tok.issued_at))
            client_id = integ.client_id if integ else jwt.decode(tok.token, options={"verify_signature": False})["sub"]
            return self._mint_oauth(client_id, tok.subject, tok.role_ids, lifetime, tok.privileges_snapshot)

    def invalidate(self, tok: Token) -> None:
        b = self.behaviour
        with self.lock:
            if not b.invalidate_token_revokes:
                return
            if tok.kind == "oauth" and b.oauth_invalidate_token == "ignore":
                return
            tok.revoked, tok.revoked_reason = True, "invalidated"

    def expire(self, token: str) -> None:
        """Test helper: make one token expire now."""
        with self.lock:
            self.tokens[token].expires_at = self.clock.now() - 1

    # ------------------------------------------------------------------ authorization
    def effective_privileges(self, tok: Token) -> frozenset[str]:
        with self.lock:
            if tok.kind == "user":
                user = self.users.get(tok.subject)
                return user.effective_privileges() if user else frozenset()
            if self.behaviour.role_privilege_edit_requires_rotation:
                return tok.privileges_snapshot
            # resolved at request time from the token's role ids [T] 2.2
            return frozenset(p for rid in tok.role_ids if rid in self.roles for p in self.roles[rid].privileges)

    def satisfies(self, have: frozenset[str], required) -> bool:
        required = tuple(required)
        if not required:
            return True
        renames = self.behaviour.privilege_renames

        def ok(p: str) -> bool:
            return p in have or (p in renames and renames[p] in have)

        if self.behaviour.multi_privilege_rule == "any":
            return any(ok(p) for p in required)
        return all(ok(p) for p in required)

    def principal_of(self, tok: Token) -> str:
        return f"user:{tok.subject}" if tok.kind == "user" else f"client:{tok.subject}"


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
