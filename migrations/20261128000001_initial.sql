-- distillwatch initial schema.
--
-- Events are partitioned by month on their timestamp. A partitioned table cannot
-- carry a unique key that leaves out the partition key, so idempotency lives in
-- `event_keys`, an ordinary table keyed by (account_id, event_id): an event is
-- written to `events` only in the transaction that inserted its key. The same
-- event sent again, even with another timestamp, finds its key taken and is
-- counted as a duplicate. `account_id` leads every key that analysis scans, so
-- that a distributed engine (Citus) can later shard all of it by account.

CREATE TABLE accounts (
    account_id   text        PRIMARY KEY,
    org_id       text,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_keys (
    account_id   text        NOT NULL,
    event_id     text        NOT NULL,
    ts           timestamptz NOT NULL,
    PRIMARY KEY (account_id, event_id)
);
-- Retention deletes keys together with the partitions that held their events.
CREATE INDEX event_keys_ts ON event_keys (ts);

CREATE TABLE events (
    account_id        text        NOT NULL,
    ts                timestamptz NOT NULL,
    event_id          text        NOT NULL,
    -- true when the sender gave no event_id and the id is a content hash
    id_derived        boolean     NOT NULL,
    model             text        NOT NULL,
    endpoint          text,
    api_key_id        text,
    org_id            text,
    conversation_id   text,
    -- normalized chat messages [{role, content}], or NULL for a plain prompt
    messages          jsonb,
    -- the last user message (or request.prompt): what analysis reads
    prompt            text        NOT NULL,
    system_prompt     text,
    temperature       real,
    top_p             real,
    max_tokens        integer,
    n                 integer,
    logprobs          boolean,
    top_logprobs      integer,
    seed              bigint,
    completion        text,
    finish_reason     text,
    prompt_tokens     integer,
    completion_tokens integer,
    client_ip         inet,
    user_agent        text,
    -- the event's own metadata object plus every field the format does not define
    metadata          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ingest_id         uuid        NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);

CREATE INDEX events_account_ts ON events (account_id, ts);
CREATE INDEX events_account_conversation ON events (account_id, conversation_id)
    WHERE conversation_id IS NOT NULL;

-- Every batch that reached ingest, accepted or not: who sent it, how, and what became of it.
CREATE TABLE ingest_log (
    ingest_id     uuid        PRIMARY KEY,
    source        text        NOT NULL CHECK (source IN ('http', 'cli')),
    api_key_id    uuid,
    origin        text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    bytes         bigint      NOT NULL,
    lines         bigint      NOT NULL,
    accepted      bigint      NOT NULL,
    duplicates    bigint      NOT NULL,
    rejected      bigint      NOT NULL,
    first_error   text
);
CREATE INDEX ingest_log_received ON ingest_log (received_at);

CREATE TABLE api_keys (
    key_id        uuid        PRIMARY KEY,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('ingest', 'analyst', 'admin')),
    -- SHA-256 of the whole key; keys are 256-bit random, so a fast hash is enough
    key_hash      bytea       NOT NULL UNIQUE,
    -- the first characters of the key, shown in listings so people can tell keys apart
    key_prefix    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
