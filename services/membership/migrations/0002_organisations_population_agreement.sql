-- Official population figures: one row per municipality and year (the year's classification).
CREATE TABLE municipality_figures (
    year        integer NOT NULL CHECK (year BETWEEN 1900 AND 2200),
    code        text    NOT NULL CHECK (code ~ '^\d{3}$'),
    name_fi     text    NOT NULL,
    name_sv     text,
    population  integer NOT NULL CHECK (population >= 0),
    source      text    NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, code)
);

-- The legal party that runs libraries: a municipality or a joint authority.
CREATE TABLE organisations (
    business_id       text PRIMARY KEY,
    names             jsonb  NOT NULL,
    kind              text   NOT NULL CHECK (kind IN ('municipality', 'joint-authority')),
    municipalities    text[] NOT NULL,
    einvoice_ovt      text,
    einvoice_operator text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kimppas (
    id                     text PRIMARY KEY,
    name                   text NOT NULL,
    library_system         text NOT NULL,
    harvest_contact_email  text,
    melinda_code           text,
    created_at             timestamptz NOT NULL DEFAULT now()
);

-- A library is in at most one kimppa at a time; history is kept.
CREATE TABLE kimppa_memberships (
    isil       text NOT NULL REFERENCES libraries (isil),
    kimppa_id  text NOT NULL REFERENCES kimppas (id),
    since      date NOT NULL,
    until      date,
    PRIMARY KEY (isil, since),
    CHECK (until IS NULL OR until >= since)
);
CREATE UNIQUE INDEX one_kimppa_at_a_time ON kimppa_memberships (isil) WHERE until IS NULL;

ALTER TABLE libraries
    ADD COLUMN organisation text REFERENCES organisations (business_id),
    ADD COLUMN population_year integer,
    -- A coordinator's documented exception: {"population": n, "reason": "..."}.
    ADD COLUMN population_exception jsonb;

-- Documents stored by content: the same file uploaded twice is stored once.
CREATE TABLE documents (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type  text  NOT NULL,
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agreement_versions (
    version              text PRIMARY KEY,
    valid_from           date NOT NULL UNIQUE,
    document_name        text NOT NULL,
    document_sha256      text NOT NULL REFERENCES documents (sha256),
    notice_months        integer NOT NULL CHECK (notice_months BETWEEN 0 AND 60),
    notice_takes_effect  text NOT NULL CHECK (notice_takes_effect IN ('end-of-month', 'end-of-year')),
    published_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agreement_acceptances (
    isil              text NOT NULL REFERENCES libraries (isil),
    version           text NOT NULL REFERENCES agreement_versions (version),
    decision_organ    text NOT NULL,
    decision_date     date NOT NULL,
    decision_section  text NOT NULL,
    signatory_name    text NOT NULL,
    signatory_title   text NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isil, version)
);

-- Erasures of former contacts: only the address's hash is kept, as proof it was done.
CREATE TABLE contact_erasures (
    isil           text NOT NULL,
    email_sha256   text NOT NULL,
    erased_on      date NOT NULL,
    PRIMARY KEY (isil, email_sha256)
);
