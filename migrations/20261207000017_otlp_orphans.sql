-- A third kind of waiting half: a model-call span that names no account,
-- whose ancestor that may name one was not in its export ('orphan': the
-- event it will be, and the ancestor it waits for). A parent span ends, and
-- is exported, after its children; the orphan waits here until a later
-- export carries that ancestor (or one further up names the account), or
-- until it is older than ingest.otlp_join_wait_seconds (then it is dropped
-- and counted as unmatched).
ALTER TABLE otlp_halves DROP CONSTRAINT otlp_halves_half_known;
ALTER TABLE otlp_halves
    ADD CONSTRAINT otlp_halves_half_known CHECK (half IN ('span', 'logs', 'orphan'));
