-- Replacements made by redaction at ingest (ingest.redact) in each batch:
-- e-mail addresses, phone numbers, API keys and card numbers taken out of
-- the texts before they were stored. Batches logged before redaction existed
-- had none.
ALTER TABLE ingest_log ADD COLUMN redacted bigint NOT NULL DEFAULT 0 CHECK (redacted >= 0);
