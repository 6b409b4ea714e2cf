-- Records follow licences. From agreement-signed: whether the licence grants access after
-- the library leaves or the agreement ends (licence term post_cancellation_access), and the
-- price model (per-title: a library's set holds the titles it bought, not the whole list).
ALTER TABLE collections ADD COLUMN post_cancellation_access boolean NOT NULL DEFAULT false;
ALTER TABLE collections ADD COLUMN price_model text;

-- A library's set of a collection it no longer takes part in, kept under post-cancellation
-- access: the records it held when it left stay (new titles are not added).
ALTER TABLE record_sets ADD COLUMN retained boolean NOT NULL DEFAULT false;

-- Titles a library or a kimppa ('kimppa:<id>') holds under an agreement, from procurement's
-- entitlements-changed. One row per purchase, so that one expiring purchase of a title does
-- not take the title from a holder that has another.
CREATE TABLE entitlements (
    agreement_id      text        NOT NULL,
    holder            text        NOT NULL,
    isbn              text        NOT NULL,   -- ISBN-13 digits: a record's match key
    acquired_on       date        NOT NULL,
    order_reference   text        NOT NULL DEFAULT '',
    licence_model     text        NOT NULL,
    expires_on        date,                   -- first day no longer held
    survives_leaving  boolean     NOT NULL,   -- perpetual, or post-cancellation access
    expired           boolean     NOT NULL DEFAULT false,
    changed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agreement_id, holder, isbn, acquired_on, order_reference)
);
CREATE INDEX entitlements_by_holder ON entitlements (holder, agreement_id);
