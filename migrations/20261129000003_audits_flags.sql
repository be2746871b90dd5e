-- Audit jobs, their results, and the flags analysts work from.
--
-- An audit is a job: queued (by the CLI, the API or the schedule), claimed by
-- one worker under a lease (FOR UPDATE SKIP LOCKED), and published in one
-- transaction: its per-account scores, and (unless it is a dry run) the flags
-- it opens, updates or reopens. A worker that dies leaves a lease that runs
-- out; another worker claims the job again and starts it over, and since
-- nothing is published before the end, no half-run shows.

CREATE TABLE audits (
    audit_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    window_from   timestamptz NOT NULL,
    window_to     timestamptz NOT NULL,
    -- a tip-off scope: only these accounts (NULL: all) and this model (NULL: all)
    accounts      text[],
    model         text,
    -- score and store the scores, but open, update and reopen no flag
    dry_run       boolean     NOT NULL DEFAULT false,
    -- who asked: cli, api:<key prefix>, schedule
    requested_by  text        NOT NULL,
    state         text        NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    lease_owner   text,
    lease_until   timestamptz,
    -- what the running job is doing: {"stage": "...", ...}
    progress      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- what it found: detector and weights versions, accounts, flagged, flags opened/updated/reopened
    summary       jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    CHECK (window_from < window_to)
);
CREATE INDEX audits_claimable ON audits (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX audits_requested ON audits (requested_by, created_at);

-- One row per account an audit scored.
CREATE TABLE audit_scores (
    audit_id     bigint           NOT NULL REFERENCES audits (audit_id) ON DELETE CASCADE,
    account_id   text             NOT NULL,
    risk         double precision NOT NULL CHECK (risk >= 0 AND risk <= 1),
    level        text             NOT NULL,
    flagged      boolean          NOT NULL,
    cluster_id   text,
    -- [{"signal": "...", "contribution": 0.12}, ...]
    top_signals  jsonb            NOT NULL,
    PRIMARY KEY (audit_id, account_id)
);
CREATE INDEX audit_scores_account ON audit_scores (account_id, audit_id);

-- One flag per account or cluster, kept up to date by later audits rather than
-- duplicated. An analyst's dismissal holds until the risk rises by the
-- configured margin or a signal fires that had not fired when it was dismissed;
-- the reopened flag says which.
CREATE TABLE flags (
    flag_id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind     text             NOT NULL CHECK (subject_kind IN ('account', 'cluster')),
    subject_id       text             NOT NULL,
    status           text             NOT NULL CHECK (status IN ('open', 'dismissed', 'confirmed')),
    risk             double precision NOT NULL,
    level            text             NOT NULL,
    -- the signals whose score reached one half, sorted
    fired            text[]           NOT NULL,
    reason           text             NOT NULL,
    -- the evidence bundle of the latest audit that flagged it
    evidence         jsonb            NOT NULL,
    first_audit_id   bigint           NOT NULL REFERENCES audits (audit_id),
    last_audit_id    bigint           NOT NULL REFERENCES audits (audit_id),
    opened_at        timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    -- the analyst's decision
    decided_at       timestamptz,
    decided_by       text,
    decision_note    text,
    -- risk and fired signals when dismissed: what a reopening is measured against
    dismissed_risk   double precision,
    dismissed_fired  text[],
    -- why a dismissed flag was opened again
    reopened_because text,
    UNIQUE (subject_kind, subject_id)
);
CREATE INDEX flags_status ON flags (status, risk DESC);

-- Everything that happened to a flag, in order.
CREATE TABLE flag_history (
    entry_id  bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id   bigint           NOT NULL REFERENCES flags (flag_id) ON DELETE CASCADE,
    at        timestamptz      NOT NULL DEFAULT now(),
    action    text             NOT NULL
              CHECK (action IN ('opened', 'updated', 'reopened', 'dismissed', 'confirmed')),
    audit_id  bigint           REFERENCES audits (audit_id),
    risk      double precision,
    actor     text,
    note      text
);
CREATE INDEX flag_history_flag ON flag_history (flag_id, entry_id);
