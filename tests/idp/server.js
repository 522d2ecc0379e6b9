// A real OpenID Provider (oidc-provider, OpenID Certified) for pytest-authcheck's own tests.
//
// Usage: node tests/idp/server.js CONFIG.json
//
// The config is written by tests/idp/world.py. When the provider is ready exactly one
// JSON line is written to stdout:
//   {"ready": true, "port": N, "issuer": "...", "base_url": "https://127.0.0.1:N"}
// Everything else (request log, oidc-provider notices) goes to stderr.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';

// ---------------------------------------------------------------------------------------
// stdout carries only the ready line: route every console channel to stderr.
for (const name of ['log', 'info', 'debug']) {
  console[name] = (...args) => process.stderr.write(`${args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' ')}\n`);
}

function log(...parts) {
  process.stderr.write(`[idp ${new Date().toISOString()}] ${parts.join(' ')}\n`);
}

if (process.argv.length < 3) {
  process.stderr.write('usage: node server.js CONFIG.json\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// ---------------------------------------------------------------------------------------
// Clock skew: shift Date.now() and `new Date()` for the whole process, BEFORE anything
// issues tokens. Token iat/exp/nbf (oidc-provider and jose both read Date) follow it; the
// HTTP Date header is set explicitly below because node's http module uses its own
// (primordial) Date.
const skewMs = Math.round(Number(config.clock_skew_seconds || 0) * 1000);
if (skewMs !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const skewedNow = () => realNow() + skewMs;
  const SkewedDate = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      if (args.length === 0) {
        return Reflect.construct(target, [skewedNow()], newTarget === SkewedDate ? target : newTarget);
      }
      return Reflect.construct(target, args, newTarget === SkewedDate ? target : newTarget);
    },
    apply() {
      return new RealDate(skewedNow()).toString();
    },
    get(target, prop, receiver) {
      if (prop === 'now') return skewedNow;
      return Reflect.get(target, prop, receiver);
    },
  });
  globalThis.Date = SkewedDate;
}

// Imported after the clock is in place (dynamic import keeps the order explicit).
const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------------------
const HOST = config.host || '127.0.0.1';
const issuerPath = normalizePath(config.issuer_path || '');
const tls = config.tls || {};
// plain_http: serve http (no TLS at all), for policies that tolerate http on loopback
const plainHttp = config.plain_http === true;
if (!plainHttp && (!tls.cert || !tls.key)) {
  process.stderr.write('config.tls.cert and config.tls.key are required (unless plain_http)\n');
  process.exit(2);
}

function normalizePath(p) {
  if (!p || p === '/') return '';
  let out = p.startsWith('/') ? p : `/${p}`;
  while (out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

const minVersion = tls.min_version || 'TLSv1.2';
const serverOptions = plainHttp ? {} : {
  cert: readFileSync(tls.cert),
  key: readFileSync(tls.key),
  minVersion,
};
if (tls.max_version) serverOptions.maxVersion = tls.max_version;
if (minVersion === 'TLSv1' || minVersion === 'TLSv1.1') {
  // OpenSSL 3 refuses TLS < 1.2 at its default security level; level 0 re-enables it.
  serverOptions.ciphers = tls.ciphers || 'DEFAULT:@SECLEVEL=0';
} else if (tls.ciphers) {
  serverOptions.ciphers = tls.ciphers;
}

let handler = (req, res) => {
  res.statusCode = 503;
  res.end('starting');
};
const server = plainHttp
  ? http.createServer((req, res) => handler(req, res))
  : https.createServer(serverOptions, (req, res) => handler(req, res));
server.on('tlsClientError', (err, socket) => {
  log('tls-error', socket?.remoteAddress || '-', err.code || '', err.message);
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(config.port || 0), HOST, () => {
    server.off('error', reject);
    resolve();
  });
});
const { port } = server.address();
const baseUrl = `${plainHttp ? 'http' : 'https'}://${HOST}:${port}`;
const realIssuer = `${baseUrl}${issuerPath}`;

function substitute(value) {
  if (typeof value === 'string') {
    return value
      .replaceAll('{base}', baseUrl)
      .replaceAll('{http_base}', `http://${HOST}:${port}`)
      .replaceAll('{port}', String(port))
      .replaceAll('{issuer}', realIssuer);
  }
  if (Array.isArray(value)) return value.map(substitute);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  }
  return value;
}

