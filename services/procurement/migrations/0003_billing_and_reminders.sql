-- Who pays a library's share: its organisation (business ID, e-invoice address) when
-- membership's events carry it; null means the library itself.
ALTER TABLE members ADD COLUMN payer jsonb;

-- A closed billing period of an agreement and the invoice lines issued for it. Periods of
-- one agreement never overlap, and a closed period is never recomputed.
CREATE TABLE billing_periods (
    agreement_id  text NOT NULL REFERENCES agreements (id),
    start_on      date NOT NULL,
    end_on        date NOT NULL CHECK (end_on >= start_on),
    cost_cents    bigint NOT NULL CHECK (cost_cents >= 0),
    lines         jsonb NOT NULL,
    closed_by     text NOT NULL,
    closed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agreement_id, start_on)
);

-- Cancellation-deadline reminders sent, one row per (agreement, deadline, lead): inserting
-- the row and recording the event in one transaction sends each exactly once, across
-- restarts and replicas.
CREATE TABLE reminders_sent (
    agreement_id  text NOT NULL REFERENCES agreements (id),
    deadline      date NOT NULL,
    days_before   integer NOT NULL,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agreement_id, deadline, days_before)
);
