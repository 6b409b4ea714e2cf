-- The Act on Public Procurement (1397/2016): procedure, estimated value and threshold
-- class of a tender; rejected and excluded bids with their grounds; the decision's service
-- and standstill; appeals to the Market Court; the reasons an agreement departs from the
-- awarded price or the framework-length limit.

ALTER TABLE tenders
    ADD COLUMN procedure                    text   NOT NULL DEFAULT 'open',
    ADD COLUMN estimated_value_cents        bigint NOT NULL DEFAULT 0
        CHECK (estimated_value_cents >= 0),
    ADD COLUMN threshold_class              text   NOT NULL DEFAULT 'below-national',
    ADD COLUMN purchasing_body_name         text,
    ADD COLUMN purchasing_body_business_id  text,
    ADD COLUMN optional_targets             text[] NOT NULL DEFAULT '{}';

-- Rejections and exclusions recorded by people before the decision. The minimum-requirement
-- rejections found at the decision are kept in awards.rejections with them.
CREATE TABLE bid_rejections (
    bid_id       text PRIMARY KEY REFERENCES bids (id),
    tender_id    text NOT NULL REFERENCES tenders (id),
    kind         text NOT NULL CHECK (kind IN ('rejected', 'excluded')),
    ground       text NOT NULL,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bid_rejections_tender ON bid_rejections (tender_id);

ALTER TABLE awards
    ADD COLUMN served_at           timestamptz,
    ADD COLUMN standstill_ends_on  date,
    ADD COLUMN rejections          jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN lot_id              text  NOT NULL DEFAULT '1';

CREATE TABLE appeals (
    tender_id    text NOT NULL REFERENCES tenders (id),
    case_number  text NOT NULL,
    lodged_on    date NOT NULL,
    suspends     boolean NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'dismissed', 'upheld', 'withdrawn')),
    resolved_on  date,
    note         text NOT NULL DEFAULT '',
    PRIMARY KEY (tender_id, case_number)
);

ALTER TABLE agreements
    ADD COLUMN price_amendment          text,
    ADD COLUMN framework_justification  text;