const issuer = config.claimed_issuer ? substitute(config.claimed_issuer) : realIssuer;
const metadataOverrides = substitute(config.metadata_overrides || {});
// applied after metadata_overrides, to one of the two documents only
const documentOverrides = {
  '/.well-known/openid-configuration': substitute(config.openid_metadata_overrides || {}),
  '/.well-known/oauth-authorization-server': substitute(config.rfc8414_metadata_overrides || {}),
};
const publishedJwks = config.published_jwks ? substitute(config.published_jwks) : null;

// ---------------------------------------------------------------------------------------
// Resource servers (RFC 8707). client_credentials access tokens are JWTs (RFC 9068).
const defaultAccessTokenTtl = Number(config.access_token_ttl_seconds ?? 600);
const defaultResource = config.default_resource === undefined ? 'https://api.test' : config.default_resource;
const resourceServers = {};
if (defaultResource) {
  resourceServers[defaultResource] = { scope: config.resource_scopes || 'deploy read admin' };
}
Object.assign(resourceServers, config.resource_servers || {});
const resourceScopes = new Set(
  Object.values(resourceServers).flatMap((rs) => (rs.scope || '').split(' ').filter(Boolean)),
);
const accessTokenAlg = config.access_token_alg || 'RS256';

// Deliberate per-client defects (client metadata `authcheck_defects`), so a broken client differs from
// its control only in the one defect a check must find. See README.md.
const CLIENT_DEFECTS = new Set([
  'pkce-optional', // PKCE not required for this client (an authorization request without code_challenge proceeds)
  'redirect-prefix-match', // redirect_uri accepted when a registered URI is a prefix of it
  'loopback-exact-port', // a native loopback redirect URI must match the port exactly (no RFC 8252 7.3)
  'no-refresh-rotation', // refresh tokens are never rotated
  'understated-expires-in', // token responses say expires_in <= 3600 whatever the real lifetime
  'revocation-ignored', // the revocation endpoint answers 200 and revokes nothing
  'pkce-plain-accepted', // code_challenge_method=plain is accepted (rewritten to its S256 equivalent)
  'verifier-not-enforced', // the token endpoint redeems the client's codes whatever code_verifier it gets
  'open-redirect', // an unregistered redirect_uri gets a 302 to it with an error instead of an error page
  'introspects-others', // may introspect tokens issued to other clients
  'revocation-needs-secret', // a public client's revocation request is answered 401 invalid_client
  'sliding-refresh', // each rotation starts the refresh token's lifetime anew (a sliding window with no end)
  'state-raw', // state is copied into redirects to the client unencoded, so '&name=value' in it becomes a parameter
  'no-auth-time', // ID tokens leave auth_time out, max_age or not
  'stale-auth-time', // ID tokens date auth_time two days back (a provider that reports a remembered, older login)
]);

function defects(client) {
  const value = client?.metadata?.().authcheck_defects;
  return Array.isArray(value) ? value : [];
}

function clientTtl(client) {
  const ttl = client?.metadata?.().access_token_ttl;
  return Number.isInteger(ttl) && ttl > 0 ? ttl : defaultAccessTokenTtl;
}

// ---------------------------------------------------------------------------------------
const accounts = {
  alice: {
    sub: 'alice',
    name: 'Alice Example',
    given_name: 'Alice',
    family_name: 'Example',
    preferred_username: 'alice',
    email: 'alice@example.test',
    email_verified: true,
  },
  ...(config.accounts || {}),
};

const corsConfig = config.cors ?? { allowed_origins: [] };

