-- Every traces export asks whether calls of earlier exports wait for one of
-- its spans; almost always none does. The calls waiting for an ancestor, by
-- trace, on their own: asking costs an empty index's probe, whatever the
-- number of spans and log records waiting beside them.
CREATE INDEX otlp_halves_orphans ON otlp_halves (trace_id) WHERE half = 'orphan';
