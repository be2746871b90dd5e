-- Vectors of reference items' outputs, one per item and embedding model:
-- written when a set is embedded (at upload, when an embedding engine is at
-- hand) or the first time attribution or the distillation test needs them,
-- and read instead of embedding the outputs again.
CREATE TABLE reference_item_vectors (
    item_id   bigint NOT NULL REFERENCES reference_items (id) ON DELETE CASCADE,
    model_id  text   NOT NULL,
    dim       int    NOT NULL CHECK (dim > 0),
    dtype     text   NOT NULL CHECK (dtype IN ('f16', 'f32')),
    vector    bytea  NOT NULL,
    PRIMARY KEY (item_id, model_id)
);
