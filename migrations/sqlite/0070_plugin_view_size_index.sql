-- The quota check sums the sizes of a projection plugin's rows after each event that writes. On SQLite the
-- `size` column comes after `value` in each row, so reading it walks every value's overflow pages: the check
-- read the whole view (hundreds of MiB) inside the write transaction. This index covers the check, which
-- then reads only sizes.
CREATE INDEX plugin_view_rows_sizes ON plugin_view_rows (projection, size);
