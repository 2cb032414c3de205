// Test OpenID provider for switchboard's OIDC login tests.
//
// A thin wrapper around the certified `oidc-provider` package (see package.json
// for the pinned version) with one confidential client, users from an env var,
// a tiny login page that checks passwords, and fault injection for ID tokens.
//
// Start:  cd tests/idp && npm ci && node idp.mjs
// Env:
//   IDP_PORT           listen on 127.0.0.1:IDP_PORT; issuer is exactly http://127.0.0.1:IDP_PORT
//   IDP_CLIENT_ID      the one client's id
//   IDP_CLIENT_SECRET  its secret (client_secret_basic or client_secret_post both work)
//   IDP_REDIRECT_URI   its only redirect_uri; post_logout_redirect_uris = [origin of it + "/"]
//   IDP_USERS          JSON: {"alice": {"password": "pw", "groups": ["gw-admins"], "email": "a@x"}}
// Prints exactly one stdout line, `IDP READY <issuer>`, once listening; everything else -> stderr.
//
// Browser-facing pages (selectors for UI tests):
//   Login   GET /interaction/<uid>: <form id="login-form">, inputs `input[name="login"]` and
//           `input[name="password"]`, submit `button[type="submit"]` (id "submit").
//           A wrong login/password re-renders the form with HTTP 401 and `#error`
//           ("Invalid login or password"). Link `#abort` cancels (RP gets error=access_denied).
//   Consent none: the client is first-party, consent is granted automatically (no page).
//   Logout  GET /session/end?id_token_hint=...&post_logout_redirect_uri=...&state=... shows a
//           confirm page: click `button[name="logout"][value="yes"]` (id "logout-yes"); then 303
//           to post_logout_redirect_uri?state=... (post_logout_redirect_uri is ignored unless
//           id_token_hint or client_id is given: you land on /session/end/success, `#signed-out`).
//           With no IdP session (already signed out) there is no confirm page: oidc-provider
//           serves a form that JavaScript auto-submits, so a browser lands straight on the RP.
//   Errors  rendered as <h1>Error</h1><pre>error: ...</pre>. No page loads anything off-host.
//
// Fault injection: POST /_fault?mode=<m> -> 204. From then on every token endpoint response's
// id_token is tampered with until mode=none: none | badsig (signature bytes flipped) | aud
// ("someone-else") | expired (exp, iat an hour+ ago) | nonce ("wrong-nonce") -- these three re-signed
// with the real key -- | otherkey (signed by another RSA key with the same kid).
// Endpoints: /.well-known/openid-configuration, /auth, /token, /jwks, /me, /session/end.
import { randomBytes } from 'node:crypto';
import * as querystring from 'node:querystring';
import Provider from 'oidc-provider';
import * as jose from 'jose';

// oidc-provider prints "NOTICE"s with console.info (stdout); keep stdout for the READY line only.
console.info = (...args) => console.error(...args);

function env(name) {
  const v = process.env[name];
  if (!v) { console.error(`idp: missing env var ${name}`); process.exit(2); }
  return v;
}
const PORT = Number(env('IDP_PORT'));
const CLIENT_ID = env('IDP_CLIENT_ID');
const CLIENT_SECRET = env('IDP_CLIENT_SECRET');
const REDIRECT_URI = env('IDP_REDIRECT_URI');
const USERS = JSON.parse(env('IDP_USERS'));
const ISSUER = `http://127.0.0.1:${PORT}`;

// --- Signing keys: the real one (published in the JWKS) and an impostor with the same kid.
const KID = 'idp-test-rs256';
async function rsaJwk() {
  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
}
const realJwk = await rsaJwk();
const realKey = await jose.importJWK(realJwk, 'RS256');
const otherKey = await jose.importJWK(await rsaJwk(), 'RS256');

// --- Accounts: sub = login; claims come straight from IDP_USERS.
async function findAccount(_ctx, sub) {
  const user = Object.hasOwn(USERS, sub) ? USERS[sub] : undefined;
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: user.email,
        email_verified: true,
        name: user.name ?? sub,
        groups: user.groups ?? [],
      };
    },
  };
}

// --- HTML pages. All self-contained: oidc-provider's default pages @import web fonts from the
// internet, which a sandboxed test browser must not try to reach.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const html = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;
async function logoutSource(ctx, form) {
  ctx.body = html('Sign out?', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout-yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" id="logout-no">No, stay signed in</button>`);
}
async function postLogoutSuccessSource(ctx) {
  ctx.body = html('Signed out', '<p id="signed-out">You are signed out.</p>');
}
async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = html('Error', Object.entries(out).map(([k, v]) => `<pre>${esc(k)}: ${esc(v)}</pre>`).join(''));
}

