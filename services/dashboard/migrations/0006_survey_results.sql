-- A closed survey's answer counts per question, as survey-closed carries them (since
-- konsortio-contracts 1.11; null for an open survey or an older producer's event).
ALTER TABLE surveys ADD COLUMN results jsonb;
