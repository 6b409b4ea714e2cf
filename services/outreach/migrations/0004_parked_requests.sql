-- Requests to a library that outreach did not know yet. Membership's member-joined and the
-- event that asks the library (agreement-version-published, survey-opened, ...) travel on
-- different topics, so the ask can arrive first; it waits here and is mailed when the library
-- joins the audience. One row per (library, cause, kind); the cause's event is kept whole so
-- that the message is composed from it as it would have been at once.
CREATE TABLE parked_requests (
    isil            text        NOT NULL,
    cause_id        text        NOT NULL,
    kind            text        NOT NULL,
    event           jsonb       NOT NULL,
    correlation_id  text,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (isil, cause_id, kind)
);
