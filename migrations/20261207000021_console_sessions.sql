-- Sessions of the analyst console: an analyst's or admin's key exchanged at
-- sign-in for a random session token, stored only as its SHA-256. A session
-- ends at its absolute expiry, after its idle limit without a request, at
-- sign-out, or when its key is revoked (the lookup joins the key).
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY,
    key_id uuid NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX console_sessions_key ON console_sessions (key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
