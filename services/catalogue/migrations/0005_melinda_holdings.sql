-- Holdings the consortium keeps in Melinda (LOW fields) for the records it has linked there:
-- one row per record and holding code (a kimppa's Melinda holding code; a library outside
-- a kimppa holds under its ISIL), whether the code should be on the Melinda record now, and
-- whether Melinda has been told. A change of the sets flips ``wanted`` and clears ``sent``;
-- the melinda-holdings job sends what is unsent through the Melinda adapter.
CREATE TABLE melinda_holdings (
    record_id   bigint      NOT NULL REFERENCES records (id),
    code        text        NOT NULL,
    wanted      boolean     NOT NULL,
    sent        boolean     NOT NULL DEFAULT false,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, code)
);
CREATE INDEX melinda_holdings_unsent ON melinda_holdings (record_id) WHERE NOT sent;
