"""A small resource API modelled on the Enclii PaaS API, with switchable authorization defects.

Correct behaviour follows RFC 6750 (bearer tokens, ``WWW-Authenticate`` challenges), RFC 9068
(JWT access tokens: issuer, audience, expiry) and RFC 8725 (an explicit algorithm allow-list, no
``none``, no HMAC with a public key). Each name in :data:`DEFECTS` switches off exactly one of those
rules at exactly one place in the code, marked ``# defect:``.

Nothing here ever logs, echoes or stores a token or an API key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEFECTS: frozenset[str] = frozenset(
    {
        "accept-alg-none",  # accepts unsigned tokens (alg none/None/NONE/nOnE/...)
        "skip-signature",  # accepts RS256/ES256/PS256 tokens without checking the signature
        "key-confusion",  # accepts HS256/384/512 tokens keyed with the provider's RSA public key
        "skip-exp",  # neither requires nor enforces exp
        "skip-nbf",  # ignores nbf
        "ignore-aud",  # ignores aud
        "any-issuer",  # ignores iss and trusts the keys of whatever issuer the token names
        "viewer-can-deploy",  # POST /v1/services/{name}/deploy needs only viewer
        "accept-revoked-key",  # revoked API keys still work
        "404-instead-of-403",  # insufficient permissions answered with 404
        "200-instead-of-403",  # insufficient permissions answered with 200 and an error body
        "no-www-authenticate",  # 401 and 403 carry no WWW-Authenticate challenge
        "query-token",  # accepts a bearer token in the access_token query parameter (RFC 6750 §2.3)
    }
)

ROLES: tuple[str, ...] = ("viewer", "developer", "admin", "owner")
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
ALLOWED_ALGS: frozenset[str] = frozenset({"RS256", "ES256", "PS256"})
HMAC_ALGS: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}
PRINCIPAL_CLAIMS: tuple[str, ...] = ("client_id", "azp", "sub")

RoleOf = Callable[[Mapping[str, Any]], "str | None"] | Mapping[str, Any]


@dataclass
class ApiConfig:
    """How the resource API checks credentials.

    ``role_of`` maps a token to a role: either a callable ``claims -> role | None`` or a dict looked up
    with the token's ``client_id``, then ``azp``, then ``sub`` claim (first hit wins). Entries of that
    dict whose value is itself a dict are API keys (``{key: {"scopes": [...], "revoked": bool}}``), the
    same shape as ``api_keys``, so both spellings work. ``jwks`` (a JWKS dict) may be given instead of,
    or in addition to, ``jwks_url`` (then it is the initial cache and the URL is used to refetch).
    """

    issuer: str
    jwks_url: str | None
    audience: str
    ca_pem: Path | None = None
    role_of: RoleOf = field(default_factory=dict)
    defects: set[str] = field(default_factory=set)
    api_keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    jwks: Mapping[str, Any] | None = None
    leeway: float = 30.0
    realm: str = "enclii"
    # Opaque (non-JWT) tokens are validated by RFC 7662 introspection: {"url", "client_id", "client_secret"}.
    # JWTs are always validated locally, so a revoked JWT stays valid here until its exp.
    introspection: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.defects = set(self.defects)
        unknown = self.defects - DEFECTS
        if unknown:
            raise ValueError(f"unknown defects: {sorted(unknown)}; known: {sorted(DEFECTS)}")
        if not self.jwks_url and self.jwks is None:
            raise ValueError("give jwks_url or jwks")
        if not self.audience:
            raise ValueError("audience is required")
        if '"' in self.realm or "\\" in self.realm:
            raise ValueError("realm must not contain quotes or backslashes")


@dataclass(frozen=True)
class Principal:
    kind: str  # "token" or "api_key"
    subject: str | None
    role: str | None
    scopes: frozenset[str]
    client_id: str | None = None


class InvalidToken(Exception):
    """The token is not acceptable; the message is safe to send back (it never quotes the token)."""


class KeysUnavailable(Exception):
    """The provider's JWKS could not be fetched and nothing is cached."""


