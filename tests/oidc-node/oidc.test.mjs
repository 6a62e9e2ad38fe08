// Warden's OpenID Connect provider driven by openid-client (a certified, strict relying party) over HTTP,
// against the `warden` binary (WARDEN_BIN, default target/debug/warden under CARGO_TARGET_DIR or ./target) on a
// fresh SQLite data directory: discovery, client credentials for a machine user, and the code flow with PKCE
// through the login form (ID token validation, userinfo, refresh with rotation, introspection, revocation,
// end session); a client registered with EdDSA ID tokens; an API application's own token and its introspection
// of a user's token; opaque client-credentials tokens of an API application and a machine user, revoked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as client from 'openid-client';

const repo = resolve(import.meta.dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const bin = process.env.WARDEN_BIN || join(target, 'debug', 'warden');
const PASSWORD = 'Correct-Horse-Battery-9';
const REDIRECT = 'https://rp.example.com/callback';

let server;
let base;
let dataDir;
let token;

function startWarden() {
  dataDir = mkdtempSync(join(tmpdir(), 'warden-oidc-node-'));
  const env = { ...process.env, WARDEN_LOG_LEVEL: 'info' };
  delete env.WARDEN_DATABASE_URL;
  delete env.WARDEN_EXTERNAL_URL;
  const child = spawn(bin, ['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolvePromise, reject) => {
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /addr=(\S+)/.exec(log);
      if (match && !base) {
        base = `http://${match[1]}`;
        resolvePromise(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`warden exited (${code}):\n${log}`)));
  });
}

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Waits until a read by id answers (the login page and the token endpoint look names up in the views).
async function seen(path) {
  for (let i = 0; i < 100; i++) {
    const found = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
    if (found.ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} never appeared`);
}

// The hidden and named inputs of each form of a page.
function forms(html) {
  const out = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const action = /action="([^"]*)"/.exec(match[1])?.[1] ?? '';
    const fields = {};
    for (const input of match[2].matchAll(/<input\b([^>]*)>/g)) {
      const name = /name="([^"]*)"/.exec(input[1])?.[1];
      const value = /value="([^"]*)"/.exec(input[1])?.[1] ?? '';
      if (name) fields[name] = value.replaceAll('&amp;', '&').replaceAll('&quot;', '"');
    }
    out.push({ action: action.replaceAll('&amp;', '&'), fields });
  }
  return out;
}

// A browser without JavaScript: follows redirects by hand, keeps cookies, fills the login forms, and returns
// the first redirect that leaves Warden (the client's callback with code, state and iss).
async function logIn(startUrl, loginName, password) {
  const jar = new Map();
  let url = new URL(startUrl);
  let post;
  for (let step = 0; step < 20; step++) {
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    let init = { redirect: 'manual', headers };
    if (post) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init = { ...init, method: 'POST', body: new URLSearchParams(post).toString() };
      post = undefined;
    }
    const response = await fetch(url, init);
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...rest] = pair.split('=');
      jar.set(name.trim(), rest.join('='));
    }
    if (response.status >= 300 && response.status < 400) {
      const next = new URL(response.headers.get('location'), url);
      if (next.origin !== new URL(base).origin) return next;
      url = next;
      continue;
    }
    const html = await response.text();
    assert.ok(response.status < 500, `${url}: ${response.status} ${html}`);
    const found = forms(html);
    const passwordForm = found.find((f) => 'password' in f.fields);
    const nameForm = found.find((f) => 'login_name' in f.fields);
    if (passwordForm) {
      post = { ...passwordForm.fields, password };
      url = new URL(passwordForm.action, url);
    } else if (nameForm) {
      post = { ...nameForm.fields, login_name: loginName };
      url = new URL(nameForm.action, url);
    } else {
      throw new Error(`no login form on ${url}:\n${html}`);
    }
  }
  throw new Error('the login did not finish');
}

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: build it with \`cargo build -p warden\``);
  server = await startWarden();
  token = readFileSync(join(dataDir, 'admin.pat'), 'utf8').trim();
});

after(() => {
  server?.kill('SIGTERM');
});

test('discovery and client credentials for a machine user', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Node Org' });
  const bot = await api('POST', '/api/v1/users/machine', { org_id: org.id, login_name: 'node-bot', name: 'Node bot' });
  const { client_secret } = await api('PUT', `/api/v1/users/${bot.id}/secret`);
  await seen(`/api/v1/users/${bot.id}`);
  const config = await client.discovery(new URL(base), 'node-bot', client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  assert.equal(config.serverMetadata().issuer, base);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'urn:warden:api' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  const introspected = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(introspected.active, true);
  assert.equal(introspected.sub, bot.id);
});

