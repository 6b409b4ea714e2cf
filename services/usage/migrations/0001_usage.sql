-- Copies of other services' facts, built from their events.
CREATE TABLE agreements (
    agreement_id      text PRIMARY KEY,
    title             text    NOT NULL,
    annual_cost_cents bigint  NOT NULL CHECK (annual_cost_cents >= 0),
    cost_share_model  text    NOT NULL,
    base_fee_cents    bigint  NOT NULL DEFAULT 0,
    price_model       text
);

CREATE TABLE participations (
    agreement_id text NOT NULL,
    isil         text NOT NULL,
    joined_on    date NOT NULL,
    left_on      date,  -- first day no longer participating
    PRIMARY KEY (agreement_id, isil, joined_on)
);

CREATE TABLE libraries (
    isil       text PRIMARY KEY,
    name       text    NOT NULL,
    population integer NOT NULL CHECK (population >= 0)
);

-- A supplier's SUSHI server for one agreement. The API key is only a reference (env:NAME or
-- file:NAME under the secrets directory), resolved when a harvest runs, never stored.
CREATE TABLE providers (
    agreement_id         text PRIMARY KEY,
    platform             text    NOT NULL,
    release              text    NOT NULL CHECK (release IN ('5', '5.1')),
    base_url             text    NOT NULL,
    requestor_id         text    NOT NULL,
    api_key_ref          text,
    reports              text[]  NOT NULL DEFAULT '{TR}',
    customers            jsonb   NOT NULL DEFAULT '{}',  -- ISIL → customer id
    price_per_loan_cents bigint CHECK (price_per_loan_cents >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- One month of one report for one library: the unit of harvesting.
CREATE TABLE harvest_jobs (
    id            bigserial PRIMARY KEY,
    agreement_id  text        NOT NULL,
    isil          text        NOT NULL,
    report        text        NOT NULL,
    period        date        NOT NULL CHECK (extract(day FROM period) = 1),
    state         text        NOT NULL DEFAULT 'queued'
                              CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    reason        text,
    sushi_code    integer,
    not_before    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agreement_id, isil, report, period)
);
CREATE INDEX harvest_jobs_due ON harvest_jobs (not_before) WHERE state IN ('queued', 'running');

-- One revision of one month of one report for one library. A closed month is never
-- rewritten: different figures for it are a new revision, and reports read the latest.
CREATE TABLE usage_revisions (
    agreement_id text        NOT NULL,
    isil         text        NOT NULL,
    period       date        NOT NULL,
    report       text        NOT NULL,
    revision     integer     NOT NULL CHECK (revision >= 1),
    source       text        NOT NULL,
    digest       text        NOT NULL,
    totals       jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agreement_id, isil, period, report, revision)
);

CREATE TABLE usage_facts (
    agreement_id  text    NOT NULL,
    isil          text    NOT NULL,
    period        date    NOT NULL,
    report        text    NOT NULL,
    revision      integer NOT NULL,
    title_id      text    NOT NULL,  -- ISBN when there is one, else the supplier's id
    title         text    NOT NULL,
    material_type text    NOT NULL,
    metric        text    NOT NULL,
    count         bigint  NOT NULL CHECK (count >= 0),
    PRIMARY KEY (agreement_id, isil, period, report, revision, title_id, metric),
    FOREIGN KEY (agreement_id, isil, period, report, revision) REFERENCES usage_revisions
);
CREATE INDEX usage_facts_library ON usage_facts (isil, period);

-- A supplier's own loan-report CSV: which column holds what.
CREATE TABLE supplier_mappings (
    supplier text PRIMARY KEY,
    mapping  jsonb NOT NULL
);

CREATE TABLE invoice_checks (
    id                   bigserial PRIMARY KEY,
    agreement_id         text    NOT NULL,
    isil                 text,
    period_from          date    NOT NULL,
    period_to            date    NOT NULL,
    loans                bigint  NOT NULL,
    price_per_loan_cents bigint  NOT NULL,
    expected_cents       bigint  NOT NULL,
    invoiced_cents       bigint  NOT NULL,
    tolerance_cents      bigint  NOT NULL,
    discrepancy          boolean NOT NULL,
    checked_at           timestamptz NOT NULL DEFAULT now()
);
