-- What the annual report needs from other services' events, kept as procurement's own copy:
-- records delivered to or withdrawn from a library's catalogue (catalogue's records-available
-- and records-withdrawn) and the messages outreach delivered to it (message-delivered).
-- One row per event: the kit's inbox makes each event count once.
CREATE TABLE report_facts (
    event_id   text PRIMARY KEY,
    isil       text    NOT NULL,
    day        date    NOT NULL,
    fact       text    NOT NULL CHECK (fact IN ('records-available', 'records-withdrawn',
                                                'message-sent', 'message-failed')),
    detail     text    NOT NULL DEFAULT '',
    count      integer NOT NULL CHECK (count >= 0)
);
CREATE INDEX report_facts_isil_day ON report_facts (isil, day);

-- Each library's annual report is announced once per year (annual-report-published).
CREATE TABLE annual_reports_published (
    year          integer NOT NULL,
    isil          text    NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, isil)
);
