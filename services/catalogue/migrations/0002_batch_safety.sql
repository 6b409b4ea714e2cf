-- A full load that would withdraw on a broken or mostly rejected file is refused unless a
-- coordinator forces it; the batch records that it was forced.
ALTER TABLE batches ADD COLUMN force boolean NOT NULL DEFAULT false;

-- The process that runs a batch: a name for people (host, pid) and the database session its
-- transaction lives in. A batch still 'processing' whose session is gone has lost its process
-- (a crash, a kill): it is failed at once instead of blocking its collection.
ALTER TABLE batches ADD COLUMN owner text;
ALTER TABLE batches ADD COLUMN owner_pid integer;
ALTER TABLE batches ADD COLUMN owner_since timestamptz;

-- What a record was before the running batch first changed it. When the batch's own
-- duplicates bring a record back to that content (two products of one title in a file), the
-- record has not changed: its datestamp and last-changing batch are restored, so harvesters
-- and Melinda are not sent it again.
ALTER TABLE records ADD COLUMN before_hash text;
ALTER TABLE records ADD COLUMN before_datestamp timestamptz;
ALTER TABLE records ADD COLUMN before_changed_batch text;
ALTER TABLE records ADD COLUMN before_reference text;
ALTER TABLE records ADD COLUMN before_deleted boolean;

-- Stored records that an export or an OAI-PMH response could not render (and so left out):
-- one row per record and place, counted, so a cataloguer can find and reload them.
CREATE TABLE record_findings (
    record_id    bigint      NOT NULL REFERENCES records (id),
    context      text        NOT NULL,   -- 'export' or 'oai-pmh'
    code         text        NOT NULL,
    message      text        NOT NULL,
    occurrences  integer     NOT NULL DEFAULT 1,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, context, code)
);
