-- Embeddings of event prompts and completions, stored next to what they embed:
-- keyed like the event (account_id, event_id), by field and by the model that
-- made them, with the vector as little-endian float16 or float32 bytes.
-- account_id leads the key, as for every table analysis scans.

CREATE TABLE embeddings (
    account_id  text        NOT NULL,
    event_id    text        NOT NULL,
    field       text        NOT NULL CHECK (field IN ('prompt', 'completion')),
    model_id    text        NOT NULL,
    -- the event's timestamp, so windows and retention need no join
    ts          timestamptz NOT NULL,
    dim         integer     NOT NULL CHECK (dim > 0),
    dtype       text        NOT NULL CHECK (dtype IN ('f16', 'f32')),
    vector      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, event_id, field, model_id),
    CHECK (octet_length(vector) = dim * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END))
);
CREATE INDEX embeddings_account_ts ON embeddings (account_id, ts);