// Login page, the only interaction page the user sees.
function loginPage(uid, error) {
  return html('Test IdP sign-in', `${error ? `<p id="error" style="color:red">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <input type="text" name="login" placeholder="login" required autofocus>
  <input type="password" name="password" placeholder="password" required>
  <button type="submit" id="submit">Sign in</button>
</form>
<p><a id="abort" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [`${new URL(REDIRECT_URI).origin}/`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider treats client_secret_basic and client_secret_post as interchangeable.
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [realJwk] },
  findAccount,
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false, // put scope claims (email, groups, name) into the ID token itself
  pkce: { required: () => true }, // only S256 is supported by oidc-provider 9
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false }, // they accept any password; ours below checks IDP_USERS
    resourceIndicators: { enabled: false },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  renderError,
  ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 3600, IdToken: 3600 },
  // Cookies are not port-scoped: prefix the names so they never collide with the relying
  // party's cookies on 127.0.0.1. `secure` is derived from the request (false on plain http).
  cookies: {
    names: { session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_interaction_resume' },
    keys: [randomBytes(32).toString('hex')],
  },
});

for (const ev of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
  provider.on(ev, (_ctx, err) => console.error(`idp: ${ev}: ${err?.message} ${err?.error_description ?? ''}`));
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

// Store the interaction result and send the browser back to oidc-provider's /auth/<uid>.
async function finish(ctx, result, mergeWithLastSubmission = false) {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

// --- Interactions: GET shows the login page, POST .../login checks IDP_USERS, consent is automatic.
async function interactions(ctx) {
  const [, , uid, action] = ctx.path.split('/'); // /interaction/<uid>[/login|/abort]
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  ctx.set('cache-control', 'no-store');
  const { prompt, params, session } = details;

  if (action === 'abort') {
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  }
  if (prompt.name === 'login') {
    let error = '';
    if (ctx.method === 'POST' && action === 'login') {
      const { login = '', password = '' } = await readForm(ctx.req);
      const user = typeof login === 'string' && Object.hasOwn(USERS, login) ? USERS[login] : undefined;
      if (user && user.password === password) {
        return finish(ctx, { login: { accountId: login } });
      }
      error = 'Invalid login or password';
      console.error(`idp: login refused for ${JSON.stringify(login)}`);
    }
    ctx.status = error ? 401 : 200;
    ctx.type = 'html';
    ctx.body = loginPage(uid, error);
    return undefined;
  }
  if (prompt.name === 'consent') {
    // First-party client: grant whatever was asked, without a page.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    return finish(ctx, { consent: { grantId: await grant.save() } }, true);
  }
  return ctx.throw(501, `unsupported prompt ${prompt.name}`);
}

// --- ID token fault injection.
const MODES = new Set(['none', 'badsig', 'aud', 'expired', 'otherkey', 'nonce']);
let faultMode = 'none';

async function tamper(idToken, mode) {
  const { kid, alg } = jose.decodeProtectedHeader(idToken);
  const claims = jose.decodeJwt(idToken);
  const resign = (payload, key = realKey) => new jose.SignJWT(payload)
    .setProtectedHeader({ alg, kid }).sign(key);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'badsig': {
      const [h, p, s] = idToken.split('.');
      const sig = Buffer.from(s, 'base64url');
      for (let i = 0; i < 8; i += 1) sig[i] ^= 0xff;
      return `${h}.${p}.${sig.toString('base64url')}`;
    }
    case 'aud': return resign({ ...claims, aud: 'someone-else' });
    case 'expired': return resign({ ...claims, iat: now - 7200, exp: now - 3600 });
    case 'otherkey': return resign(claims, otherKey);
    case 'nonce': return resign({ ...claims, nonce: 'wrong-nonce' });
    default: return idToken;
  }
}

// Pre/post middleware, runs before oidc-provider's own routing.
provider.use(async (ctx, next) => {
  try {
    if (ctx.path === '/_fault') {
      if (ctx.method !== 'POST') ctx.throw(405, 'POST only');
      const mode = String(ctx.query.mode ?? '');
      if (!MODES.has(mode)) ctx.throw(400, `mode must be one of ${[...MODES].join(', ')}`);
      faultMode = mode;
      console.error(`idp: fault mode = ${mode}`);
      ctx.status = 204;
      return;
    }
    if (ctx.path.startsWith('/interaction/')) {
      await interactions(ctx);
      return;
    }
  } catch (err) {
    console.error(`idp: ${ctx.method} ${ctx.path}: ${err.message}`);
    ctx.status = err.status ?? 400;
    ctx.type = 'text';
    ctx.body = `error: ${err.message}`;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && faultMode !== 'none') {
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, faultMode) };
  }
});

provider.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`IDP READY ${ISSUER}\n`);
});
