-- Each library's use of an agreement per month and report, from the usage service's
-- usage-reported events: only the latest revision is kept (a correction replaces the earlier
-- figures), and what the usage cost model divides a billing period's cost by.
CREATE TABLE usage_figures (
    agreement_id  text        NOT NULL,
    isil          text        NOT NULL,
    month         text        NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    report        text        NOT NULL,
    revision      integer     NOT NULL CHECK (revision >= 1),
    uses          bigint      NOT NULL CHECK (uses >= 0),
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agreement_id, isil, month, report)
);
