-- A collection holds one supplier's titles: one per framework agreement (its id is the
-- agreement's id), or one a cataloguer made for titles outside any agreement.
CREATE TABLE collections (
    id              text PRIMARY KEY,
    agreement_id    text UNIQUE,
    title           text        NOT NULL,
    supplier        text,
    product         text,
    material_types  text[]      NOT NULL DEFAULT '{}',
    signed_on       date,
    ended_on        date,           -- first day the agreement is no longer in force
    ended_kind      text,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Catalogue's own copy of who takes part in which agreement, from procurement's and
-- membership's events. A re-join after leaving adds a row; history is kept.
CREATE TABLE participations (
    id            bigserial PRIMARY KEY,
    agreement_id  text NOT NULL,
    isil          text NOT NULL,
    joined_on     date NOT NULL,
    left_on       date,            -- first day no longer participating
    leave_reason  text,            -- opt-out, membership-ended, agreement-ended
    UNIQUE (agreement_id, isil, joined_on),
    CHECK (left_on IS NULL OR left_on >= joined_on)
);
CREATE INDEX participations_by_isil ON participations (isil);

-- What has been applied: whether a library's record set holds a collection's records now.
-- Participation dates say what should be; the difference is what a reconcile applies.
CREATE TABLE record_sets (
    isil           text        NOT NULL,
    collection_id  text        NOT NULL REFERENCES collections (id),
    available      boolean     NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isil, collection_id)
);
CREATE INDEX record_sets_by_collection ON record_sets (collection_id) WHERE available;

-- One load of a supplier title list. Its status row is committed before the records are
-- processed (so progress can be watched); the records, findings and events of the batch
-- commit together at its end, or not at all.
CREATE TABLE batches (
    id             text PRIMARY KEY,
    collection_id  text        NOT NULL REFERENCES collections (id),
    format         text        NOT NULL CHECK (format IN ('onix', 'marc', 'marcxml', 'kbart')),
    mode           text        NOT NULL CHECK (mode IN ('full', 'delta')),
    filename       text,
    size_bytes     bigint      NOT NULL,
    sha256         text        NOT NULL,
    language       text,
    url_template   text,
    status         text        NOT NULL CHECK (status IN ('processing', 'done', 'failed')),
    error          text,
    processed      integer     NOT NULL DEFAULT 0,
    counts         jsonb,
    report         jsonb,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX batches_by_collection ON batches (collection_id, created_at DESC);
CREATE UNIQUE INDEX one_batch_at_a_time ON batches (collection_id) WHERE status = 'processing';

CREATE TABLE batch_findings (
    batch_id   text    NOT NULL REFERENCES batches (id),
    position   integer NOT NULL,
    reference  text,
    severity   text    NOT NULL,
    code       text    NOT NULL,
    field      text    NOT NULL,
    message    text    NOT NULL
);
CREATE INDEX batch_findings_by_batch ON batch_findings (batch_id, position);

-- One record per title in a collection. The match key (normalised ISBN-13 or ISSN) is unique
-- within a collection; the same work in two collections is two records sharing the key.
-- marc is the normalised record as ISO 2709, without 005 (exports add it from datestamp).
CREATE TABLE records (
    id             bigserial PRIMARY KEY,
    collection_id  text        NOT NULL REFERENCES collections (id),
    match_key      text        NOT NULL,
    content_hash   text        NOT NULL,
    marc           bytea       NOT NULL,
    title          text        NOT NULL,
    reference      text,
    deleted        boolean     NOT NULL DEFAULT false,
    created_batch  text        NOT NULL,
    changed_batch  text        NOT NULL,   -- last batch that created, changed or withdrew it
    seen_batch     text        NOT NULL,   -- last batch whose list contained the title
    created_at     timestamptz NOT NULL DEFAULT now(),
    datestamp      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, match_key)
);
CREATE INDEX records_by_datestamp ON records (datestamp, id);
CREATE INDEX records_by_collection ON records (collection_id, datestamp, id);
CREATE INDEX records_by_match_key ON records (match_key);
CREATE INDEX records_by_changed_batch ON records (changed_batch);

-- Per-library record sets: a library's own copy of each record it has been given, with its
-- own datestamp (when the record came to, changed in or left the set) and deleted state.
CREATE TABLE library_records (
    isil           text        NOT NULL,
    record_id      bigint      NOT NULL REFERENCES records (id),
    collection_id  text        NOT NULL,
    deleted        boolean     NOT NULL,
    datestamp      timestamptz NOT NULL,
    PRIMARY KEY (isil, record_id)
);
CREATE INDEX library_records_by_datestamp ON library_records (isil, datestamp, record_id);
CREATE INDEX library_records_all_by_datestamp ON library_records (datestamp, isil, record_id);
CREATE INDEX library_records_by_collection ON library_records (collection_id, isil);
CREATE INDEX library_records_by_record ON library_records (record_id);

-- Records new or changed in a batch: what its Melinda export holds.
CREATE TABLE batch_records (
    batch_id   text   NOT NULL REFERENCES batches (id),
    record_id  bigint NOT NULL REFERENCES records (id),
    change     text   NOT NULL CHECK (change IN ('new', 'changed')),
    PRIMARY KEY (batch_id, record_id)
);

-- Melinda submissions. The job's state lives here so that an interrupted submission (a
-- crash, a restart, Melinda unreachable) resumes where it stopped, on any replica.
CREATE TABLE melinda_jobs (
    id            text PRIMARY KEY,
    batch_id      text        REFERENCES batches (id),
    mode          text        NOT NULL CHECK (mode IN ('bulk', 'single')),
    operation     text        NOT NULL CHECK (operation IN ('create', 'update')),
    status        text        NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    stage         text        NOT NULL DEFAULT 'start',
    remote_id     text,            -- the bulk job's correlation id at Melinda
    remote_state  text,
    total         integer     NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    lease_until   timestamptz,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX melinda_jobs_unfinished ON melinda_jobs (lease_until) WHERE status IN ('pending', 'running');

CREATE TABLE melinda_job_records (
    job_id      text    NOT NULL REFERENCES melinda_jobs (id),
    record_id   bigint  NOT NULL REFERENCES records (id),
    position    integer NOT NULL,
    status      text    NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'sent', 'created', 'updated', 'skipped', 'duplicate', 'error', 'invalid')),
    melinda_id  text,            -- for an update: the record to update; then what Melinda said
    message     text,
    PRIMARY KEY (job_id, record_id)
);
CREATE INDEX melinda_job_records_by_position ON melinda_job_records (job_id, position);

-- Which Melinda record a consortium record became, so the next change is an update.
CREATE TABLE melinda_links (
    record_id   bigint PRIMARY KEY REFERENCES records (id),
    melinda_id  text        NOT NULL,
    linked_at   timestamptz NOT NULL DEFAULT now()
);
