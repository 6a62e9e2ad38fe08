-- The quota check sums the sizes of a projection plugin's rows after each event that writes: this index
-- lets it read only sizes (an index-only scan), never the rows' values, as on SQLite.
CREATE INDEX plugin_view_rows_sizes ON plugin_view_rows (projection, size);