class _AuthError(Exception):
    def __init__(self, status: int, error: str | None, description: str | None):
        super().__init__(description or error or "")
        self.status = status
        self.error = error
        self.description = description


# ---------------------------------------------------------------------------------------------------
# token parsing and verification


def _b64url_decode(part: str) -> bytes:
    if not part:
        return b""
    if "=" in part:
        raise ValueError("padding in base64url")
    return base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidToken("malformed token")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ssl_context(ca_pem: Path | None) -> ssl.SSLContext:
    if ca_pem is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(ca_pem))


async def _fetch_json(url: str, ctx: ssl.SSLContext) -> dict[str, Any]:
    async with httpx.AsyncClient(verify=ctx, timeout=5.0, follow_redirects=False) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


class _JwksCache:
    def __init__(self, url: str | None, initial: Mapping[str, Any] | None, ctx: ssl.SSLContext):
        self._url = url
        self._jwks: dict[str, Any] | None = dict(initial) if initial is not None else None
        self._ctx = ctx
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, refresh: bool = False) -> dict[str, Any]:
        if self._url is None:
            return self._jwks or {"keys": []}
        if self._jwks is not None and not refresh:
            return self._jwks
        async with self._lock:
            try:
                self.fetches += 1
                jwks = await _fetch_json(self._url, self._ctx)
            except (httpx.HTTPError, ValueError):
                if self._jwks is None:
                    raise KeysUnavailable("the provider's JWKS could not be fetched") from None
                return self._jwks  # keep serving from the cache
            self._jwks = jwks
            return jwks


def _keys(jwks: Mapping[str, Any], kid: Any) -> list[dict[str, Any]]:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return []
    out = []
    for key in keys:
        if not isinstance(key, dict) or key.get("use", "sig") != "sig":
            continue
        if kid is not None and key.get("kid") != kid:
            continue
        out.append(key)
    return out


def _key_object(jwk: Mapping[str, Any], alg: str) -> Any | None:
    """The public key for ``alg`` from ``jwk``, or None if the key may not be used with ``alg``."""
    if jwk.get("alg") not in (None, alg):  # RFC 8725 §3.1: a key is bound to one algorithm
        return None
    kty = jwk.get("kty")
    if alg.startswith(("RS", "PS")) and kty != "RSA":
        return None
    if alg == "ES256" and (kty != "EC" or jwk.get("crv") != "P-256"):
        return None
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None


def _public_key_secrets(jwk: Mapping[str, Any]) -> list[bytes]:
    """The byte strings a careless server might use as an HMAC secret given an RSA public key."""
    try:
        public = RSAAlgorithm.from_jwk(dict(jwk))
        if not hasattr(public, "public_bytes"):
            return []
        spki = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return []
    secrets = [spki, spki.rstrip(b"\n"), pkcs1, pkcs1.rstrip(b"\n"), der]
    for sort_keys in (False, True):
        for separators in (None, (",", ":")):
            secrets.append(json.dumps(dict(jwk), sort_keys=sort_keys, separators=separators).encode())
    return secrets


