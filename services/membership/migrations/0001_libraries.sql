CREATE TABLE libraries (
    isil            text PRIMARY KEY,
    names           jsonb       NOT NULL,
    municipalities  text[]      NOT NULL,
    population      integer     NOT NULL CHECK (population >= 0),
    library_system  text        NOT NULL,
    library_type    text,
    kirkanta_id     integer,
    contacts        jsonb       NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX libraries_municipalities ON libraries USING gin (municipalities);

-- One row per membership period; a re-join adds a row, history is never rewritten.
CREATE TABLE membership_periods (
    isil             text    NOT NULL REFERENCES libraries (isil),
    number           integer NOT NULL CHECK (number >= 1),
    joined_on        date    NOT NULL,
    signatory        text    NOT NULL,
    notice_given_on  date,
    leaves_on        date,
    left_at          timestamptz,  -- when the leave took effect and member-left was emitted
    PRIMARY KEY (isil, number),
    CHECK (leaves_on IS NULL OR leaves_on > joined_on)
);
-- At most one open period per library, enforced by the database as well as the domain.
CREATE UNIQUE INDEX one_open_period ON membership_periods (isil) WHERE left_at IS NULL;
CREATE INDEX notices_due ON membership_periods (leaves_on) WHERE left_at IS NULL AND leaves_on IS NOT NULL;
