-- The kind of a machine user's access tokens (`jwt` or `opaque`), shown with the machine user. Empty for
-- humans; empty for machines projected before the setting existed, which read as `jwt`, as they were.
ALTER TABLE users ADD COLUMN access_token_type TEXT;
