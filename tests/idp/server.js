// A small, real OpenID Connect provider for the portal's tests and demo.
//
// It is `oidc-provider` (a certified implementation) with a plain HTML login form,
// automatic consent, in-memory storage, and users and clients taken from environment
// variables. It listens on 127.0.0.1 only and never reaches the network.
// See README.md beside this file for the environment variables.

import crypto from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

function parseJsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') {
    if (fallback === undefined) fail(`${name} is required (JSON)`);
    return fallback;
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    return fail(`${name} is not valid JSON: ${err.message}`);
  }
}

function positiveIntEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) fail(`${name} must be a positive integer, got ${raw}`);
  return value;
}

const HOST = '127.0.0.1';
const PORT = positiveIntEnv('IDP_PORT', undefined) ?? fail('IDP_PORT is required');
const ISSUER = (process.env.IDP_ISSUER || `http://${HOST}:${PORT}`).replace(/\/+$/, '');
const ID_TOKEN_TTL = positiveIntEnv('IDP_ID_TOKEN_TTL', 3600);
const ADMIN_TOKEN = process.env.IDP_ADMIN_TOKEN || '';
const PKCE_REQUIRED = !['0', 'false', 'no'].includes((process.env.IDP_PKCE_REQUIRED || '1').toLowerCase());

// ---------------------------------------------------------------------------- users

const users = new Map(); // sub -> user
for (const user of parseJsonEnv('IDP_USERS')) {
  if (!user || typeof user.sub !== 'string' || !user.sub) fail('every user in IDP_USERS needs a string "sub"');
  if (typeof user.username !== 'string' || typeof user.password !== 'string') {
    fail(`user ${user.sub} needs string "username" and "password"`);
  }
  users.set(user.sub, {
    sub: user.sub,
    username: user.username,
    password: user.password,
    email: user.email ?? null,
    name: user.name ?? null,
    groups: Array.isArray(user.groups) ? user.groups.map(String) : [],
  });
}

function findUserByUsername(username) {
  for (const user of users.values()) {
    if (user.username === username) return user;
  }
  return undefined;
}

function sameSecret(given, expected) {
  const a = crypto.createHash('sha256').update(String(given)).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return crypto.timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------- clients

const clients = parseJsonEnv('IDP_CLIENTS').map((client) => {
  if (!client || typeof client.client_id !== 'string') fail('every client in IDP_CLIENTS needs a string "client_id"');
  return {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    post_logout_redirect_uris: [],
    ...client,
  };
});

// ---------------------------------------------------------------------------- keys

function generatedJwks() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = crypto.randomBytes(8).toString('hex');
  return { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] };
}

const jwks = parseJsonEnv('IDP_JWKS', null) || generatedJwks();

// ---------------------------------------------------------------------------- HTML

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

