"""HTTPS front end of the Jamf Pro simulator (stdlib ThreadingHTTPServer + ssl, 127.0.0.1 only).

Routing: every ``METHOD /api/...`` of the 11.7.1 endpoint map (plus the two OAuth token paths and
the legacy ``POST /api/auth/tokens``) is known. For each request the simulator

1. authenticates the bearer token unless the spec says ``x-authentication-required: false``
   -> 401 ApiError ``INVALID_TOKEN`` [O] 1.7;
2. checks the token's effective privileges against ``x-required-privileges``
   -> 403 ApiError (code per Behaviour.forbidden_error_code, [U]) [C] 1.7;
3. answers with a real handler (auth, api-roles, api-integrations, ...) or with a small filler
   JSON body for every other endpoint.

Classic API (``/JSSResource/...``) answers HTML error pages [O] 1.7 and XML/JSON bodies.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import trustme

from tests.tls_certs import issue_leaf, server_context

from .catalogue import CLASSIC_SINGULAR, match_route, privilege_catalogue
from .tenant import JamfError, OAuthError, Tenant, Token, iso_ms

JSON_CT = "application/json;charset=UTF-8"

# Classic API error pages [O] 1.7 (jamf/ReEnroller #15, python-jss #21, jamf/mut #88/#105).
_CLASSIC_PAGE = (
    "<html>\n<head>\n   <title>Status page</title>\n</head>\n<body style=\"font-family: sans-serif;\">\n"
    "<p style=\"font-size: 1.2em;font-weight: bold;margin: 1em 0px;\">{title}</p>\n"
    "<p>{text}</p>\n<p>You can get technical details <a href=\"http://www.w3.org/Protocols/rfc2616/"
    "rfc2616-sec10.html#sec10.{section}\">here</a>.<br>\nPlease continue your visit at our "
    "<a href=\"/\">home page</a>.\n</p>\n</body>\n</html>\n"
)
CLASSIC_401 = _CLASSIC_PAGE.format(title="Unauthorized", text="The request requires user authentication",
                                   section="4.2")
CLASSIC_403 = _CLASSIC_PAGE.format(title="Forbidden",
                                   text="The server understood the request, but is refusing to fulfill it",
                                   section="4.4")
CLASSIC_404 = _CLASSIC_PAGE.format(title="Not Found",  # [I] same page family
                                   text="The server has not found anything matching the request URI",
                                   section="4.5")


class _Reply(Exception):
    def __init__(self, status: int, body=None, content_type: str = JSON_CT, headers: dict | None = None):
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


# ---------------------------------------------------------------------- paging / RSQL
def _split_top(s: str, seps: str) -> list[tuple[str, str]]:
    """Split an RSQL string on separators outside quotes/parentheses -> [(sep_before, part)]."""
    out, cur, depth, quote, prev = [], "", 0, None, ""
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote, cur = ch, cur + ch
        elif ch == "(":
            depth, cur = depth + 1, cur + ch
        elif ch == ")":
            depth, cur = depth - 1, cur + ch
        elif ch in seps and depth == 0:
            out.append((prev, cur))
            cur, prev = "", ch
        else:
            cur += ch
    out.append((prev, cur))
    return out


_CLAUSE = re.compile(r"^\s*([\w.]+)\s*(==|!=|=in=|=out=|<=|>=|<|>)\s*(.*?)\s*$")


def _unq(v: str) -> str:
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'" else v


def _rsql_clause(item: dict, clause: str, fields: set[str]) -> bool:
    m = _CLAUSE.match(clause)
    if not m or m.group(1) not in fields:
        raise JamfError(400, "INVALID_FILTER", f"Invalid filter: {clause}", "filter")  # [I]
    key, op, raw = m.groups()
    val = str(item.get(key))
    if op in ("=in=", "=out="):
        opts = [_unq(x.strip()) for x in raw.strip("()").split(",")]
        return (val in opts) == (op == "=in=")
    want = _unq(raw)
    if op in ("==", "!="):
        hit = fnmatch.fnmatchcase(val, want) if "*" in want else val == want
        return hit == (op == "==")
    a, b = (int(val), int(want)) if val.isdigit() and want.isdigit() else (val, want)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def rsql_match(item: dict, expr: str, fields: set[str]) -> bool:
    """Subset of RSQL used by SDKs [T] 0: == != < <= > >= =in= =out=, ';' AND, ',' OR."""
    if not expr.strip():
        return True
    for _, or_part in _split_top(expr, ","):
        if all(_rsql_clause(item, c, fields) for _, c in _split_top(or_part, ";")):
            return True
    return False


def paged(items: list[dict], query: dict, fields: set[str], max_page_size: int) -> dict:
    """``{totalCount, results}`` with page (0-based), page-size (default 100; deprecated aliases
    pagesize/size), sort (default id:asc), filter [C] 0."""

    def q1(*names, default=None):
        for n in names:
            if n in query:
                return query[n][0]
        return default

    try:
        page = int(q1("page", default="0"))
        size = int(q1("page-size", "pagesize", "size", default="100"))
    except ValueError:
        raise JamfError(400, "INVALID_FIELD", "page and page-size must be integers", "page")  # [I]
    size = max(1, min(size, max_page_size))  # [I] clamp
    flt = q1("filter", default="")
    items = [i for i in items if rsql_match(i, flt, fields)]
    sorts = [s for v in query.get("sort", ["id:asc"]) for s in v.split(",") if s]
    for spec in reversed(sorts):
        fld, _, direction = spec.partition(":")
        if fld not in fields:
            raise JamfError(400, "INVALID_FIELD", f"Invalid sort field: {fld}", "sort")  # [I]

        def key(i, fld=fld):
            v = i.get(fld)
            return (0, int(v), "") if str(v).isdigit() else (1, 0, str(v))

        items.sort(key=key, reverse=direction.lower() == "desc")
    return {"totalCount": len(items), "results": items[page * size:(page + 1) * size]}


# ---------------------------------------------------------------------- the handler
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate TLS records
    server_version = "JamfProSim/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # quiet
        pass

    @property
    def tenant(self) -> Tenant:
        return self.server.sim.tenant

    def date_time_string(self, timestamp=None):
        # the Date header is the server's clock: the tenant's, which tests can set ahead or behind
        return super().date_time_string(self.tenant.clock.now() if timestamp is None else timestamp)

    # every method goes to the same dispatcher
    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _dispatch(self):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._principal = ""
        try:
            if path.startswith("/JSSResource/") or path == "/JSSResource":
                self._classic(path, query)
            elif path.startswith("/api/"):
                self._pro(path, query, body)
            else:
                raise _Reply(404, CLASSIC_404, "text/html;charset=UTF-8")
            raise _Reply(500, {"error": "handler returned no reply"})
        except _Reply as r:
            reply = r
        except JamfError as e:
            reply = _Reply(e.status, e.body())
        except OAuthError as e:
            reply = _Reply(e.status, e.body(), headers={"Cache-Control": "no-store"})
        except Exception as e:  # a simulator bug: answer 500 rather than dropping the connection
            reply = _Reply(500, JamfError(500, "SIMULATOR_ERROR", f"{type(e).__name__}: {e}").body())
        with self.tenant.lock:  # log before replying so a client sees its own request logged
            self.tenant.request_log.append(
                {"method": self.command, "path": path, "status": reply.status, "principal": self._principal})
        self._send(reply)

    def _send(self, r: _Reply):
        if r.body is None:
            data = b""
        elif isinstance(r.body, (bytes, str)):
            data = r.body.encode() if isinstance(r.body, str) else r.body
        elif self.tenant.behaviour.pretty_json:
            data = json.dumps(r.body, indent=2, separators=(",", " : ")).encode()  # [O] " : "
        else:
            data = json.dumps(r.body).encode()
        self.send_response(r.status)
        if r.status != 204:
            self.send_header("Content-Type", r.content_type)
        for k, v in r.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    # ------------------------------------------------------------------ auth helpers
    def _auth_header(self) -> tuple[str, str]:
        raw = self.headers.get("Authorization") or ""
        scheme, _, cred = raw.strip().partition(" ")
        return scheme.lower(), cred.strip()

    def _basic_creds(self) -> tuple[str, str] | None:
        scheme, cred = self._auth_header()
        if scheme != "basic":
            return None
        try:
            user, _, pw = base64.b64decode(cred, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, pw

    def _bearer(self) -> Token:
        scheme, cred = self._auth_header()
        tok = self.tenant.authenticate(cred if scheme == "bearer" else None)
        self._principal = self.tenant.principal_of(tok)
        return tok

    def _forbidden(self):
        b = self.tenant.behaviour
        raise JamfError(403, b.forbidden_error_code, b.forbidden_error_description)

    # ------------------------------------------------------------------ Jamf Pro API
    def _pro(self, path: str, query: dict, body: bytes) -> None:
        t, b = self.tenant, self.tenant.behaviour
        method = "GET" if self.command == "HEAD" else self.command
        route, params, known = match_route(method, path)
        if route is not None and route.template in _LEGACY and not b.serve_legacy_auth_endpoints:
            route, known = None, False
        if route is None:
            if known:
                raise JamfError(405, "METHOD_NOT_ALLOWED", f"Request method '{method}' is not supported")  # [I]
            self._bearer()  # unknown path: authenticate first, then 404 [I]
            raise JamfError(404, "NOT_FOUND", "Resource not found")
        key = route.key
        if key in _NO_BEARER:
            return _NO_BEARER[key](self, query, body)
        tok = self._bearer() if route.authentication_required else None
        if tok is not None and not t.satisfies(t.effective_privileges(tok), route.required_privileges):
            self._forbidden()
        handler = _HANDLERS.get(key)
        if handler is not None:
            handler(self, tok, params, query, body)
        self._filler(route, params)

    def _json_body(self, body: bytes) -> dict:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise JamfError(400, "INVALID_JSON", "Request body is not valid JSON")  # [I]
        if not isinstance(data, dict):
            raise JamfError(400, "INVALID_JSON", "Request body must be an object")
        return data

    # --- token endpoints ------------------------------------------------------------------
    def _token_v1(self, query, body, legacy=False):
        creds = self._basic_creds()
        if creds is None:
            raise JamfError(401, None)  # [O] empty errors
        tok = self.tenant.login(*creds)
        self._principal = self.tenant.principal_of(tok)
        raise _Reply(200, self._token_body(tok, legacy))

    def _token_body(self, tok: Token, legacy: bool) -> dict:
        if legacy:  # [C] 1.6: old AuthToken.expires was epoch milliseconds
            return {"token": tok.token, "expires": int(tok.expires_at * 1000)}
        return {"token": tok.token, "expires": iso_ms(tok.expires_at)}

    def _oauth_token(self, query, body):
        b = self.tenant.behaviour
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) \
            if ctype == "application/x-www-form-urlencoded" else {}
        f = {k: v[0] for k, v in form.items()}
        if b.oauth_accept_client_secret_basic and "client_id" not in f:
            creds = self._basic_creds()
            if creds:
                f["client_id"], f["client_secret"] = creds
        if not f.get("grant_type"):
            raise OAuthError(400, "invalid_request", "Missing grant_type")
        if f["grant_type"] != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {f['grant_type']}")
        if not f.get("client_id") or not f.get("client_secret"):
            raise OAuthError(400, "invalid_request", "Missing client_id or client_secret")
        tok = self.tenant.issue_client_token(f["client_id"], f["client_secret"], f.get("scope"))
        hdr = {"Cache-Control": "no-store"}
        if tok is None:  # disabled client, "empty_token" variant [U]
            raise _Reply(200, {"access_token": "", "scope": "", "token_type": "Bearer", "expires_in": 0}, headers=hdr)
        raise _Reply(200, {
            "access_token": tok.token,
            "scope": " ".join(f"api-role:{rid}" for rid in tok.role_ids),  # always present [C] 5.5
            "token_type": "Bearer",
            "expires_in": self.tenant.oauth_expires_in(tok),
        }, headers=hdr)

    def _keep_alive(self, tok, params, query, body, legacy=False):
        raise _Reply(200, self._token_body(self.tenant.keep_alive(tok), legacy))

    def _invalidate(self, tok, params, query, body):
        self.tenant.invalidate(tok)
        raise _Reply(204)

    def _auth_view(self, tok: Token, legacy: bool = False) -> dict:
        t, b = self.tenant, self.tenant.behaviour
        with t.lock:
            if tok.kind == "user":
                user = t.users[tok.subject]
                privs = sorted(user.effective_privileges())
                site_key = b.full_access_site_key if user.site_id is None else user.site_id
                sites = [{"id": user.site_id, "name": t.sites.get(user.site_id, "")}] if user.site_id else \
                    [{"id": sid, "name": name} for sid, name in t.sites.items()]
                account = {
                    "id": user.id, "username": user.username, "realName": user.real_name, "email": user.email,
                    "preferences": {"language": "en", "dateFormat": "MM/dd/yyyy", "region": "Europe",
                                    "timezone": "Etc/GMT", "disableRelativeDates": False},
                    "multiSiteAdmin": user.site_id is None and bool(t.sites),
                    "accessLevel": user.access_level,
                    "privilegeSet": user.privilege_set,
                    "privilegesBySite": {site_key: privs},
                    "groupIds": [],
                    "currentSiteId": site_key,
                }
                view = {"account": account, "accountGroups": [], "sites": sites, "authenticationType": "JSS"}
            else:  # [U] 1.4: shape for client-credentials tokens
                integ = t.integrations.get(int(tok.subject))
                privs = sorted(t.effective_privileges(tok)) if b.v1_auth_for_client_credentials == "with_privileges" else []
                account = {
                    "id": tok.subject, "username": integ.display_name if integ else "",
                    "realName": "", "email": "", "multiSiteAdmin": False, "accessLevel": "FullAccess",
                    "privilegeSet": "CUSTOM", "privilegesBySite": {b.full_access_site_key: privs} if privs else {},
                    "groupIds": [], "currentSiteId": b.full_access_site_key,
                }
                view = {"account": account, "accountGroups": [], "sites": [],
                        "authenticationType": "CLIENT_CREDENTIALS"}
        if legacy:  # [C] 1.4: deprecated /api/auth uses integers and isMultiSiteAdmin
            acc = view["account"]
            acc["isMultiSiteAdmin"] = acc.pop("multiSiteAdmin")
            acc["id"] = int(acc["id"])
            acc["currentSiteId"] = int(acc["currentSiteId"])
            acc["groupIds"] = [int(g) for g in acc["groupIds"]]
            view["sites"] = [{"id": int(s["id"]), "name": s["name"]} for s in view["sites"]]
        return view

    def _get_auth(self, tok, params, query, body):
        raise _Reply(200, self._auth_view(tok))

    def _get_auth_legacy(self, tok, params, query, body):
        raise _Reply(200, self._auth_view(tok, legacy=True))

    # --- version ----------------------------------------------------------------------------
    def _version(self, tok, params, query, body):
        raise _Reply(200, {"version": self.tenant.behaviour.jamf_pro_version})

    # --- API roles --------------------------------------------------------------------------
    def _roles_list(self, tok, params, query, body):
        with self.tenant.lock:
            items = [r.to_json() for r in self.tenant.roles.values()]
        raise _Reply(200, paged(items, query, {"id", "displayName"}, self.tenant.behaviour.max_page_size))

    def _role_get(self, tok, params, query, body):
        with self.tenant.lock:
            raise _Reply(200, self.tenant._role(params["id"]).to_json())

    def _validate_privileges(self, privs) -> list[str]:
        if not isinstance(privs, list) or not all(isinstance(p, str) for p in privs):
            raise JamfError(400, "INVALID_FIELD", "privileges must be a list of strings", "privileges")
        cat = set(privilege_catalogue())
        bad = [p for p in privs if p not in cat]
        if bad:  # names are case-sensitive [T] 2.3; rejection body is [I]
            raise JamfError(400, "INVALID_PRIVILEGE", f"Invalid privileges: {', '.join(bad)}", "privileges")
        return privs

    def _role_create(self, tok, params, query, body):
        data = self._json_body(body)
        if not data.get("displayName"):
            raise JamfError(400, "INVALID_FIELD", "displayName is required", "displayName")
        role = self.tenant.add_role(data["displayName"], self._validate_privileges(data.get("privileges", [])))
        raise _Reply(200, role.to_json())  # [C] 2.1: create answers 200, not 201

    def _role_put(self, tok, params, query, body):
        data = self._json_body(body)
        privs = self._validate_privileges(data["privileges"]) if "privileges" in data else None
        role = self.tenant.update_role(params["id"], display_name=data.get("displayName"), privileges=privs)
        raise _Reply(200, role.to_json())

    def _role_delete(self, tok, params, query, body):
        self.tenant.delete_role(params["id"])
        raise _Reply(204)

    def _role_privileges(self, tok, params, query, body):
        raise _Reply(200, {"privileges": sorted(privilege_catalogue())})

    def _role_privileges_search(self, tok, params, query, body):
        name = (query.get("name") or [""])[0]
        try:
            limit = int((query.get("limit") or ["15"])[0])
        except ValueError:
            limit = 15
        hits = [p for p in sorted(privilege_catalogue()) if name.lower() in p.lower()]
        raise _Reply(200, {"privileges": hits[:limit]})

    # --- API integrations -------------------------------------------------------------------
    def _integrations_list(self, tok, params, query, body):
        with self.tenant.lock:
            items = [i.to_json() for i in self.tenant.integrations.values()]
        raise _Reply(200, paged(items, query, {"id", "displayName"}, self.tenant.behaviour.max_page_size))

    def _integration_get(self, tok, params, query, body):
        with self.tenant.lock:
            raise _Reply(200, self.tenant.integration(params["id"]).to_json())

    def _integration_create(self, tok, params, query, body):
        data = self._json_body(body)
        scopes = data.get("authorizationScopes")
        if not data.get("displayName") or not isinstance(scopes, list):
            raise JamfError(400, "INVALID_FIELD", "displayName and authorizationScopes are required")
        integ = self.tenant.add_integration(
            data["displayName"], scopes, enabled=bool(data.get("enabled", True)),
            access_token_lifetime_seconds=data.get("accessTokenLifetimeSeconds"), generate_secret=False)
        raise _Reply(201, integ.to_json())  # [C] 2.2: 201, appType NONE until credentials are created

    def _integration_put(self, tok, params, query, body):
        data = self._json_body(body)
        integ = self.tenant.update_integration(
            params["id"], display_name=data.get("displayName"), roles=data.get("authorizationScopes"),
            enabled=data.get("enabled"), access_token_lifetime_seconds=data.get("accessTokenLifetimeSeconds"))
        raise _Reply(200, integ.to_json())

    def _integration_delete(self, tok, params, query, body):
        self.tenant.delete_integration(params["id"])
        raise _Reply(204)

    def _client_credentials(self, tok, params, query, body):
        client_id, secret = self.tenant.rotate_client_secret(params["id"])
        raise _Reply(200, {"clientId": client_id, "clientSecret": secret})

    # --- filler for every other endpoint ------------------------------------------------------
    def _computers_inventory(self, tok, params, query, body):
        # shape of the teleport "real example" [O] 4: unrequested sections are null
        sections = {s.upper() for v in query.get("section", ["GENERAL"]) for s in v.split(",")}
        rec = {"id": "1", "udid": "00000000-0000-0000-0000-000000000001",
               "general": {"name": "sim-mac-1", "platform": "Mac"} if "GENERAL" in sections else None,
               "hardware": {"serialNumber": "C02SIM00001"} if "HARDWARE" in sections else None,
               "operatingSystem": {"version": "15.1"} if "OPERATING_SYSTEM" in sections else None}
        raise _Reply(200, {"totalCount": 1, "results": [rec]})

    def _filler(self, route, params):
        method = route.method
        if method == "DELETE":
            raise _Reply(204)
        segs = [s for s in route.template.split("/") if s and not s.startswith("{")]
        resource = segs[-1] if segs else "item"
        if method == "POST":
            raise _Reply(201, {"id": "1", "href": f"{self.server.sim.url}{route.template.replace('{id}', '1')}"})
        if method in ("PUT", "PATCH"):
            raise _Reply(200, {"id": params.get("id", "1")})
        if route.template.endswith("}"):
            raise _Reply(200, {"id": next(reversed(params.values())), "name": f"sim-{resource}"})
        raise _Reply(200, {"totalCount": 1, "results": [{"id": "1", "name": f"sim-{resource}-1"}]})

    # ------------------------------------------------------------------ Classic API
    def _classic(self, path: str, query: dict) -> None:
        t, b = self.tenant, self.tenant.behaviour
        html = "text/html;charset=UTF-8"
        scheme, cred = self._auth_header()
        have: frozenset[str]
        if scheme == "bearer":  # bearer works on Classic since 10.35 [C/T]; OAuth tokens too [C]
            try:
                tok = t.authenticate(cred)
            except JamfError:
                raise _Reply(401, CLASSIC_401, html)
            have, self._principal = t.effective_privileges(tok), t.principal_of(tok)
        elif scheme == "basic" and b.classic_api_basic_auth_enabled:  # [T] off by default
            creds = self._basic_creds()
            user = t.users.get(creds[0]) if creds else None
            if (user is None or user.password != creds[1] or not user.enabled or user.sso_only
                    or user.password_expired or user.force_password_change):
                raise _Reply(401, CLASSIC_401, html)
            have, self._principal = user.effective_privileges(), f"user:{user.username}"
        else:
            raise _Reply(401, CLASSIC_401, html)
        segs = [s for s in path.split("/") if s][1:]
        table = b.classic_read_privileges
        if not segs or segs[0] not in table:
            raise _Reply(404, CLASSIC_404, html)
        resource = segs[0]
        alternatives = table[resource]
        method = "GET" if self.command == "HEAD" else self.command
        if method != "GET":  # [I] Create/Update/Delete <Object> by analogy with the Pro API [C] 0
            verb = {"POST": "Create", "PUT": "Update", "DELETE": "Delete"}.get(method)
            if verb is None:
                raise _Reply(405, CLASSIC_404, html)
            alternatives = tuple(verb + p[len("Read"):] for p in alternatives)
        if not any(t.satisfies(have, (p,)) for p in alternatives):
            raise _Reply(403, CLASSIC_403, html)
        singular = CLASSIC_SINGULAR.get(resource, resource.rstrip("s"))
        want_json = "application/json" in (self.headers.get("Accept") or "")
        if method != "GET":
            body = {singular: {"id": 1}} if want_json else f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><{singular}><id>1</id></{singular}>"
            raise _Reply(201 if method == "POST" else 200, body, JSON_CT if want_json else "text/xml;charset=UTF-8")
        name = f"sim-{singular}-1"
        if len(segs) == 1:
            if want_json:
                raise _Reply(200, {resource: [{"id": 1, "name": name}]})
            xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><{resource}><size>1</size>"
                   f"<{singular}><id>1</id><name>{escape(name)}</name></{singular}></{resource}>")
            raise _Reply(200, xml, "text/xml;charset=UTF-8")
        ident = segs[-1]
        if want_json:
            raise _Reply(200, {singular: {"general": {"id": 1, "name": name, "lookup": ident}}})
        xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><{singular}><general><id>1</id>"
               f"<name>{escape(name)}</name></general></{singular}>")
        raise _Reply(200, xml, "text/xml;charset=UTF-8")


_LEGACY = {"/api/auth/tokens", "/api/auth/keepAlive", "/api/auth/invalidateToken", "/api/auth", "/api/auth/current"}

_NO_BEARER = {
    "POST /api/v1/auth/token": lambda h, q, b: h._token_v1(q, b),
    "POST /api/auth/tokens": lambda h, q, b: h._token_v1(q, b, legacy=True),
    "POST /api/oauth/token": _Handler._oauth_token,
    "POST /api/v1/oauth/token": _Handler._oauth_token,
}

_HANDLERS = {
    "GET /api/v1/auth": _Handler._get_auth,
    "POST /api/v1/auth/keep-alive": _Handler._keep_alive,
    "POST /api/v1/auth/invalidate-token": _Handler._invalidate,
    "GET /api/auth": _Handler._get_auth_legacy,
    "POST /api/auth/current": _Handler._get_auth_legacy,
    "POST /api/auth/keepAlive": lambda h, tok, p, q, b: h._keep_alive(tok, p, q, b, legacy=True),
    "POST /api/auth/invalidateToken": _Handler._invalidate,
    "GET /api/v1/jamf-pro-version": _Handler._version,
    "GET /api/v1/api-roles": _Handler._roles_list,
    "POST /api/v1/api-roles": _Handler._role_create,
    "GET /api/v1/api-roles/{id}": _Handler._role_get,
    "PUT /api/v1/api-roles/{id}": _Handler._role_put,
    "DELETE /api/v1/api-roles/{id}": _Handler._role_delete,
    "GET /api/v1/api-role-privileges": _Handler._role_privileges,
    "GET /api/v1/api-role-privileges/search": _Handler._role_privileges_search,
    "GET /api/v1/api-integrations": _Handler._integrations_list,
    "POST /api/v1/api-integrations": _Handler._integration_create,
    "GET /api/v1/api-integrations/{id}": _Handler._integration_get,
    "PUT /api/v1/api-integrations/{id}": _Handler._integration_put,
    "DELETE /api/v1/api-integrations/{id}": _Handler._integration_delete,
    "POST /api/v1/api-integrations/{id}/client-credentials": _Handler._client_credentials,
    "GET /api/v1/computers-inventory": _Handler._computers_inventory,
}


# ---------------------------------------------------------------------- server + simulator
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not delay stop()
    allow_reuse_address = False

    def __init__(self, sim: "JamfSimulator", ssl_context: ssl.SSLContext):
        self.sim = sim
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", sim.requested_port), _Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread so a stalled client cannot block accept()
        request.settimeout(10)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


class JamfSimulator:
    """A Jamf Pro test double over HTTPS on 127.0.0.1.

    >>> with JamfSimulator(good_tenant(), cert_pem, key_pem) as sim:
    ...     httpx.get(sim.url + "/api/v1/jamf-pro-version", verify=ctx)
    """

    def __init__(self, tenant: Tenant, cert_pem: Path | str | None = None, key_pem: Path | str | None = None,
                 *, ssl_context: ssl.SSLContext | None = None, port: int = 0):
        if ssl_context is None:
            if cert_pem is None:
                raise ValueError("give cert_pem (+ key_pem) or ssl_context")
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(str(cert_pem), str(key_pem) if key_pem else None)
        self.tenant = tenant
        self.ssl_context = ssl_context
        self.requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_trustme(cls, tenant: Tenant, ca, *, cert: str = "good", legacy_tls: bool = False, **kw) -> "JamfSimulator":
        """Serve a leaf certificate for 127.0.0.1/localhost issued by a ``trustme.CA``.

        ``cert`` is one of ``tests.tls_certs.CERT_KINDS`` (an ``untrusted`` one comes from a CA of its own, a
        ``wrong-host`` one names jamf.invalid); ``legacy_tls`` accepts TLS 1.0 and 1.1 as well.
        """
        issuer = trustme.CA(organization_name="some other CA") if cert == "untrusted" else ca
        leaf = issue_leaf(issuer, cert, ["127.0.0.1", "localhost"], wrong_host="jamf.invalid")
        return cls(tenant, ssl_context=server_context(leaf, legacy=legacy_tls), **kw)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> "JamfSimulator":
        if self._server is not None:
            return self
        self._server = _Server(self, self.ssl_context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"jamf-sim-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "JamfSimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
