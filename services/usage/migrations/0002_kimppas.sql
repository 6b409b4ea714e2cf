-- Kimppas (shared library systems of several libraries), from membership's events. A
-- provider's customer id may be a kimppa's: its usage is held by "kimppa:<id>" (in the isil
-- column of harvest jobs, revisions and facts) and read by the kimppa's libraries.
CREATE TABLE kimppas (
    kimppa_id      text PRIMARY KEY,
    name           text NOT NULL,
    library_system text NOT NULL
);

-- Which kimppa a library belongs to now (a library is in at most one).
CREATE TABLE kimppa_members (
    isil      text PRIMARY KEY,
    kimppa_id text NOT NULL
);
CREATE INDEX kimppa_members_kimppa ON kimppa_members (kimppa_id);
