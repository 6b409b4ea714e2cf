-- Suppliers' questions during a tender and the answers published to every bidder.
CREATE TABLE questions (
    id           text PRIMARY KEY,
    tender_id    text NOT NULL REFERENCES tenders (id),
    asked_by     text NOT NULL,
    text         text NOT NULL,
    asked_at     timestamptz NOT NULL,
    answer       text,
    answered_at  timestamptz
);
CREATE INDEX questions_tender ON questions (tender_id);

-- Set when standstill-ended has been published for the decision.
ALTER TABLE awards ADD COLUMN standstill_announced_at timestamptz;
