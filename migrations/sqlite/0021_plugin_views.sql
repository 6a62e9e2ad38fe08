-- Views of projection plugins. Each version of a projection plugin is its own projection (its own spooler,
-- checkpoint and failed events) and writes its own rows, so a new version rebuilds its views by replaying
-- the stream beside the old one; `plugin_view_versions` says which version's rows the API serves.

-- The rows a projection plugin wrote: one JSON document per (table, key) of the plugin's own tables.
-- `updated_at` is the creation time (µs since the Unix epoch) of the event that last wrote the row, so a
-- replay gives the same rows.
CREATE TABLE plugin_view_rows (
    projection   TEXT    NOT NULL,
    instance_id  TEXT    NOT NULL,
    plugin_id    TEXT    NOT NULL,
    table_name   TEXT    NOT NULL,
    row_key      TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (projection, table_name, row_key)
) WITHOUT ROWID;

-- The projection (version) whose rows are served for a plugin.
CREATE TABLE plugin_view_versions (
    instance_id  TEXT    NOT NULL,
    plugin_id    TEXT    NOT NULL,
    projection   TEXT    NOT NULL,
    PRIMARY KEY (instance_id, plugin_id)
) WITHOUT ROWID;