const providerConfig = {
  clients: config.clients || [],
  jwks: { keys: config.signing_keys || [] },
  cookies: { keys: config.cookie_keys || ['authcheck-test-idp-cookie-key-0123456789'] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // code flow only: no implicit / hybrid response types advertised by the good IdP
  responseTypes: config.response_types || ['code'],
  scopes: ['openid', 'offline_access', 'profile', 'email', ...(config.extra_scopes || ['deploy', 'read', 'admin'])],
  extraClientMetadata: {
    properties: ['access_token_ttl', 'refresh_token_ttl', 'authcheck_defects'],
    validator(ctx, key, value) {
      if ((key === 'access_token_ttl' || key === 'refresh_token_ttl') && value !== undefined
        && !(Number.isInteger(value) && value > 0)) {
        throw new errors.InvalidClientMetadata(`${key} must be a positive integer`);
      }
      if (key === 'authcheck_defects' && value !== undefined
        && !(Array.isArray(value) && value.every((d) => CLIENT_DEFECTS.has(d)))) {
        throw new errors.InvalidClientMetadata(`authcheck_defects must be a list of ${[...CLIENT_DEFECTS].join(', ')}`);
      }
    },
  },
  async findAccount(ctx, sub) {
    const account = accounts[sub] || { sub };
    return {
      accountId: sub,
      async claims() {
        return { ...account, sub };
      },
    };
  },
  features: {
    devInteractions: { enabled: config.dev_interactions ?? true },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Only the client a token was issued to (or one with the 'introspects-others' defect) learns about it:
      // oidc-provider's default lets any confidential client introspect every token (RFC 7662 section 4 SHOULD).
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId
        || defects(client).includes('introspects-others'),
    },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf;
        if (!defaultResource) return undefined;
        if (ctx.oidc.params?.grant_type === 'client_credentials') return defaultResource;
        // authorization requests asking for API scopes get the API as audience; plain
        // OIDC requests (openid profile email) keep an opaque token usable at userinfo.
        const scopes = String(ctx.oidc.params?.scope || '').split(' ');
        return scopes.some((s) => resourceScopes.has(s)) ? defaultResource : undefined;
      },
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resourceIndicator, client) {
        const rs = resourceServers[resourceIndicator];
        if (!rs) throw new errors.InvalidTarget();
        return {
          scope: rs.scope || '',
          audience: rs.audience || resourceIndicator,
          accessTokenTTL: clientTtl(client),
          accessTokenFormat: rs.access_token_format || 'jwt',
          jwt: { sign: { alg: rs.alg || accessTokenAlg } },
        };
      },
    },
  },
  pkce: {
    // S256 is the only method oidc-provider 9 supports; require it for every client
    // (config pkce_required: "public" falls back to oidc-provider's default policy).
    required: (ctx, client) => {
      if (defects(client).includes('pkce-optional')) return false;
      return config.pkce_required === 'public' ? client.clientAuthMethod === 'none' : true;
    },
  },
  rotateRefreshToken(ctx) {
    const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
    if (defects(client).includes('no-refresh-rotation')) return false;
    // oidc-provider's default: rotate public clients' tokens, others when 70% of the lifetime has passed
    if (client.clientAuthMethod === 'none' && !refreshToken.isSenderConstrained()) return true;
    return refreshToken.ttlPercentagePassed() >= 70;
  },
  ttl: {
    AccessToken: (ctx, token, client) => token.resourceServer?.accessTokenTTL || clientTtl(client),
    ClientCredentials: (ctx, token, client) => token.resourceServer?.accessTokenTTL || clientTtl(client),
    AuthorizationCode: 60,
    IdToken: 3600,
    // per client (refresh_token_ttl metadata) so a control and a long-lived broken client can differ
    RefreshToken: (ctx, token, client) => {
      const configured = client?.metadata?.().refresh_token_ttl;
      const ttl = Number.isInteger(configured) && configured > 0 ? configured : 14 * 24 * 3600;
      // a rotated refresh token keeps the end of the first one (oidc-provider would start a new ttl on each
      // rotation: a sliding window), unless the client carries the 'sliding-refresh' defect
      if (token.iiat && !defects(client).includes('sliding-refresh')) {
        return Math.max(1, token.iiat + ttl - Math.floor(Date.now() / 1000));
      }
      return ttl;
    },
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  clientBasedCORS(ctx, origin) {
    if (corsConfig === true || corsConfig === '*') return true;
    return (corsConfig.allowed_origins || []).includes(origin);
  },
};

