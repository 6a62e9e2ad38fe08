// Sign-in through Warden's own OpenID Connect provider: authorization code with PKCE (S256), as a public
// client. Tokens live only in this module's memory; the PKCE verifier, state and nonce are kept in
// sessionStorage only across the redirect to the login page and back.

const PENDING = 'warden.console.signin';
const SILENT_TRIED = 'warden.console.silent';

let config = null;
let discovery = null;
let tokens = null;

/** The console's configuration: issuer and client id. */
export async function loadConfig() {
  if (!config) {
    const response = await fetch('/console/config.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`cannot read the console configuration (${response.status})`);
    config = await response.json();
  }
  return config;
}

async function loadDiscovery() {
  if (!discovery) {
    const { issuer } = await loadConfig();
    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`the OpenID provider's discovery document is not available (${response.status})`);
    discovery = await response.json();
  }
  return discovery;
}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(length = 32) {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  return base64url(bytes);
}

// SHA-256 for pages served over plain http on a non-local host, where crypto.subtle is unavailable.
function sha256Fallback(bytes) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const length = bytes.length;
  const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 4, length * 8);
  view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
  const W = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) W[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
      const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  H.forEach((word, i) => outView.setUint32(i * 4, word));
  return out;
}

async function sha256(text) {
  const bytes = new TextEncoder().encode(text);
  if (globalThis.crypto?.subtle) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }
  return sha256Fallback(bytes);
}

// The URIs registered for the console at first start, under the issuer.
function redirectUri() {
  return `${config.issuer}/console/callback`;
}

/** Sends the browser to the authorization endpoint; `silent` asks for `prompt=none`. */
export async function signIn({ silent = false } = {}) {
  const [{ client_id: clientId }, provider] = await Promise.all([loadConfig(), loadDiscovery()]);
  if (!clientId) throw new Error('the console is not registered as an application of this instance');
  const verifier = randomString(48);
  const state = randomString(24);
  const nonce = randomString(24);
  const challenge = base64url(await sha256(verifier));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, returnTo: location.hash || '#/', silent }));
  if (silent) sessionStorage.setItem(SILENT_TRIED, '1');
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri(),
    // urn:warden:api puts the management API among the access token's audiences.
    scope: 'openid profile email urn:warden:api',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  if (silent) params.set('prompt', 'none');
  location.assign(`${provider.authorization_endpoint}?${params}`);
}

function decodeJwt(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return {};
  }
}

/**
 * Finishes a sign-in when the page is the redirect back from the provider. Returns
 * `{ signedIn: true }`, `{ signedIn: false, error }` or `null` when the page is not a callback.
 */
export async function completeSignIn() {
  if (location.pathname !== '/console/callback') return null;
  const query = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  const returnTo = pending?.returnTo || '#/';
  history.replaceState(null, '', `/console/${returnTo}`);
  if (!pending || query.get('state') !== pending.state) {
    return { signedIn: false, error: 'The sign-in answer does not belong to this browser tab; sign in again.' };
  }
  const { issuer, client_id: clientId } = await loadConfig();
  if (query.has('iss') && query.get('iss') !== issuer) {
    return { signedIn: false, error: 'The sign-in answer came from another issuer.' };
  }
  if (query.has('error')) {
    const error = query.get('error');
    if (pending.silent && ['login_required', 'interaction_required', 'consent_required', 'account_selection_required'].includes(error)) {
      return { signedIn: false, error: null };
    }
    return { signedIn: false, error: query.get('error_description') || error };
  }
  const provider = await loadDiscovery();
  const response = await fetch(provider.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: query.get('code') || '',
      redirect_uri: redirectUri(),
      client_id: clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    return { signedIn: false, error: body.error_description || body.error || `the token endpoint answered ${response.status}` };
  }
  const claims = body.id_token ? decodeJwt(body.id_token) : {};
  if (body.id_token && claims.nonce !== undefined && claims.nonce !== pending.nonce) {
    return { signedIn: false, error: 'The ID token does not match this sign-in (nonce).' };
  }
  if (provider.userinfo_endpoint && !claims.name) {
    // The ID token may carry only the subject; the profile comes from userinfo.
    try {
      const info = await fetch(provider.userinfo_endpoint, { headers: { Authorization: `Bearer ${body.access_token}` } });
      if (info.ok) Object.assign(claims, await info.json(), { nonce: claims.nonce });
    } catch {
      // Display only: the subject will do.
    }
  }
  tokens = {
    signedInAt: Date.now(),
    accessToken: body.access_token,
    idToken: body.id_token || null,
    claims,
    expiresAt: Date.now() + (Number(body.expires_in) || 3600) * 1000,
  };
  sessionStorage.removeItem(SILENT_TRIED);
  return { signedIn: true };
}

/** Whether a silent sign-in was tried since the last successful one (so a reload does not loop). */
export function silentTried() {
  return sessionStorage.getItem(SILENT_TRIED) === '1';
}

/** Forgets that a silent sign-in was tried. */
export function resetSilent() {
  sessionStorage.removeItem(SILENT_TRIED);
}

/** The access token, or null when signed out or expired. */
export function accessToken() {
  if (!tokens || Date.now() >= tokens.expiresAt) return null;
  return tokens.accessToken;
}

/**
 * Whether the tokens are fresh from a sign-in: an API that refuses them then will refuse the next ones too,
 * so signing in again would only loop.
 */
export function justSignedIn() {
  return Boolean(tokens && Date.now() - tokens.signedInAt < 30000);
}

/** Who is signed in, from the ID token's claims (for display only). */
export function currentUser() {
  if (!tokens) return null;
  const c = tokens.claims || {};
  return { id: c.sub || '', name: c.name || c.preferred_username || c.email || c.sub || 'signed in' };
}

/** Ends the session at the provider (RP-initiated logout) and forgets the tokens. */
export async function signOut() {
  const [{ client_id: clientId }, provider] = await Promise.all([loadConfig(), loadDiscovery()]);
  const idToken = tokens?.idToken;
  tokens = null;
  sessionStorage.setItem(SILENT_TRIED, '1');
  if (!provider.end_session_endpoint) {
    location.assign('/console/');
    return;
  }
  const params = new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: `${config.issuer}/console/` });
  if (idToken) params.set('id_token_hint', idToken);
  location.assign(`${provider.end_session_endpoint}?${params}`);
}
