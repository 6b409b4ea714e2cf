-- Messages can carry kit files (attached at send time from the kit storage, checked against
-- their SHA-256), and keep the correlation id of what caused them for the events they lead to.
ALTER TABLE deliveries
    ADD COLUMN attachments    jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN correlation_id text;
-- Statistics and the "is this campaign finished" check read deliveries by cause.
CREATE INDEX deliveries_by_cause ON deliveries (cause_id, kind, status);

-- Agreements and who takes part in them, copied from procurement's events only.
CREATE TABLE agreements (
    agreement_id  text PRIMARY KEY,
    title         text NOT NULL,
    product       text NOT NULL,
    supplier      text NOT NULL,
    signed_on     date,
    ended_on      date,  -- first day no longer in force
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participations (
    agreement_id  text NOT NULL,
    isil          text NOT NULL,
    joined_on     date NOT NULL,
    left_on       date,  -- first day no longer participating
    PRIMARY KEY (agreement_id, isil)
);

-- Marketing kits: a kit belongs to an e-service (product name) or an agreement, or is the
-- onboarding kit every new member gets. Its files are stored on disk under their SHA-256.
CREATE TABLE kits (
    id            uuid PRIMARY KEY,
    title         text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    product       text,
    agreement_id  text,
    onboarding    boolean     NOT NULL DEFAULT false,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (product IS NOT NULL OR agreement_id IS NOT NULL OR onboarding)
);
CREATE INDEX kits_by_product ON kits (lower(product));
CREATE INDEX kits_by_agreement ON kits (agreement_id);

CREATE TABLE kit_files (
    id            uuid PRIMARY KEY,
    kit_id        uuid        NOT NULL REFERENCES kits (id) ON DELETE CASCADE,
    language      text        NOT NULL CHECK (language IN ('fi', 'sv', 'any')),
    category      text        NOT NULL
                  CHECK (category IN ('poster', 'social', 'logo', 'guide', 'other')),
    filename      text        NOT NULL,
    content_type  text        NOT NULL,
    size          bigint      NOT NULL CHECK (size > 0),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by   text        NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kit_id, language, filename)
);

-- Campaigns. Sending turns the audience into deliveries in batches, in (isil, position)
-- order; the cursor of the last batch committed is kept here, in the same transaction as the
-- batch's deliveries, so a crash resumes exactly where it stopped (and the deliveries'
-- unique key makes a repeated batch harmless anyway).
CREATE TABLE campaigns (
    id                  uuid PRIMARY KEY,
    title               text        NOT NULL,
    audience            jsonb       NOT NULL,
    audience_text       text        NOT NULL,
    subject             jsonb       NOT NULL,  -- {"fi": ..., "sv": ...}
    body                jsonb       NOT NULL,
    kit_id              uuid REFERENCES kits (id),
    origin              text        NOT NULL,  -- coordinator | agreement-signed
    agreement_id        text,
    status              text        NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled')),
    send_at             timestamptz,
    recipients_planned  integer,
    materialised        integer     NOT NULL DEFAULT 0,
    cursor_isil         text        NOT NULL DEFAULT '',
    cursor_position     integer     NOT NULL DEFAULT -1,
    batches             integer     NOT NULL DEFAULT 0,
    materialised_at     timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_active ON campaigns (send_at) WHERE status IN ('scheduled', 'sending');

-- The public Atom feed: one row per announcement and language. Ids are fixed when the row is
-- written, so entry ids stay the same on every request.
CREATE TABLE announcements (
    id            uuid PRIMARY KEY,
    cause_id      text        NOT NULL,  -- the event or the coordinator's request behind it
    language      text        NOT NULL CHECK (language IN ('fi', 'sv')),
    title         text        NOT NULL,
    summary       text        NOT NULL,
    link          text,
    published_at  timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cause_id, language)
);
CREATE INDEX announcements_recent ON announcements (published_at DESC, id);