const provider = new Provider(issuer, providerConfig);

// ---------------------------------------------------------------------------------------
// Koa middleware on the provider: request log, metadata overrides, published JWKS.
const DISCOVERY_PATHS = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']);

provider.use(async (ctx, next) => {
  const started = process.hrtime.bigint();
  try {
    if (publishedJwks && ctx.method === 'GET' && ctx.path === '/jwks') {
      ctx.type = 'application/jwk-set+json; charset=utf-8';
      ctx.body = publishedJwks;
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/auth' && await authorizationDefect(ctx)) return;
    if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/')) {
      // which prompt a form post answers: tests count the logins a run costs ("prompt login")
      const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
      if (details) log('prompt', details.prompt.name);
    }
    if (ctx.method === 'POST' && ctx.path === '/token/revocation' && await revocationIgnored(ctx)) {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    await next();
    if (ctx.method === 'GET' && ctx.path === '/auth' && typeof ctx.query.state === 'string') await rawState(ctx);
    if (config.revoke_jwt_access_tokens && ctx.method === 'POST') await jwtRevocation(ctx);
    if (ctx.method === 'POST' && ctx.path === '/token/revocation'
        && defects(ctx.oidc?.client).includes('revocation-needs-secret')) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="revocation"');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    }
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200 && ctx.body?.expires_in
        && defects(ctx.oidc?.client).includes('understated-expires-in')) {
      ctx.body = { ...ctx.body, expires_in: Math.min(ctx.body.expires_in, 3600) };
    }
    const overrides = { ...metadataOverrides, ...(documentOverrides[ctx.path] || {}) };
    if (
      DISCOVERY_PATHS.has(ctx.path)
      && ctx.status === 200
      && ctx.body
      && typeof ctx.body === 'object'
      && Object.keys(overrides).length
    ) {
      const body = { ...ctx.body };
      for (const [key, value] of Object.entries(overrides)) {
        if (value === null) delete body[key];
        else body[key] = value;
      }
      ctx.body = body;
    }
  } finally {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const detail = config.log_form_details ? formDetails(ctx) : '';
    log(ctx.method, ctx.req.originalUrl || ctx.url, ctx.status, `${ms.toFixed(1)}ms`, ...(detail ? [detail] : []));
  }
});

// Opt-in (config log_form_details): what a POST's form said, so a request log can tell token-endpoint probes
// apart (benchmarks/bench_scale.py counts them by kind). Never a secret: only whether one was sent and how.
function formDetails(ctx) {
  const params = ctx.oidc?.params;
  if (ctx.method !== 'POST' || !params) return '';
  const header = ctx.get('authorization') || '';
  let client = ctx.oidc.client?.clientId;
  let auth = 'none';
  if (header.toLowerCase().startsWith('basic ')) {
    auth = 'basic';
    if (!client) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      try { client = decodeURIComponent(decoded.split(':')[0]); } catch { client = undefined; }
    }
  } else if (params.client_secret !== undefined) {
    auth = 'post';
  } else if (params.client_assertion !== undefined) {
    auth = 'assertion';
  }
  client ??= typeof params.client_id === 'string' ? params.client_id : undefined;
  const error = ctx.body && typeof ctx.body === 'object' && typeof ctx.body.error === 'string' ? ctx.body.error : undefined;
  return `form=${JSON.stringify({ client, auth, grant_type: params.grant_type, scope: params.scope, error })}`;
}

// redirect URI defects: wrap the model's matcher for the clients that carry them
const exactRedirectAllowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  const flaws = defects(this);
  if (flaws.includes('redirect-prefix-match')) {
    return this.redirectUris.some((registered) => String(value).startsWith(registered));
  }
  if (flaws.includes('loopback-exact-port')) return this.redirectUris.includes(value);
  return exactRedirectAllowed.call(this, value);
};

