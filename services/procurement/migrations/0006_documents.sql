-- Procurement documents by content hash, versioned per tender and kind.
CREATE TABLE tender_documents (
    tender_id    text    NOT NULL REFERENCES tenders (id),
    kind         text    NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    sha256       text    NOT NULL,
    media_type   text    NOT NULL,
    content      bytea   NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tender_id, kind, version)
);
