-- Reference sets: outputs of a suspect model (or of a control model known not
-- to be trained on ours), uploaded by analysts, compared with what we served.
CREATE TABLE reference_sets (
    id           bigserial   PRIMARY KEY,
    -- what the CLI and the reports call it
    name         text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
    -- the suspect model, in the analyst's words
    description  text        NOT NULL DEFAULT '',
    -- how the outputs were collected (prompts sent, dates, sampling)
    collection   text        NOT NULL DEFAULT '',
    -- a control: a model known not to be trained on our outputs; audits do
    -- not attribute against it, the distillation test compares with it
    control      boolean     NOT NULL DEFAULT false,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reference_items (
    id           bigserial   PRIMARY KEY,
    set_id       bigint      NOT NULL REFERENCES reference_sets (id) ON DELETE CASCADE,
    -- the prompt the suspect was given, when known: what aligns an item with
    -- a prompt we served
    prompt       text,
    output       text        NOT NULL CHECK (length(output) > 0),
    model        text,
    metadata     jsonb,
    -- SHA-256 of the item's prompt and output: sending the same file twice
    -- stores each item once
    content_hash bytea       NOT NULL CHECK (octet_length(content_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (set_id, content_hash)
);
CREATE INDEX reference_items_set ON reference_items (set_id, id);