// Authorization-endpoint defects (GET requests, the way the probes and browsers send them). Returns true
// when the defect answered the request itself.
async function authorizationDefect(ctx) {
  const query = ctx.query;
  if (typeof query.client_id !== 'string') return false;
  const client = await provider.Client.find(query.client_id).catch(() => undefined);
  const flaws = defects(client);
  if (flaws.includes('pkce-plain-accepted') && typeof query.code_challenge === 'string'
      && (query.code_challenge_method === 'plain' || query.code_challenge_method === undefined)) {
    // A provider that allows plain compares the verifier itself with the challenge at the token endpoint;
    // the S256 equivalent of the challenge makes oidc-provider do exactly that (RFC 7636 section 4.6).
    const s256 = createHash('sha256').update(query.code_challenge, 'ascii').digest('base64url');
    ctx.query = { ...query, code_challenge: s256, code_challenge_method: 'S256' };
  }
  if (flaws.includes('open-redirect') && typeof query.redirect_uri === 'string'
      && !client.redirectUriAllowed(query.redirect_uri)) {
    if (!URL.canParse(query.redirect_uri)) return false;
    // The IdP reports the error to whatever redirect_uri it was given (RFC 6749 4.1.2.1 forbids exactly this),
    // appending to it verbatim (Koa's ctx.redirect would normalise it through URL and resolve '..').
    const [uri, fragment] = query.redirect_uri.split('#', 2);
    const answer = new URLSearchParams({
      error: 'invalid_request', error_description: 'redirect_uri did not match any of the registered ones',
    });
    if (typeof query.state === 'string') answer.set('state', query.state);
    ctx.status = 302;
    ctx.set('Location', `${uri}${uri.includes('?') ? '&' : '?'}${answer}${fragment === undefined ? '' : `#${fragment}`}`);
    ctx.body = '';
    return true;
  }
  return false;
}

// revoke_jwt_access_tokens: the provider accepts the revocation of its JWT access tokens (oidc-provider declines
// them with unsupported_token_type) and then reports them inactive at introspection, as providers that keep a
// revocation list do; resource servers that validate JWTs locally never hear of it.
const revokedJtis = new Set();
function ownJwtId(token) {
  if (typeof token !== 'string' || token.split('.').length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    return claims.iss === issuer && typeof claims.jti === 'string' ? claims.jti : undefined;
  } catch {
    return undefined;
  }
}
async function jwtRevocation(ctx) {
  const jti = ownJwtId(ctx.oidc?.params?.token);
  if (!jti) return;
  if (ctx.path === '/token/revocation' && ctx.status === 400 && ctx.body?.error === 'unsupported_token_type') {
    revokedJtis.add(jti);
    ctx.status = 200;
    ctx.body = '';
  } else if (ctx.path === '/token/introspection' && revokedJtis.has(jti)) {
    ctx.body = { active: false };
  }
}

// state-raw: the redirect to the client carries state exactly as it arrived, decoded and unescaped (a provider
// that builds its redirect by string concatenation).
async function rawState(ctx) {
  const location = ctx.response.get('Location');
  if (!location) return;
  const client = await provider.Client.find(String(ctx.query.client_id)).catch(() => undefined);
  if (!defects(client).includes('state-raw')) return;
  const encoded = new URLSearchParams({ state: ctx.query.state }).toString();
  ctx.set('Location', location.replace(encoded, `state=${ctx.query.state}`));
}

// verifier-not-enforced: the code of such a client is redeemed as if it had been issued without PKCE and
// no code_verifier had been sent, so a missing, wrong or right verifier all work (the authorization
// endpoint still demands a code_challenge). Provider.ctx is oidc-provider's request context.
const findAuthorizationCode = provider.AuthorizationCode.find.bind(provider.AuthorizationCode);
provider.AuthorizationCode.find = async function find(...args) {
  const code = await findAuthorizationCode(...args);
  if (code?.clientId) {
    const client = await provider.Client.find(code.clientId).catch(() => undefined);
    const params = Provider.ctx?.oidc?.params;
    if (defects(client).includes('verifier-not-enforced') && params) {
      code.codeChallenge = undefined;
      code.codeChallengeMethod = undefined;
      params.code_verifier = undefined;
    }
  }
  return code;
};

// auth_time defects: the ID token's payload of such a client is rewritten before it is signed. oidc-provider
// itself always sets auth_time when max_age is requested, from the session's real login time.
const idTokenPayload = provider.IdToken.prototype.payload;
provider.IdToken.prototype.payload = async function payload(...args) {
  const claims = await idTokenPayload.apply(this, args);
  const flaws = defects(this.client);
  if (flaws.includes('no-auth-time')) delete claims.auth_time;
  if (flaws.includes('stale-auth-time') && Number.isInteger(claims.auth_time)) claims.auth_time -= 2 * 24 * 3600;
  return claims;
};

// The client of a revocation request, from its Basic credentials, or for a public client from the form's
// client_id: enough to answer for a 'revocation-ignored' client before oidc-provider judges the request. A form read
// here is left on req.body, which oidc-provider reads when the stream is already consumed.
async function revocationIgnored(ctx) {
  const header = ctx.get('authorization') || '';
  let clientId;
  if (header.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    clientId = decodeURIComponent(decoded.split(':')[0]);
  } else {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    ctx.req.body = Buffer.concat(chunks).toString('utf8');
    clientId = new URLSearchParams(ctx.req.body).get('client_id');
  }
  if (!clientId) return false;
  const client = await provider.Client.find(clientId).catch(() => undefined);
  return defects(client).includes('revocation-ignored');
}

provider.on('server_error', (ctx, err) => log('server_error', err?.stack || err));
provider.on('grant.error', (ctx, err) => log('grant.error', err?.name, err?.message, err?.error_description || ''));

const callback = provider.callback();
const rfc8414Path = issuerPath ? `/.well-known/oauth-authorization-server${issuerPath}` : null;
// serve_rfc8414 false: like most providers, serve OpenID discovery only (the RFC 8414 URL answers 404)
const serveRfc8414 = config.serve_rfc8414 !== false;

function notFound(req, res) {
  log(req.method, req.url, 404);
  res.statusCode = 404;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ error: 'not_found' }));
}

