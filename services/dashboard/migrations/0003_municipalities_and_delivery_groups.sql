-- The municipalities a member library serves (from membership events), so that libraries
-- sharing a municipality count its population once. Rows written before this column are
-- filled in by the library's next membership event, or by a replay.
ALTER TABLE members ADD COLUMN municipalities text[] NOT NULL DEFAULT '{}';

-- An agreement's validity (its first period's start to its last period's end), shown beside
-- its title: two agreements may carry the same title.
ALTER TABLE agreements ADD COLUMN valid_from date;
ALTER TABLE agreements ADD COLUMN valid_until date;

-- Feed rows that a reader sees as one item: a campaign's or an announcement's messages
-- (one message-delivered event per mail). Every event keeps its own row; the grouped view
-- shows each group once, at its latest row, with its counts.
ALTER TABLE feed ADD COLUMN group_id text;
CREATE INDEX feed_by_group ON feed (group_id, seq) WHERE group_id IS NOT NULL;
