-- Title-level entitlements per holder (a library's ISIL or a kimppa's id), agreement and
-- ISBN. copies = -1 means unlimited (simultaneous use). expires_on is an effective date;
-- expired_at is set when the expiry has been published.
CREATE TABLE entitlements (
    holder                    text NOT NULL,
    agreement_id              text NOT NULL REFERENCES agreements (id),
    isbn                      text NOT NULL,
    model                     text NOT NULL,
    copies                    integer NOT NULL CHECK (copies >= -1),
    loans_left                integer CHECK (loans_left >= 0),
    expires_on                date,
    acquired_on               date NOT NULL,
    order_reference           text NOT NULL DEFAULT '',
    post_cancellation_access  boolean NOT NULL DEFAULT false,
    expired_at                timestamptz,
    PRIMARY KEY (holder, agreement_id, isbn)
);
CREATE INDEX entitlements_due ON entitlements (expires_on) WHERE expired_at IS NULL;
