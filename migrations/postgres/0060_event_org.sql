-- The organization an event belongs to, recorded by the command that stored it (NULL: the instance itself,
-- or no organization could be derived). Org owners read their organization's audit trail through it.
ALTER TABLE events ADD COLUMN org_id TEXT;

-- Older events: an organization's own events belong to it; users, projects, applications and user grants
-- belong to the organization named in their aggregate's first event.
UPDATE events SET org_id = aggregate_id WHERE aggregate_type = 'org';
UPDATE events AS e SET org_id = NULLIF(first.payload->>'org_id', '')
FROM events AS first
WHERE e.aggregate_type IN ('user', 'project', 'application', 'user_grant')
  AND first.instance_id = e.instance_id
  AND first.aggregate_type = e.aggregate_type
  AND first.aggregate_id = e.aggregate_id
  AND first.sequence = 1;

CREATE INDEX events_org ON events (org_id, tx_id, position) WHERE org_id IS NOT NULL;
