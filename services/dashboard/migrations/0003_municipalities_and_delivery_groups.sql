-- The municipalities a member library serves (from membership events), so that libraries
-- sharing a municipality count its population once. Rows written before this column are
-- filled in by the library's next membership event, or by a replay.
ALTER TABLE members ADD COLUMN municipalities text[] NOT NULL DEFAULT '{}';

-- An agreement's validity (its first period's start to its last period's end), shown beside
-- its title: two agreements may carry the same title.
ALTER TABLE agreements ADD COLUMN valid_from date;
ALTER TABLE agreements ADD COLUMN valid_until date;

-- What caused a message (a campaign, or the event an announcement answers): the feed shows
-- one item per cause and kind with its counts, not one per mail.
ALTER TABLE deliveries ADD COLUMN cause_id text;
CREATE INDEX deliveries_by_cause ON deliveries (cause_id, kind);