handler = (req, res) => {
  // node's http module stamps Date with its own (unshifted) clock; follow the process clock.
  res.setHeader('Date', new Date().toUTCString());
  const [pathname, query] = splitUrl(req.url);
  if (!serveRfc8414 && pathname === (rfc8414Path || '/.well-known/oauth-authorization-server')) {
    notFound(req, res);
    return;
  }
  if (!issuerPath) {
    callback(req, res);
    return;
  }
  if (rfc8414Path && pathname === rfc8414Path) {
    // RFC 8414 section 3: the well-known segment goes before the issuer's path.
    req.originalUrl = `${issuerPath}/.well-known/oauth-authorization-server${query}`;
    req.url = `/.well-known/oauth-authorization-server${query}`;
    callback(req, res);
    return;
  }
  if (pathname === issuerPath || pathname.startsWith(`${issuerPath}/`)) {
    // express-style mounting: oidc-provider derives its mount path from originalUrl.
    req.originalUrl = req.url;
    req.url = req.url.slice(issuerPath.length) || '/';
    if (!req.url.startsWith('/')) req.url = `/${req.url}`;
    callback(req, res);
    return;
  }
  notFound(req, res);
};

function splitUrl(url) {
  const i = url.indexOf('?');
  return i === -1 ? [url, ''] : [url.slice(0, i), url.slice(i)];
}

// ---------------------------------------------------------------------------------------
let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log('shutdown', signal);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1500).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (config.exit_on_stdin_close) {
  // The launcher keeps our stdin open; if it dies, so do we (no orphaned IdPs).
  process.stdin.on('end', () => shutdown('stdin-closed'));
  process.stdin.on('error', () => shutdown('stdin-error'));
  process.stdin.resume();
}

log('listening', baseUrl, 'issuer', issuer, 'tls-min', plainHttp ? 'none' : minVersion, 'skew', `${skewMs}ms`);
process.stdout.write(`${JSON.stringify({ ready: true, port, issuer, base_url: baseUrl })}\n`);
