-- The batch whose product gave a record its description (everything but its 856 links).
-- When two products of one title tie in richness, a product of a later delivery wins and
-- two of one delivery are ordered by content; a file read in chunks needs to know, for a
-- record it has already changed, whether that description came from this very delivery.
-- NULL for records stored before this column: their description is from an earlier batch.
ALTER TABLE records ADD COLUMN base_batch text;
