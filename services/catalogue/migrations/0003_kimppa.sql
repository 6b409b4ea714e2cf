-- Kimppas: the shared library systems and catalogues (Helmet, Vaski, Keski, Outi, …) most
-- public libraries belong to, from membership's member-joined, member-updated and
-- kimppa-updated. A kimppa harvests one OAI-PMH set (kimppa:<id>) and holds one Melinda
-- holding code.
CREATE TABLE kimppas (
    id              text PRIMARY KEY,
    name            text        NOT NULL,
    library_system  text        NOT NULL,
    melinda_code    text,
    contact_email   text,            -- a service address for harvesting questions
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Catalogue's copy of the libraries it has heard of: a real name for ListSets and, for a
-- library in a kimppa, which one (kimppa_id NULL: the library harvests its own set).
CREATE TABLE libraries (
    isil          text PRIMARY KEY,
    name          text        NOT NULL,
    kimppa_id     text        REFERENCES kimppas (id),
    kimppa_since  date,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX libraries_by_kimppa ON libraries (kimppa_id) WHERE kimppa_id IS NOT NULL;

-- A kimppa's record set: each record once, however many of its libraries hold it, with the
-- ISILs of the libraries that hold it now (rendered as 852 fields). Derived from the member
-- libraries' own sets (library_records); the item is deleted only when its last holding
-- library has lost the record, and gets a new datestamp whenever its holders change.
CREATE TABLE kimppa_records (
    kimppa_id      text        NOT NULL REFERENCES kimppas (id),
    record_id      bigint      NOT NULL REFERENCES records (id),
    collection_id  text        NOT NULL,
    holders        text[]      NOT NULL,
    deleted        boolean     NOT NULL,
    datestamp      timestamptz NOT NULL,
    PRIMARY KEY (kimppa_id, record_id)
);
CREATE INDEX kimppa_records_by_datestamp ON kimppa_records (kimppa_id, datestamp, record_id);
CREATE INDEX kimppa_records_all_by_datestamp ON kimppa_records (datestamp, kimppa_id, record_id);
CREATE INDEX kimppa_records_by_collection ON kimppa_records (kimppa_id, collection_id);
