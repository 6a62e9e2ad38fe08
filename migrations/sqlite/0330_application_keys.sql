-- The public keys of applications, for private_key_jwt client authentication (the view beside
-- `applications`, kept by the same projection). Only public keys are ever stored.

CREATE TABLE application_keys (
    instance_id    TEXT   NOT NULL,
    app_id         TEXT   NOT NULL,
    key_id         TEXT   NOT NULL,
    format         TEXT   NOT NULL,
    public_key     TEXT   NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, app_id, key_id)
) WITHOUT ROWID;

-- The ids of client assertions already used (RFC 7523 §3: a jti is accepted once), kept until the
-- assertion expires.
CREATE TABLE oidc_client_assertions (
    instance_id    TEXT   NOT NULL,
    client_id      TEXT   NOT NULL,
    jti            TEXT   NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, client_id, jti)
) WITHOUT ROWID;
CREATE INDEX oidc_client_assertions_expiry ON oidc_client_assertions (expires_at_ms);
