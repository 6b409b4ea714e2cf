-- Token revocation: the jtis this service refuses (from membership's token-revoked events, or
-- in membership itself from the coordinator's command). A row is kept until the token's own
-- expiry; after it the token is refused anyway and the row is deleted.
CREATE TABLE revoked_tokens (
    jti         text        PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    reason      text        NOT NULL,
    revoked_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
