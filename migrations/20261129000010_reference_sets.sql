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

-- Vectors of reference items, as `embeddings` keeps events'.
CREATE TABLE reference_item_vectors (
    item_id     bigint      NOT NULL REFERENCES reference_items (id) ON DELETE CASCADE,
    field       text        NOT NULL CHECK (field IN ('prompt', 'output')),
    model_id    text        NOT NULL,
    dim         integer     NOT NULL CHECK (dim > 0),
    dtype       text        NOT NULL CHECK (dtype IN ('f16', 'f32')),
    vector      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_id, field, model_id),
    CHECK (octet_length(vector) = dim * (CASE dtype WHEN 'f16' THEN 2 ELSE 4 END))
);

-- The distillation test and attribution align a reference item with the
-- prompts we served by their text (trimmed): an index on its digest finds the
-- events that answered a given prompt without reading the window.
CREATE INDEX events_prompt_digest ON events (md5(btrim(prompt, E' \t\n\r')));
CREATE INDEX reference_items_prompt_digest ON reference_items (set_id, md5(btrim(prompt, E' \t\n\r')))
    WHERE prompt IS NOT NULL;
