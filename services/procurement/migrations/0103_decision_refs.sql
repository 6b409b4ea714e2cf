-- Which recorded decision approved which act: a tender's publication, the procurement decision
-- (award) and each renewal of an agreement. Written in the act's own transaction.
CREATE TABLE decision_refs (
    action       text NOT NULL CHECK (action IN ('tender-published', 'tender-awarded',
                                                 'agreement-renewed')),
    subject_id   text NOT NULL,
    decision_id  text NOT NULL REFERENCES decisions (id),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (action, subject_id, decision_id)
);
CREATE INDEX decision_refs_decision ON decision_refs (decision_id);
