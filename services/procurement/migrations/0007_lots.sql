-- Lots (Act 1397/2016 section 75): a tender may be divided into lots, each with its own
-- needs, criteria and price model; a bid answers one lot; the decision is one award per lot
-- and each lot's framework agreement is signed on its own. A tender without lots is its one
-- lot '1', so every existing row keeps its meaning.

-- Part of the tender aggregate, always read and written with it, in the published order:
-- [{"id", "title", "need_ids", "criteria": {price, quality, compatibility}, "price_model"}].
ALTER TABLE tenders ADD COLUMN lots jsonb NOT NULL DEFAULT '[]';

ALTER TABLE bids ADD COLUMN lot_id text NOT NULL DEFAULT '1';

ALTER TABLE awards DROP CONSTRAINT awards_pkey;
ALTER TABLE awards ADD PRIMARY KEY (tender_id, lot_id);

ALTER TABLE agreements ADD COLUMN lot_id text NOT NULL DEFAULT '1';
ALTER TABLE agreements DROP CONSTRAINT agreements_tender_id_key;
ALTER TABLE agreements ADD CONSTRAINT agreements_tender_lot UNIQUE (tender_id, lot_id);