class TokenVerifier:
    def __init__(self, config: ApiConfig):
        self.config = config
        self._ctx = _ssl_context(config.ca_pem)
        self.jwks = _JwksCache(config.jwks_url, config.jwks, self._ctx)
        self._issuer_jwks: dict[str, dict[str, Any]] = {}

    async def verify(self, token: str) -> dict[str, Any]:
        if self.config.introspection is not None and token.count(".") != 2:
            payload = await self._introspect(token)
            self._validate_claims(payload)
            return payload
        header, payload, signing_input, signature = _split(token)
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise InvalidToken("missing algorithm")
        if "crit" in header:  # RFC 7515 §4.1.11: no extensions are understood here
            raise InvalidToken("unsupported critical header parameters")
        defects = self.config.defects
        if alg.lower() == "none":
            if "accept-alg-none" not in defects:  # defect: accept-alg-none
                raise InvalidToken("unsigned tokens are not accepted")
        elif alg in ALLOWED_ALGS:
            if "skip-signature" not in defects:  # defect: skip-signature
                await self._verify_signature(header, payload, alg, signing_input, signature)
        elif alg in HMAC_ALGS and "key-confusion" in defects:  # defect: key-confusion
            await self._verify_hmac_with_public_key(header, payload, alg, signing_input, signature)
        else:
            raise InvalidToken("algorithm not allowed")
        self._validate_claims(payload)
        return payload

    async def _introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2: the provider says whether the token is active (revoked ones are not)."""
        settings = self.config.introspection or {}
        try:
            async with httpx.AsyncClient(verify=self._ctx, timeout=5.0) as client:
                response = await client.post(settings["url"], data={"token": token, "token_type_hint": "access_token"},
                                             auth=(settings["client_id"], settings["client_secret"]))
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            raise InvalidToken("introspection failed") from None
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise InvalidToken("token is not active")
        # oidc-provider leaves iss out of introspection answers; the introspecting provider is the issuer
        return {"iss": self.config.issuer, **answer}

    async def _candidate_keys(self, kid: Any, iss: Any) -> list[dict[str, Any]]:
        keys = _keys(await self.jwks.get(), kid)
        if not keys and kid is not None:  # unknown kid: the provider may have rotated its keys
            keys = _keys(await self.jwks.get(refresh=True), kid)
        if "any-issuer" in self.config.defects and iss != self.config.issuer:  # defect: any-issuer
            keys = keys + _keys(await self._jwks_of_issuer(iss), kid)
        return keys

    async def _jwks_of_issuer(self, iss: Any) -> dict[str, Any]:
        """Only reached with the any-issuer defect: discover the keys of whoever the token names."""
        if not isinstance(iss, str) or not iss.startswith("https://"):
            return {"keys": []}
        if iss not in self._issuer_jwks:
            try:
                meta = await _fetch_json(iss.rstrip("/") + "/.well-known/openid-configuration", self._ctx)
                jwks_uri = meta.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise ValueError("no jwks_uri")
                self._issuer_jwks[iss] = await _fetch_json(jwks_uri, self._ctx)
            except (httpx.HTTPError, ValueError):
                return {"keys": []}
        return self._issuer_jwks[iss]

    async def _verify_signature(
        self, header: dict[str, Any], payload: dict[str, Any], alg: str, signing_input: bytes, signature: bytes
    ) -> None:
        algorithm = jwt.get_algorithm_by_name(alg)
        for jwk in await self._candidate_keys(header.get("kid"), payload.get("iss")):
            key = _key_object(jwk, alg)
            if key is None:
                continue
            try:
                if algorithm.verify(signing_input, key, signature):
                    return
            except Exception:  # a malformed signature for this key type
                continue
        raise InvalidToken("signature verification failed")

    async def _verify_hmac_with_public_key(
        self, header: dict[str, Any], payload: dict[str, Any], alg: str, signing_input: bytes, signature: bytes
    ) -> None:
        digest = HMAC_ALGS[alg]
        for jwk in await self._candidate_keys(header.get("kid"), payload.get("iss")):
            if jwk.get("kty") != "RSA":
                continue
            for secret in _public_key_secrets(jwk):
                if hmac.compare_digest(hmac.new(secret, signing_input, digest).digest(), signature):
                    return
        raise InvalidToken("signature verification failed")

    def _validate_claims(self, payload: dict[str, Any]) -> None:
        config, defects = self.config, self.config.defects
        now, leeway = time.time(), config.leeway
        if "any-issuer" not in defects:  # defect: any-issuer
            if payload.get("iss") != config.issuer:
                raise InvalidToken("wrong issuer")
        if "ignore-aud" not in defects:  # defect: ignore-aud
            aud = payload.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if config.audience not in [a for a in audiences if isinstance(a, str)]:
                raise InvalidToken("wrong audience")
        if "skip-exp" not in defects:  # defect: skip-exp
            exp = payload.get("exp")
            if not _is_number(exp):
                raise InvalidToken("exp is required")
            if now > exp + leeway:
                raise InvalidToken("token expired")
        if "skip-nbf" not in defects:  # defect: skip-nbf
            nbf = payload.get("nbf")
            if nbf is not None and (not _is_number(nbf) or now + leeway < nbf):
                raise InvalidToken("token not yet valid")


# ---------------------------------------------------------------------------------------------------
# the application


@dataclass
class ApiState:
    """What the API did, for tests to look at (never holds credentials)."""

    deployments: list[tuple[str, str | None]] = field(default_factory=list)
    deleted: list[tuple[str, str | None]] = field(default_factory=list)
    # requests that carried no credential at all (no Authorization, no X-API-Key, no access_token), by "METHOD /path"
    without_credential: Counter[str] = field(default_factory=Counter)


SERVICES = ["demo", "web", "worker"]


class ResourceApp:
    def __init__(self, config: ApiConfig):
        self.config = config
        self.verifier = TokenVerifier(config)
        self.state = ApiState()
        role_of = config.role_of
        keys: dict[str, Mapping[str, Any]] = {}
        if isinstance(role_of, Mapping):
            keys.update({k: v for k, v in role_of.items() if isinstance(v, Mapping)})
        keys.update(config.api_keys)
        self._api_keys = keys
        deploy_role = "viewer" if "viewer-can-deploy" in config.defects else "developer"  # defect: viewer-can-deploy
        guard = self._guard
        self.asgi = Starlette(
            routes=[
                Route("/v1/users/me", guard(self.users_me, "viewer", "read"), methods=["GET"]),
                Route("/v1/services", guard(self.list_services, "viewer"), methods=["GET"]),
                Route("/v1/services/{name}/deploy", guard(self.deploy, deploy_role, "deploy"), methods=["POST"]),
                Route("/v1/services/{name}", guard(self.delete_service, "admin"), methods=["DELETE"]),
                Route("/v1/orgs/{org}/members", guard(self.members, "admin"), methods=["GET"]),
            ]
        )

    # -- authentication -----------------------------------------------------------------------------

    def _challenge(self, error: str | None = None, description: str | None = None) -> dict[str, str]:
        if "no-www-authenticate" in self.config.defects:  # defect: no-www-authenticate
            return {}
        params = [f'realm="{self.config.realm}"']
        if error:
            params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{description}"')
        return {"WWW-Authenticate": "Bearer " + ", ".join(params)}

    def _role_for(self, claims: Mapping[str, Any]) -> str | None:
        role_of = self.config.role_of
        role: Any = None
        if callable(role_of):
            role = role_of(claims)
        else:
            for claim in PRINCIPAL_CLAIMS:
                value = claims.get(claim)
                if isinstance(value, str) and isinstance(role_of.get(value), str):
                    role = role_of[value]
                    break
        return role if role in ROLE_RANK else None

    async def authenticate(self, request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        if authorization is None and "x-api-key" not in request.headers and "access_token" not in request.query_params:
            self.state.without_credential[f"{request.method} {request.url.path}"] += 1
        if authorization is None and "query-token" in self.config.defects:  # defect: query-token
            query_token = request.query_params.get("access_token")
            authorization = f"Bearer {query_token}" if query_token else None
        if authorization is not None:
            scheme, _, rest = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":  # RFC 7235 §2.1: the scheme is case-insensitive
                token = rest.strip()
                if not token or any(c.isspace() for c in token):
                    raise _AuthError(400, "invalid_request", "malformed Authorization header")
                try:
                    claims = await self.verifier.verify(token)
                except InvalidToken as exc:
                    raise _AuthError(401, "invalid_token", str(exc)) from None
                client_id = claims.get("client_id", claims.get("azp"))
                sub = claims.get("sub")
                scope = claims.get("scope")
                return Principal(
                    kind="token",
                    subject=sub if isinstance(sub, str) else None,
                    role=self._role_for(claims),
                    scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
                    client_id=client_id if isinstance(client_id, str) else None,
                )
            # another scheme (Basic, ...) is not a credential this API understands: fall through
        api_key = request.headers.get("x-api-key")
        if api_key is not None:
            entry = self._api_keys.get(api_key)
            if entry is None:
                raise _AuthError(401, None, "invalid API key")
            if entry.get("revoked") and "accept-revoked-key" not in self.config.defects:  # defect: accept-revoked-key
                raise _AuthError(401, None, "invalid API key")  # same answer as unknown
            scopes = entry.get("scopes") or []
            name = entry.get("name")
            return Principal(
                kind="api_key",
                subject=name if isinstance(name, str) else None,
                role=None,
                scopes=frozenset(s for s in scopes if isinstance(s, str)),
            )
        raise _AuthError(401, None, None)  # RFC 6750 §3.1: no error code when no credential was sent

    # -- authorization ------------------------------------------------------------------------------

    def _forbidden(self, principal: Principal) -> Response:
        defects = self.config.defects
        if "404-instead-of-403" in defects:  # defect: 404-instead-of-403
            return JSONResponse({"error": "not_found"}, status_code=404)
        if "200-instead-of-403" in defects:  # defect: 200-instead-of-403 (refuses, but says 200)
            return JSONResponse({"error": "forbidden", "error_description": "insufficient permissions"})
        if principal.kind == "token":
            headers = self._challenge("insufficient_scope", "insufficient role for this request")
            return JSONResponse({"error": "insufficient_scope"}, status_code=403, headers=headers)
        return JSONResponse({"error": "forbidden", "error_description": "API key lacks the scope"}, status_code=403)

    @staticmethod
    def _allowed(principal: Principal, min_role: str, key_scope: str | None) -> bool:
        if principal.kind == "api_key":
            return key_scope is not None and key_scope in principal.scopes
        return principal.role is not None and ROLE_RANK[principal.role] >= ROLE_RANK[min_role]

    def _guard(self, endpoint: Callable[..., Any], min_role: str, key_scope: str | None = None):
        async def guarded(request: Request) -> Response:
            try:
                principal = await self.authenticate(request)
            except _AuthError as exc:
                body = {"error": exc.error or "unauthorized"}
                if exc.description:
                    body["error_description"] = exc.description
                headers = self._challenge(exc.error, exc.description if exc.error else None)
                return JSONResponse(body, status_code=exc.status, headers=headers)
            except KeysUnavailable as exc:
                return JSONResponse({"error": "temporarily_unavailable", "error_description": str(exc)}, 503)
            if not self._allowed(principal, min_role, key_scope):
                return self._forbidden(principal)
            return await endpoint(request, principal)

        return guarded

    # -- endpoints ----------------------------------------------------------------------------------

    async def users_me(self, request: Request, principal: Principal) -> Response:
        if principal.kind == "api_key":
            return JSONResponse({"auth": "api_key", "name": principal.subject, "scopes": sorted(principal.scopes)})
        return JSONResponse(
            {"auth": "bearer", "sub": principal.subject, "client_id": principal.client_id, "role": principal.role}
        )

    async def list_services(self, request: Request, principal: Principal) -> Response:
        return JSONResponse({"services": [{"name": name} for name in SERVICES]})

    async def deploy(self, request: Request, principal: Principal) -> Response:
        name = request.path_params["name"]
        self.state.deployments.append((name, principal.subject))
        return JSONResponse(
            {"service": name, "deployment": f"dep-{len(self.state.deployments)}", "status": "queued"},
            status_code=202,
        )

    async def delete_service(self, request: Request, principal: Principal) -> Response:
        name = request.path_params["name"]
        self.state.deleted.append((name, principal.subject))
        return Response(status_code=204)

    async def members(self, request: Request, principal: Principal) -> Response:
        org = request.path_params["org"]
        return JSONResponse({"org": org, "members": [{"name": "ana", "role": "owner"}, {"name": "bo", "role": "viewer"}]})
