-- Each member's kimppa (shared library system), from membership's member-joined and
-- member-updated (library.kimppa), and the kimppas themselves from kimppa-updated, so a
-- survey can ask exactly one kimppa's member libraries.
ALTER TABLE members ADD COLUMN kimppa_id text;
CREATE INDEX members_kimppa ON members (kimppa_id) WHERE kimppa_id IS NOT NULL;

CREATE TABLE kimppas (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
