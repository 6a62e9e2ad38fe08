-- Spooler bookkeeping. A projection reads the stream of every instance, so these rows are per projection,
-- not per instance; failed events carry the instance of the event.

-- One row per projection: its checkpoint (moved in the same transaction as its view changes) and the lease
-- that lets exactly one node run it.
CREATE TABLE projection_state (
    projection     TEXT    PRIMARY KEY,
    -- Checkpoint: the view reflects every event the projection reads up to (tx_id, position).
    tx_id          INTEGER NOT NULL DEFAULT 0,
    position       INTEGER NOT NULL DEFAULT 0,
    -- created_at (µs since the Unix epoch) of the newest event applied.
    last_event_at  INTEGER NOT NULL DEFAULT 0,
    -- When the checkpoint last moved, µs since the Unix epoch.
    updated_at     INTEGER NOT NULL DEFAULT 0,
    -- The node running the projection, the fencing token of its lease (bumped whenever the lease changes
    -- hands) and when the lease lapses (µs, database clock).
    holder         TEXT,
    lease_token    INTEGER NOT NULL DEFAULT 0,
    lease_until    INTEGER NOT NULL DEFAULT 0,
    -- How often the view was rebuilt from the start of the stream.
    rebuilds       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Events a projection failed to apply: retried with back-off while `skipped` is false, then skipped and kept
-- here so the failure stays visible.
CREATE TABLE projection_failures (
    projection       TEXT    NOT NULL,
    position         INTEGER NOT NULL,
    tx_id            INTEGER NOT NULL,
    instance_id      TEXT    NOT NULL,
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    sequence         INTEGER NOT NULL,
    event_type       TEXT    NOT NULL,
    error            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    first_failed_at  INTEGER NOT NULL,
    last_failed_at   INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    skipped          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (projection, position)
) WITHOUT ROWID;
