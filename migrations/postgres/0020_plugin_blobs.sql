-- Uploaded plugin components, content-addressed by SHA-256 (hex), per instance. Events record who
-- uploaded which digest; every node reads the bytes from here to load a plugin.
CREATE TABLE plugin_blobs (
    instance_id  TEXT   NOT NULL,
    digest       TEXT   NOT NULL,
    bytes        BYTEA  NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (instance_id, digest)
);
