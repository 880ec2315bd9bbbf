// A real OpenID Connect provider for the single sign-on tests: node `oidc-provider` (a certified implementation)
// with test clients, users with groups read from a JSON file at every login (a test edits the file to move a user
// between groups), a plain login page Playwright can fill, client credentials with JWT access tokens for the API,
// and RP-initiated logout. A fresh RSA signing key is made at every start, so a restart is a key rotation.
//
//   node server.mjs CONFIG.json      (prints "ready <issuer>" once it listens)
//
// CONFIG: {"port", "users_file", "clients": [...oidc-provider client metadata, plus "groups" for client
// credentials], "api_audience", "access_token_ttl"}
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const users = () => JSON.parse(readFileSync(config.users_file, 'utf8'));

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
signingKey.kid = randomUUID();
signingKey.use = 'sig';
signingKey.alg = 'RS256';

function account(id) {
  const user = users()[id];
  if (!user) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        preferred_username: user.username ?? id,
        email: user.email,
        email_verified: true,
        name: [user.given_name, user.family_name].filter(Boolean).join(' '),
        given_name: user.given_name,
        family_name: user.family_name,
        groups: user.groups ?? [],
      };
    },
  };
}

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:24rem;margin:3rem auto"><h1>Test identity provider</h1>${body}</body></html>`;

const provider = new Provider(issuer, {
  clients: config.clients,
  extraClientMetadata: { properties: ['groups'] },
  jwks: { keys: [signingKey] },
  cookies: { keys: ['test-provider-cookie-key'] },
  findAccount: (_ctx, id) => account(id),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'api'],
  // The ID token carries the scopes' claims, as Keycloak, Okta and Entra ID do by default.
  conformIdTokenClaims: false,
  // PKCE required for every client, so a relying party that does not send it fails the tests.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}<p>Signing out…</p><script>
          const f = document.getElementById('op.logoutForm');
          const i = document.createElement('input'); i.type = 'hidden'; i.name = 'logout'; i.value = 'yes';
          f.appendChild(i); f.submit();</script>`);
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, _client, oneOf) =>
        oneOf ?? (ctx.oidc.params?.grant_type === 'client_credentials' ? config.api_audience : undefined),
      getResourceServerInfo: async () => ({
        scope: 'api',
        audience: config.api_audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: config.access_token_ttl ?? 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: async (ctx, token) => {
    if (token.kind === 'ClientCredentials') return { groups: ctx.oidc.client.groups ?? [] };
    if (token.accountId) return { groups: users()[token.accountId]?.groups ?? [] };
    return undefined;
  },
  ttl: {
    AccessToken: 600,
    ClientCredentials: config.access_token_ttl ?? 600,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return Object.fromEntries(new URLSearchParams(raw));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (action === 'login' && req.method === 'POST') {
    const form = await formBody(req);
    const user = users()[form.login];
    if (!user || user.password !== form.password) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(loginPage(uid, 'Invalid username or password.'));
      return;
    }
    const grant = new provider.Grant({ accountId: form.login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: form.login }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(loginPage(uid));
}

function loginPage(uid, error) {
  return page(
    'Sign in',
    `${error ? `<p role="alert">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label>Username <input name="login" autocomplete="username" autofocus></label><br>
      <label>Password <input name="password" type="password" autocomplete="current-password"></label><br>
      <button type="submit">Sign in</button>
    </form>`,
  );
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(?:\/(login))?/);
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.message}`);
  }
  return undefined;
});
server.listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
