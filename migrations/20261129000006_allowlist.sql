-- Accounts licensed to distill, evaluation partners, the provider's own test
-- accounts: scored, never flagged. Managed by admins through the API, each
-- entry with its reason and, usually, an expiry; audits add the entries in
-- force to the configured allowlist ([detect.flags] allowlist).
CREATE TABLE allowlist (
    account_id  text        PRIMARY KEY,
    reason      text        NOT NULL CHECK (length(btrim(reason)) > 0),
    -- no longer in force from this instant (NULL: until removed)
    expires_at  timestamptz,
    added_by    text        NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allowlist_expiry ON allowlist (expires_at);
