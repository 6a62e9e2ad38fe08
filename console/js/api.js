// The management REST API, called with the signed-in user's access token.

import { accessToken, justSignedIn, signIn } from './auth.js';

/** An error answer of the API: `{ code, message, field, violations }` and the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `the server answered ${status}`);
    this.status = status;
    this.code = body?.code || `http.${status}`;
    this.field = body?.field || null;
    this.violations = Array.isArray(body?.violations) ? body.violations : [];
  }
}

async function send(method, path, { body, contentType, headers = {} } = {}) {
  const token = accessToken();
  if (!token) {
    await signIn({ silent: true });
    throw new ApiError(401, { code: 'unauthenticated', message: 'signing in again' });
  }
  const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    if (contentType) {
      init.body = body;
      init.headers['Content-Type'] = contentType;
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { code: 'network', message: `the server cannot be reached (${error.message})` });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (response.status === 401 && !justSignedIn()) {
    // The token expired or was revoked: sign in again without a prompt when the session still exists.
    await signIn({ silent: true });
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** The API client: `api.get(path)`, `api.post(path, body)`, … */
export const api = {
  get: (path, query) => send('GET', query ? `${path}?${new URLSearchParams(clean(query))}` : path),
  post: (path, body) => send('POST', path, { body: body ?? {} }),
  put: (path, body) => send('PUT', path, { body: body ?? {} }),
  del: (path) => send('DELETE', path),
  upload: (path, bytes) => send('POST', path, { body: bytes, contentType: 'application/wasm' }),
};

function clean(query) {
  const out = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') out[key] = String(value);
  }
  return out;
}

/** Encodes one path segment. */
export const seg = (value) => encodeURIComponent(value);
