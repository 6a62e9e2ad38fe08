-- The eventstore: every change to every resource.
CREATE TABLE events (
    -- Global position: unique and increasing in allocation order (not commit order).
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction. Readers of the global stream order by (tx_id, position) and read only
    -- below the oldest transaction still running, so a late commit never lands behind a reader.
    tx_id           BIGINT  NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    instance_id     TEXT    NOT NULL,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    payload         JSONB   NOT NULL,
    creator         TEXT    NOT NULL,
    -- Microseconds since the Unix epoch.
    created_at      BIGINT  NOT NULL,
    CONSTRAINT events_aggregate_sequence UNIQUE (instance_id, aggregate_type, aggregate_id, sequence)
);
CREATE INDEX events_stream ON events (tx_id, position);

-- Values that must be unique within an instance (login names, org names, ...),
-- changed in the same transaction as the events that claim or release them.
CREATE TABLE unique_constraints (
    instance_id   TEXT NOT NULL,
    unique_type   TEXT NOT NULL,
    unique_value  TEXT NOT NULL,
    PRIMARY KEY (instance_id, unique_type, unique_value)
);
