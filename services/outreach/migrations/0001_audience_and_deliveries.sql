-- The audience: member libraries and their contacts, copied from membership events only.
CREATE TABLE audience_libraries (
    isil            text PRIMARY KEY,
    names           jsonb       NOT NULL,
    municipalities  text[]      NOT NULL,
    population      integer     NOT NULL,
    library_system  text        NOT NULL,
    is_member       boolean     NOT NULL,
    member_since    date,
    left_on         date,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audience_contacts (
    isil      text NOT NULL REFERENCES audience_libraries (isil) ON DELETE CASCADE,
    position  integer NOT NULL,
    name      text NOT NULL,
    email     text NOT NULL,
    role      text NOT NULL,
    language  text NOT NULL CHECK (language IN ('fi', 'sv')),
    PRIMARY KEY (isil, position)
);

-- The delivery log. One row per (cause, recipient, kind): a redelivered event finds its rows
-- and adds none. The body is rendered when queued, so a retry sends the very same message.
CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    cause_id         text        NOT NULL,  -- event id or campaign id that caused it
    kind             text        NOT NULL,  -- welcome, announcement, kit, invitation, ...
    isil             text,
    recipient        text        NOT NULL,
    language         text        NOT NULL,
    subject          text        NOT NULL,
    text_body        text        NOT NULL,
    html_body        text        NOT NULL,
    message_id       text        NOT NULL UNIQUE,
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (cause_id, recipient, kind)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'sending');
