-- Two indexes that every event written paid for and little read.
--
-- events_account_conversation: no query reads events by conversation
-- (conversations are grouped in memory from an account's events, which
-- events_account_ts finds).
--
-- event_keys_ts: read only when retention drops a month, to delete that
-- month's idempotency keys; that delete now scans event_keys (narrow rows,
-- once a month), instead of every event paying a B-tree insertion in random
-- time order. Together they were a fifth of ingest's time on short chats
-- (docs/benchmarks.md, "Small events").
DROP INDEX IF EXISTS events_account_conversation;
DROP INDEX IF EXISTS event_keys_ts;
