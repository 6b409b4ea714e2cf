-- The procurement decision's lots discontinued for want of a conforming bid, and corrections
-- of the decision (hankintaoikaisu, Act 1397/2016 sections 132-135).

-- Which revision of the decision an award belongs to: 1 for the first decision, +1 for each
-- correction. The awards table holds the decision in force; a correction replaces its rows
-- and keeps the ones it replaced in decision_corrections.superseded.
ALTER TABLE awards ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1);

-- A lot of a divided tender discontinued in the decision in force, with the ground.
CREATE TABLE discontinued_lots (
    tender_id  text    NOT NULL REFERENCES tenders (id),
    lot_id     text    NOT NULL,
    ground     text    NOT NULL,
    revision   integer NOT NULL CHECK (revision >= 1),
    PRIMARY KEY (tender_id, lot_id)
);

CREATE TABLE decision_corrections (
    tender_id     text        NOT NULL REFERENCES tenders (id),
    revision      integer     NOT NULL CHECK (revision >= 2),
    reason        text        NOT NULL,
    corrected_at  timestamptz NOT NULL,
    corrected_by  text        NOT NULL,
    decision_id   text REFERENCES decisions (id),
    -- The awards and discontinued lots of the revision this one replaced, as they were.
    superseded    jsonb       NOT NULL,
    PRIMARY KEY (tender_id, revision)
);

-- A correction may name the recorded decision (the decision body's) that approved it.
ALTER TABLE decision_refs DROP CONSTRAINT decision_refs_action_check;
ALTER TABLE decision_refs ADD CONSTRAINT decision_refs_action_check
    CHECK (action IN ('tender-published', 'tender-awarded', 'decision-corrected',
                      'agreement-renewed'));
