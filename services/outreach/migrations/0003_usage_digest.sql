-- The monthly usage digest. Figures from usage-reported (the highest revision per agreement,
-- library, month and report); one digest per (library, month), recorded in the transaction
-- that queues its mails, so a restart or a second replica never sends it twice; and the
-- contacts who asked not to receive it (by the hash of their address, as the delivery log's
-- erasure does: outreach keeps no second copy of the address).
CREATE TABLE usage_figures (
    agreement_id  text    NOT NULL,
    isil          text    NOT NULL,
    period        date    NOT NULL,  -- the month's first day
    report        text    NOT NULL,
    revision      integer NOT NULL,
    uses          bigint  NOT NULL,
    titles        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (agreement_id, isil, period, report)
);
CREATE INDEX usage_figures_by_month ON usage_figures (period, isil);

CREATE TABLE usage_digests (
    isil       text        NOT NULL,
    period     date        NOT NULL,
    mails      integer     NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isil, period)
);

CREATE TABLE usage_digest_opt_outs (
    isil           text        NOT NULL,
    email_sha256   text        NOT NULL,
    opted_out_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isil, email_sha256)
);

-- Unsubscribe links: an unguessable token per (library, contact), made when a digest is queued.
CREATE TABLE usage_digest_links (
    token         text PRIMARY KEY,
    isil          text NOT NULL,
    email_sha256  text NOT NULL,
    UNIQUE (isil, email_sha256)
);
