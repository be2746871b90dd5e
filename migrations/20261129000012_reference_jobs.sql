-- Attribution and distillation-test runs as jobs. On CPU, comparing a window's
-- completions with a set's outputs by meaning takes minutes: the API queues a
-- run, a worker claims it under a lease (FOR UPDATE SKIP LOCKED, as audits
-- are), and its report is kept here for whoever asks again with the same
-- parameters.
CREATE TABLE reference_jobs (
    job_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('attribution', 'distillation_test')),
    set_id        bigint      NOT NULL REFERENCES reference_sets (id) ON DELETE CASCADE,
    -- the control set of a distillation test
    control_id    bigint      REFERENCES reference_sets (id) ON DELETE CASCADE,
    -- our completions in [window_from, window_to); NULL: every stored one on that side
    window_from   timestamptz,
    window_to     timestamptz,
    -- who asked: api:<key prefix>, cli
    requested_by  text        NOT NULL,
    state         text        NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    lease_owner   text,
    lease_until   timestamptz,
    -- what the running job is doing: {"stage": "...", ...}
    progress      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- the report, once done
    result        jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    CHECK ((kind = 'distillation_test') = (control_id IS NOT NULL)),
    CHECK (window_from IS NULL OR window_to IS NULL OR window_from < window_to)
);
CREATE INDEX reference_jobs_claimable ON reference_jobs (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX reference_jobs_asked ON reference_jobs (set_id, kind, created_at DESC);