test('code flow with PKCE through the login form', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Shop Org' });
  const project = await api('POST', '/api/v1/projects', { org_id: org.id, name: 'Shop' });
  const app = await api('POST', `/api/v1/projects/${project.id}/apps/oidc`, {
    name: 'Shop web',
    app_type: 'web',
    redirect_uris: [REDIRECT],
    post_logout_redirect_uris: ['https://rp.example.com/'],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    auth_method: 'basic',
    access_token_type: 'jwt',
  });
  await seen(`/api/v1/apps/${app.id}`);
  const user = await api('POST', '/api/v1/users/human', {
    org_id: org.id,
    login_name: 'ada',
    given_name: 'Ada',
    family_name: 'Lovelace',
    email: 'ada@example.com',
    email_verified: true,
    password: PASSWORD,
  });
  await seen(`/api/v1/users/${user.id}`);

  const config = await client.discovery(new URL(base), app.client_id, app.client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid email profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const callback = await logIn(url, 'ada', PASSWORD);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.sub, user.id);
  assert.equal(claims.iss, base);
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.email, 'ada@example.com');

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), 'a used refresh token is refused');
  // The reuse revoked the chain: the newest refresh token is dead too.
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token));

  const again = await client.authorizationCodeGrant(
    config,
    await logIn(
      client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      }),
      'ada',
      PASSWORD,
    ),
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
  );
  assert.equal((await client.tokenIntrospection(config, again.access_token)).active, true);
  await client.tokenRevocation(config, again.refresh_token);
  assert.equal((await client.tokenIntrospection(config, again.access_token)).active, false);

  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: again.id_token,
    post_logout_redirect_uri: 'https://rp.example.com/',
    state: 'bye',
  });
  const response = await fetch(logout, { redirect: 'manual' });
  assert.equal(response.status, 303);
  assert.equal(response.headers.get('location'), 'https://rp.example.com/?state=bye');
});

test('a client registered with EdDSA ID tokens, and an API application as resource server', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Ledger Org' });
  const project = await api('POST', '/api/v1/projects', { org_id: org.id, name: 'Ledger' });
  const app = await api('POST', `/api/v1/projects/${project.id}/apps/oidc`, {
    name: 'Ledger web',
    app_type: 'web',
    redirect_uris: [REDIRECT],
    auth_method: 'basic',
    access_token_type: 'jwt',
    id_token_signed_response_alg: 'EdDSA',
    access_token_signed_response_alg: 'EdDSA',
  });
  const resource = await api('POST', `/api/v1/projects/${project.id}/apps/api`, {
    name: 'Ledger API',
    auth_method: 'basic',
  });
  await seen(`/api/v1/apps/${app.id}`);
  await seen(`/api/v1/apps/${resource.id}`);
  const user = await api('POST', '/api/v1/users/human', {
    org_id: org.id,
    login_name: 'grace',
    given_name: 'Grace',
    family_name: 'Hopper',
    email: 'grace@example.com',
    email_verified: true,
    password: PASSWORD,
  });
  await seen(`/api/v1/users/${user.id}`);

  const config = await client.discovery(
    new URL(base),
    app.client_id,
    { client_secret: app.client_secret, id_token_signed_response_alg: 'EdDSA' },
    undefined,
    { execute: [client.allowInsecureRequests] },
  );
  assert.ok(config.serverMetadata().id_token_signing_alg_values_supported.includes('EdDSA'));
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const tokens = await client.authorizationCodeGrant(config, await logIn(url, 'grace', PASSWORD), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const header = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
  assert.equal(header(tokens.id_token).alg, 'EdDSA');
  assert.equal(header(tokens.access_token).alg, 'EdDSA');
  assert.equal(tokens.claims().sub, user.id);
  assert.equal(tokens.refresh_token, undefined, 'no refresh token without offline_access');
  const info = await client.fetchUserInfo(config, tokens.access_token, user.id);
  assert.equal(info.email, 'grace@example.com');

  // The API application: its own token by client credentials, and introspection of the user's token.
  const rs = await client.discovery(new URL(base), resource.client_id, resource.client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const own = await client.clientCredentialsGrant(rs, { scope: 'ledger:read' });
  assert.equal(own.scope, 'ledger:read');
  const self = await client.tokenIntrospection(rs, own.access_token);
  assert.equal(self.active, true);
  assert.equal(self.sub, resource.client_id);
  assert.equal(self.client_id, resource.client_id);
  const seenByRs = await client.tokenIntrospection(rs, tokens.access_token);
  assert.equal(seenByRs.active, true);
  assert.equal(seenByRs.sub, user.id);
  assert.equal(seenByRs.username, 'grace');
});

test('opaque client-credentials tokens of an API application and of a machine user', async () => {
  const org = await api('POST', '/api/v1/orgs', { name: 'Vault Org' });
  const project = await api('POST', '/api/v1/projects', { org_id: org.id, name: 'Vault' });
  const resource = await api('POST', `/api/v1/projects/${project.id}/apps/api`, {
    name: 'Vault API',
    auth_method: 'basic',
    access_token_type: 'opaque',
  });
  const bot = await api('POST', '/api/v1/users/machine', {
    org_id: org.id,
    login_name: 'vault-bot',
    name: 'Vault bot',
    access_token_type: 'opaque',
  });
  const { client_secret: botSecret } = await api('PUT', `/api/v1/users/${bot.id}/secret`);
  await seen(`/api/v1/apps/${resource.id}`);
  await seen(`/api/v1/users/${bot.id}`);
  for (const [clientId, secret, sub] of [
    [resource.client_id, resource.client_secret, resource.client_id],
    ['vault-bot', botSecret, bot.id],
  ]) {
    const config = await client.discovery(new URL(base), clientId, secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'vault:read' });
    assert.ok(tokens.access_token.startsWith('wdn_at_'), tokens.access_token);
    const active = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(active.active, true);
    assert.equal(active.sub, sub);
    await client.tokenRevocation(config, tokens.access_token);
    const revoked = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(revoked.active, false);
  }
});
