-- Usage from the usage service's events. One row per (agreement, library, month, report): a
-- correction is a higher revision and replaces the row; a lower or equal revision arriving
-- late (a replay, another partition's order) leaves it as it is, so the highest revision wins
-- whatever order the events come in.
CREATE TABLE usage_reports (
    agreement_id  text    NOT NULL,
    isil          text    NOT NULL,
    period        date    NOT NULL,   -- the month's first day
    report        text    NOT NULL,
    revision      integer NOT NULL,
    source        text,
    uses          bigint  NOT NULL,   -- see services/dashboard/usage.py: uses_of
    titles        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (agreement_id, isil, period, report)
);

-- Harvests that gave up and invoices that did not match: one row per event, counted per kind.
CREATE TABLE usage_issues (
    event_id      text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('harvest-failed', 'invoice-discrepancy')),
    agreement_id  text
);
