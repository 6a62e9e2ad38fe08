// The certified Node OpenID Connect provider `oidc-provider`, configured like Warden's client-credentials path
// for scripts/bench-oidc: one confidential client with client_secret_basic, the client_credentials grant, the
// in-memory adapter (the library's default), introspection, and resource indicators choosing the access
// token format: `resource=urn:bench:jwt` gives ES256 JWT access tokens (`at+jwt`), `resource=urn:bench:opaque`
// gives opaque ones. Access tokens live 1 hour, as Warden's do.
//
//   BENCH_PORT=18090 BENCH_CLIENT_ID=bench BENCH_CLIENT_SECRET=... node server.mjs
//
// It prints `listening` once it accepts connections.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.BENCH_PORT ?? 18090);
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench';
const clientSecret = process.env.BENCH_CLIENT_SECRET;
if (!clientSecret) {
  console.error('BENCH_CLIENT_SECRET is required');
  process.exit(2);
}

const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid,
});

const resources = {
  'urn:bench:jwt': 'jwt',
  'urn:bench:opaque': 'opaque',
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: {
    keys: [
      // ID tokens need an RS256 key; access tokens are signed with ES256, as Warden's are.
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs256'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256'),
    ],
  },
  scopes: ['api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => 'urn:bench:jwt',
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        const format = resources[resource];
        if (!format) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: format,
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: 3600 },
});
provider.proxy = false;

// Warnings about settings a production deployment must change are noise here.
const warn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).includes('oidc-provider')) warn(...args);
};

const server = provider.listen(port, '127.0.0.1', () => {
  console.log('listening');
});
server.keepAliveTimeout = 60_000;