// No external fonts, scripts or styles: nothing may leave the machine.
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <style>
    body { font-family: system-ui, sans-serif; background: #f4f4f4; margin: 0; padding: 40px 16px; }
    main { max-width: 340px; margin: 0 auto; background: #fff; padding: 24px 32px; border-radius: 6px;
           box-shadow: 0 1px 3px rgba(0,0,0,.2); }
    h1 { font-size: 1.3em; font-weight: 500; }
    label { display: block; margin: 12px 0 4px; }
    input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 8px; }
    button { margin-top: 16px; width: 100%; padding: 10px; background: #2b5fb4; color: #fff; border: 0;
             border-radius: 4px; font-size: 1em; cursor: pointer; }
    .error { color: #a40000; background: #fde8e8; padding: 8px; border-radius: 4px; }
    .note { color: #666; font-size: .85em; }
  </style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

function loginPage(uid, clientId, { login = '', error = '' } = {}) {
  return page('Sign in', `
  <h1>Sign in to the test identity provider</h1>
  <p class="note">Client: <code>${escapeHtml(clientId)}</code></p>
  ${error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
    <label for="login">Username</label>
    <input type="text" id="login" name="login" value="${escapeHtml(login)}" required autofocus>
    <label for="password">Password</label>
    <input type="password" id="password" name="password" required>
    <button type="submit" id="submit">Sign in</button>
  </form>`);
}

// ---------------------------------------------------------------------------- provider

const configuration = {
  clients,
  jwks,
  findAccount(ctx, sub) {
    const user = users.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      // Read at every use, so /_test/users changes show in the next tokens.
      async claims() {
        const current = users.get(sub) || user;
        const claims = {
          sub,
          preferred_username: current.username,
          groups: [...current.groups],
        };
        if (current.email !== null) {
          claims.email = current.email;
          claims.email_verified = true;
        }
        if (current.name !== null) claims.name = current.name;
        return claims;
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: {
    methods: ['S256'],
    required: () => PKCE_REQUIRED,
  },
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    // Plain http on loopback: no `secure` flag (oidc-provider only adds it on https
    // requests), and SameSite=Lax everywhere because browsers drop SameSite=None
    // cookies that are not Secure.
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  interactions: {
    url(ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The confirmation form submits itself (with logout=yes) in a browser; a plain
      // HTTP client posts the form's hidden fields to its action.
      async logoutSource(ctx, form) {
        const autoForm = form.replace(
          '</form>',
          '<input type="hidden" name="logout" value="yes"/>'
            + '<button type="submit" id="logout">Sign out</button></form>',
        );
        ctx.body = page('Signing out', `
  <h1>Signing out…</h1>
  ${autoForm}
  <script>document.getElementById('op.logoutForm').submit();</script>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<h1>Signed out</h1><p id="signed-out">You are signed out.</p>');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `
  <h1>Error</h1>
  <p class="error" id="error"><code>${escapeHtml(out.error)}</code>: ${escapeHtml(out.error_description)}</p>`);
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: ID_TOKEN_TTL,
    Interaction: 3600,
    Session: 86400,
    Grant: 86400,
  },
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'end_session.error', 'revocation.error']) {
  provider.on(event, (ctx, err) => {
    process.stderr.write(`idp: ${event}: ${err.name}: ${err.message}${err.error_detail ? ` (${err.error_detail})` : ''}\n`);
  });
}

// ---------------------------------------------------------------------------- routes

async function readBody(ctx, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isLoopback(address) {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

async function autoConsent(ctx, details) {
  const { prompt: { details: missing }, params, session } = details;
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  if (!grant) {
    grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  return provider.interactionResult(ctx.req, ctx.res, { consent }, { mergeWithLastSubmission: true });
}

async function interactionDetailsOrError(ctx, uid) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><p class="error" id="error">${escapeHtml(err.message)}</p>`);
    return undefined;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', '<h1>Error</h1><p class="error" id="error">interaction mismatch</p>');
    return undefined;
  }
  return details;
}

function seeOther(ctx, location) {
  ctx.status = 303;
  ctx.set('Location', location);
  ctx.body = '';
}

provider.use(async (ctx, next) => {
  const { path, method } = ctx;

  if (path === '/_test/users') {
    if (!ADMIN_TOKEN || !isLoopback(ctx.req.socket.remoteAddress)) {
      ctx.status = 404;
      return;
    }
    if (method !== 'POST') {
      ctx.status = 405;
      ctx.set('Allow', 'POST');
      return;
    }
    const auth = ctx.get('authorization');
    if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), ADMIN_TOKEN)) {
      ctx.status = 401;
      ctx.body = { error: 'unauthorized' };
      return;
    }
    let body;
    try {
      body = JSON.parse(await readBody(ctx));
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'body must be JSON {"sub": ..., "groups": [...]}' };
      return;
    }
    const user = body && users.get(body.sub);
    if (!user) {
      ctx.status = 404;
      ctx.body = { error: 'unknown sub' };
      return;
    }
    if (!Array.isArray(body.groups) || !body.groups.every((g) => typeof g === 'string')) {
      ctx.status = 400;
      ctx.body = { error: '"groups" must be an array of strings' };
      return;
    }
    user.groups = [...body.groups];
    ctx.body = { sub: user.sub, groups: user.groups };
    return;
  }

  let match = path.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
  if (match && method === 'GET') {
    ctx.set('Cache-Control', 'no-store');
    const details = await interactionDetailsOrError(ctx, match[1]);
    if (!details) return;
    if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, details.params.client_id);
      return;
    }
    // Consent (and any other prompt) is granted at once: no consent screen.
    seeOther(ctx, await autoConsent(ctx, details));
    return;
  }

  match = path.match(/^\/interaction\/([A-Za-z0-9_-]+)\/login$/);
  if (match && method === 'POST') {
    ctx.set('Cache-Control', 'no-store');
    const details = await interactionDetailsOrError(ctx, match[1]);
    if (!details) return;
    if (details.prompt.name !== 'login') {
      seeOther(ctx, await autoConsent(ctx, details));
      return;
    }
    const form = new URLSearchParams(await readBody(ctx));
    const login = form.get('login') || '';
    const password = form.get('password') || '';
    const user = findUserByUsername(login);
    if (!user || !sameSecret(password, user.password)) {
      ctx.status = 200;
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, details.params.client_id, {
        login,
        error: 'Invalid username or password.',
      });
      return;
    }
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false },
    );
    seeOther(ctx, returnTo);
    return;
  }

  await next();
});

// ---------------------------------------------------------------------------- server

const server = http.createServer(provider.callback());
server.on('error', (err) => fail(`cannot listen on ${HOST}:${PORT}: ${err.message}`));
server.listen(PORT, HOST, () => {
  process.stdout.write(`IDP READY ${ISSUER}\n`);
});

function shutdown(signal) {
  process.stderr.write(`idp: ${signal}, stopping\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
