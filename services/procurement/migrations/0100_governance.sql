-- Governance: the decisions register and member surveys (services/procurement/governance).

-- Files are stored once, addressed by their SHA-256, whatever name they are attached by.
CREATE TABLE governance_files (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content     bytea   NOT NULL,
    size        integer NOT NULL CHECK (size > 0),
    media_type  text    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE decisions (
    id            text PRIMARY KEY,
    body          text NOT NULL CHECK (body IN ('steering-group', 'coordinator')),
    decided_on    date NOT NULL,
    section       text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    text          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (body, decided_on, section)
);
CREATE INDEX decisions_subject ON decisions (subject_id);

CREATE TABLE decision_attachments (
    decision_id  text NOT NULL REFERENCES decisions (id),
    name         text NOT NULL,
    sha256       text NOT NULL REFERENCES governance_files (sha256),
    position     integer NOT NULL,
    PRIMARY KEY (decision_id, name)
);

CREATE TABLE surveys (
    id                  text PRIMARY KEY,
    kind                text  NOT NULL CHECK (kind IN ('renewal', 'new-need', 'opt-in')),
    title_fi            text  NOT NULL,
    title_sv            text  NOT NULL,
    opens_on            date  NOT NULL,
    closes_on           date  NOT NULL,
    questions           jsonb NOT NULL,
    audience            text[] NOT NULL,
    agreement_id        text,
    participation_from  date,
    decision_id         text REFERENCES decisions (id),
    state               text  NOT NULL DEFAULT 'scheduled'
                        CHECK (state IN ('scheduled', 'open', 'closed')),
    reminded_at         timestamptz,
    closed_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_on >= opens_on)
);
CREATE INDEX surveys_due ON surveys (state, opens_on, closes_on);

-- One answer per library and survey: a later answer replaces the earlier until the close.
CREATE TABLE survey_answers (
    survey_id    text  NOT NULL REFERENCES surveys (id),
    isil         text  NOT NULL,
    answers      jsonb NOT NULL,
    answered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (survey_id, isil)
);
