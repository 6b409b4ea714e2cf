-- Coming deadlines: an agreement's cancellation deadline (from cancellation-deadline-approaching,
-- the latest reminder wins) and a tender decision's standstill end (from tender-awarded v2;
-- standstill-ended marks it passed). One row per (kind, the agreement's or tender's id).
CREATE TABLE deadlines (
    kind       text NOT NULL CHECK (kind IN ('cancellation', 'standstill')),
    ref_id     text NOT NULL,
    title      text,
    due_on     date NOT NULL,
    passed     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (kind, ref_id)
);

-- Consortium agreement versions and who was asked to accept each; acceptances are kept apart,
-- since they travel under another key and may arrive before their version.
CREATE TABLE agreement_versions (
    agreement_version text PRIMARY KEY,
    valid_from        date NOT NULL,
    members_asked     text[] NOT NULL
);

CREATE TABLE agreement_acceptances (
    agreement_version text NOT NULL,
    isil              text NOT NULL,
    PRIMARY KEY (agreement_version, isil)
);

-- Member surveys: open until survey-closed, which brings the answer count.
CREATE TABLE surveys (
    survey_id     text PRIMARY KEY,
    kind          text,
    title         jsonb NOT NULL DEFAULT '{}',
    closes_on     date,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    audience_size integer NOT NULL DEFAULT 0,
    answered      integer
);
