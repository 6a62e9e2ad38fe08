-- The size in bytes of each row a projection plugin wrote, so quotas (rows and bytes per plugin) and pages
-- bounded by bytes need no scan of the values themselves.
ALTER TABLE plugin_view_rows ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE plugin_view_rows SET size = length(CAST(value AS BLOB));
