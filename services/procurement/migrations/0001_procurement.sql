-- Procurement's copy of the consortium members, built from membership events. One row per
-- library: a re-join starts a new period, so joined_on and left_on describe the latest one.
CREATE TABLE members (
    isil                text PRIMARY KEY,
    names               jsonb   NOT NULL,
    population          integer NOT NULL CHECK (population >= 0),
    municipalities      text[]  NOT NULL DEFAULT '{}',
    library_system      text    NOT NULL,  -- the domain's vocabulary (koha, aurora, ..., other)
    library_system_text text    NOT NULL,  -- as membership wrote it
    joined_on           date    NOT NULL,
    left_on             date,              -- effective date: first day no longer a member
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (left_on IS NULL OR left_on >= joined_on)
);

CREATE TABLE needs (
    id                        text PRIMARY KEY,
    proposed_by               text   NOT NULL,
    material_type             text   NOT NULL,
    description               text   NOT NULL,
    accepted_licence_models   text[] NOT NULL,
    required_devices          text[] NOT NULL DEFAULT '{}',
    required_library_systems  text[] NOT NULL DEFAULT '{}',
    proposed_on               date   NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX needs_material_type ON needs (material_type);

CREATE TABLE interests (
    need_id                  text   NOT NULL REFERENCES needs (id),
    isil                     text   NOT NULL,
    indicative_budget_cents  bigint CHECK (indicative_budget_cents >= 0),
    registered_on            date   NOT NULL,
    PRIMARY KEY (need_id, isil)
);

CREATE TABLE tenders (
    id                    text PRIMARY KEY,
    title                 text        NOT NULL,
    kl_reference          text        NOT NULL,
    need_ids              text[]      NOT NULL,
    deadline              timestamptz NOT NULL,
    price_weight          integer     NOT NULL,
    quality_weight        integer     NOT NULL,
    compatibility_weight  integer     NOT NULL,
    price_model           text        NOT NULL,
    state                 text        NOT NULL,
    cancellation_reason   text,
    awarded_bid_id        text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (price_weight + quality_weight + compatibility_weight = 100)
);
CREATE INDEX tenders_state ON tenders (state);

CREATE TABLE bids (
    id                         text PRIMARY KEY,
    tender_id                  text        NOT NULL REFERENCES tenders (id),
    supplier_name              text        NOT NULL,
    supplier_country           text        NOT NULL,
    product                    text        NOT NULL,
    price_model                text        NOT NULL,
    price_cents                bigint      NOT NULL CHECK (price_cents > 0),
    submitted_at               timestamptz NOT NULL,
    supported_devices          text[]      NOT NULL DEFAULT '{}',
    supported_library_systems  text[]      NOT NULL DEFAULT '{}',
    terms                      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX bids_tender ON bids (tender_id);

-- A retest of the same (bid, target) replaces the earlier result.
CREATE TABLE compatibility_results (
    bid_id     text    NOT NULL REFERENCES bids (id),
    target     text    NOT NULL,
    passed     boolean NOT NULL,
    notes      text    NOT NULL DEFAULT '',
    tested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bid_id, target)
);

CREATE TABLE quality_scores (
    bid_id     text    PRIMARY KEY REFERENCES bids (id),
    score      integer NOT NULL CHECK (score BETWEEN 0 AND 100),
    rationale  text    NOT NULL DEFAULT '',
    scored_at  timestamptz NOT NULL DEFAULT now()
);

-- The award and the ranking it was decided on, kept as evidence.
CREATE TABLE awards (
    tender_id           text PRIMARY KEY REFERENCES tenders (id),
    bid_id              text NOT NULL REFERENCES bids (id),
    recommended_bid_id  text NOT NULL REFERENCES bids (id),
    justification       text,
    scores              jsonb       NOT NULL,
    awarded_at          timestamptz NOT NULL,
    awarded_by          text        NOT NULL
);

CREATE TABLE agreements (
    id                  text PRIMARY KEY,
    tender_id           text    NOT NULL UNIQUE REFERENCES tenders (id),
    bid_id              text    NOT NULL REFERENCES bids (id),
    title               text    NOT NULL,
    supplier_name       text    NOT NULL,
    supplier_country    text    NOT NULL,
    product             text    NOT NULL,
    material_types      text[]  NOT NULL,
    price_model         text    NOT NULL,
    terms               jsonb   NOT NULL,
    extension_count     integer NOT NULL,
    extension_months    integer NOT NULL,
    annual_cost_cents   bigint  NOT NULL CHECK (annual_cost_cents >= 0),
    cost_share_model    text    NOT NULL,
    base_fee_cents      bigint  NOT NULL DEFAULT 0,
    signed_on           date    NOT NULL,
    state               text    NOT NULL,
    end_kind            text,      -- a scheduled termination while active; how it ended after
    end_effective_on    date,
    end_reason          text,
    expires_on          date    NOT NULL,  -- day after the last period: kept for the scheduler
    ended_at            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agreements_due ON agreements (expires_on, end_effective_on) WHERE state = 'active';

CREATE TABLE agreement_periods (
    agreement_id           text    NOT NULL REFERENCES agreements (id),
    number                 integer NOT NULL CHECK (number >= 1),
    start_on               date    NOT NULL,
    end_on                 date    NOT NULL,
    cancellation_deadline  date    NOT NULL,
    PRIMARY KEY (agreement_id, number)
);

-- One row per participation; a library that opts in again after leaving gets a new row.
-- left_on may lie in the future (an opt-out given with notice); agreement-left is emitted
-- on that date, and left_event_at records that it was.
CREATE TABLE participations (
    id             bigserial PRIMARY KEY,
    agreement_id   text NOT NULL REFERENCES agreements (id),
    isil           text NOT NULL,
    joined_on      date NOT NULL,
    left_on        date,
    leave_reason   text,
    left_event_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((left_on IS NULL) = (leave_reason IS NULL)),
    CHECK (left_on IS NULL OR left_on >= joined_on)
);
CREATE INDEX participations_agreement ON participations (agreement_id);
CREATE INDEX participations_isil ON participations (isil);
CREATE INDEX participations_due ON participations (left_on)
    WHERE left_on IS NOT NULL AND left_event_at IS NULL;
