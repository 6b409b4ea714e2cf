-- When each figure last changed: a library's digest for a closed month waits until its figures
-- have been quiet for a while (usage_digest_quiet_s), so that every agreement's figures and
-- their corrections go into its one digest.
ALTER TABLE usage_figures ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
