-- The eventstore: every change to every resource, in commit order.
CREATE TABLE events (
    -- Global position: unique, increasing in commit order (SQLite serializes writers; events are never
    -- deleted, so the rowid never reuses a value).
    position        INTEGER PRIMARY KEY,
    -- Commit group: every event of one push shares it; streams are read in (tx_id, position) order.
    tx_id           INTEGER NOT NULL,
    instance_id     TEXT    NOT NULL,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    creator         TEXT    NOT NULL,
    -- Microseconds since the Unix epoch.
    created_at      INTEGER NOT NULL,
    UNIQUE (instance_id, aggregate_type, aggregate_id, sequence)
);
CREATE INDEX events_stream ON events (tx_id, position);

-- Values that must be unique within an instance (login names, org names, ...),
-- changed in the same transaction as the events that claim or release them.
CREATE TABLE unique_constraints (
    instance_id   TEXT NOT NULL,
    unique_type   TEXT NOT NULL,
    unique_value  TEXT NOT NULL,
    PRIMARY KEY (instance_id, unique_type, unique_value)
) WITHOUT ROWID;
