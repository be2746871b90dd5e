-- Halves of a model call that OTLP exports apart: a span whose messages are
-- not on it ('span': the event it will be, without messages), and the GenAI
-- log records of a span ('logs': {"messages": [...], "choice": {...}}). A
-- half waits here until the other comes (then both become one event and the
-- row goes) or until it is older than ingest.otlp_join_wait_seconds (then it
-- is dropped and counted as unmatched).
CREATE TABLE otlp_halves (
    trace_id    text        NOT NULL,
    span_id     text        NOT NULL,
    half        text        NOT NULL CONSTRAINT otlp_halves_half_known CHECK (half IN ('span', 'logs')),
    record      jsonb       NOT NULL,
    api_key_id  uuid,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, span_id, half)
);
CREATE INDEX otlp_halves_received ON otlp_halves (received_at);
