-- The dashboard's read model, built only from events. Every table is keyed by a natural id
-- from the events (ISIL + period, agreement + library + date, batch, delivery, event id), and
-- every write is an upsert of the state the event carries, never an increment: applying an
-- event twice leaves the same rows, and replaying a topic from the earliest offset into an
-- empty database rebuilds the same figures.

CREATE TABLE members (
    isil            text PRIMARY KEY,
    name_fi         text    NOT NULL,
    name_sv         text,
    name_en         text,
    population      bigint  NOT NULL DEFAULT 0,
    library_system  text,
    is_member       boolean NOT NULL,
    period          integer
);

-- One row per membership period; "members at a date" is a count of overlapping periods.
CREATE TABLE membership_periods (
    isil       text    NOT NULL,
    period     integer NOT NULL,
    joined_on  date,              -- NULL: we saw the leave but not the join
    left_on    date,              -- first day no longer a member
    PRIMARY KEY (isil, period)
);

CREATE TABLE agreements (
    agreement_id       text PRIMARY KEY,
    title              text,
    supplier           text,
    product            text,
    material_types     text[] NOT NULL DEFAULT '{}',
    annual_cost_cents  bigint,
    signed_on          date,
    ended_on           date,       -- first day no longer in force
    end_kind           text
);

CREATE TABLE participations (
    agreement_id  text NOT NULL,
    isil          text NOT NULL,
    joined_on     date NOT NULL,
    left_on       date,           -- first day no longer participating
    left_reason   text,
    PRIMARY KEY (agreement_id, isil, joined_on)
);

CREATE TABLE needs (
    need_id        text PRIMARY KEY,
    material_type  text
);

CREATE TABLE interests (
    need_id  text NOT NULL,
    isil     text NOT NULL,
    PRIMARY KEY (need_id, isil)
);

CREATE TABLE tenders (
    tender_id  text PRIMARY KEY,
    title      text,
    status     text NOT NULL CHECK (status IN ('open', 'awarded', 'cancelled'))
);

CREATE TABLE ingest_batches (
    batch_id               text PRIMARY KEY,
    collection_id          text        NOT NULL,
    agreement_id           text,
    received               integer     NOT NULL DEFAULT 0,
    accepted               integer     NOT NULL DEFAULT 0,
    updated                integer     NOT NULL DEFAULT 0,
    duplicate              integer     NOT NULL DEFAULT 0,
    rejected               integer     NOT NULL DEFAULT 0,
    warnings               integer     NOT NULL DEFAULT 0,
    records_in_collection  integer     NOT NULL DEFAULT 0,
    -- The producer's event time orders batches of one collection; the event id breaks ties,
    -- so "the latest batch" is the same whatever order a replay delivers them in.
    occurred_at            timestamptz NOT NULL,
    event_id               text        NOT NULL
);
CREATE INDEX ingest_batches_collection ON ingest_batches (collection_id, occurred_at, event_id);

CREATE TABLE collections (
    collection_id  text PRIMARY KEY,
    title          text,
    agreement_id   text
);

CREATE TABLE library_collections (
    isil           text    NOT NULL,
    collection_id  text    NOT NULL,
    available      boolean NOT NULL,
    PRIMARY KEY (isil, collection_id)
);

CREATE TABLE deliveries (
    delivery_id  text PRIMARY KEY,
    kind         text NOT NULL,
    isil         text,
    status       text NOT NULL
);

CREATE TABLE campaigns (
    campaign_id  text PRIMARY KEY,
    title        text,
    recipients   integer NOT NULL DEFAULT 0,
    sent         integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0
);

CREATE TABLE announcements (
    announcement_id  text PRIMARY KEY,
    title            text,
    language         text
);

-- The live feed: one row per event, with only the fields its summary needs (never contacts).
-- seq orders the page; it is local to this database and never part of the figures.
CREATE TABLE feed (
    seq          bigserial PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE,
    event_type   text        NOT NULL,
    producer     text        NOT NULL,
    name         text        NOT NULL,
    key          text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    details      jsonb       NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_by_name ON feed (name, seq);
CREATE INDEX feed_by_producer ON feed (producer, seq);

-- Dead letters read from the <topic>.dlq topics, keyed by their own position there, so the
-- reader can resume after the last stored offset and a re-read stores nothing twice.
CREATE TABLE dead_letters (
    topic             text    NOT NULL,
    partition         integer NOT NULL,
    "offset"          bigint  NOT NULL,
    original_topic    text,
    consumer_group    text,
    exception_class   text,
    reason            text,
    attempts          integer,
    event_type        text,
    dead_lettered_at  timestamptz,
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX dead_letters_latest ON dead_letters (dead_lettered_at DESC);
