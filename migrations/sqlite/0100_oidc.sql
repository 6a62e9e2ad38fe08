-- OpenID Connect provider state that is not an event: pending authorization requests, authorization codes,
-- grants (one per completed login for a client, the family its tokens revoke together), and the refresh and
-- opaque access tokens every node reads. Secrets are stored as SHA-256 hashes only.

CREATE TABLE oidc_auth_requests (
    instance_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE INDEX oidc_auth_requests_expiry ON oidc_auth_requests (expires_at_ms);

CREATE TABLE oidc_grants (
    instance_id TEXT NOT NULL,
    id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    PRIMARY KEY (instance_id, id)
);

CREATE TABLE oidc_codes (
    instance_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    PRIMARY KEY (instance_id, code_hash)
);
CREATE INDEX oidc_codes_expiry ON oidc_codes (expires_at_ms);

CREATE TABLE oidc_tokens (
    instance_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    grant_id TEXT,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    revoked_at_ms BIGINT,
    PRIMARY KEY (instance_id, token_hash)
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (instance_id, grant_id);
CREATE INDEX oidc_tokens_expiry ON oidc_tokens (expires_at_ms);
