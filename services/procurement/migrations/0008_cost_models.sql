-- Cost models as municipalities pay them: a rate per resident a year (per-resident) and
-- population bands with points (population-bands), beside per-capita, base-plus-per-capita
-- and equal. Only the parameters of an agreement's own model are set.

ALTER TABLE agreements
    ADD COLUMN rate_per_resident_cents  numeric(12, 2) CHECK (rate_per_resident_cents > 0),
    -- [{"up_to": int | null, "points": int}], ascending, the last open
    ADD COLUMN cost_share_bands         jsonb NOT NULL DEFAULT '[]';
