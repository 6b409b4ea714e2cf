-- Idempotent consumers: a handler's effects and its (consumer, event id) row commit together,
-- so a redelivered event finds its row and is skipped.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    event_type   text        NOT NULL,
    handled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
