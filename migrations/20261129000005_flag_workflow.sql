-- The analysts' case workflow: flags can be escalated and assigned, every
-- analyst or admin action is kept in an append-only audit log.

ALTER TABLE flags DROP CONSTRAINT flags_status_check;
ALTER TABLE flags ADD CONSTRAINT flags_status_check
    CHECK (status IN ('open', 'escalated', 'dismissed', 'confirmed'));
-- who works the case (free text: an e-mail, a handle)
ALTER TABLE flags ADD COLUMN assignee text;
CREATE INDEX flags_assignee ON flags (assignee, status) WHERE assignee IS NOT NULL;

ALTER TABLE flag_history DROP CONSTRAINT flag_history_action_check;
ALTER TABLE flag_history ADD CONSTRAINT flag_history_action_check
    CHECK (action IN ('opened', 'updated', 'reopened', 'escalated', 'dismissed', 'confirmed', 'assigned', 'noted'));

-- Who did what, when, with the state before and after. Rows are only ever
-- added: updates, deletes and truncation are refused.
CREATE TABLE audit_log (
    entry_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    -- the API key (key:<id> <name>) or the operator at the CLI (cli:<user>)
    actor     text        NOT NULL,
    role      text        NOT NULL,
    -- flag.update, allowlist.add, key.create, ...
    action    text        NOT NULL,
    -- flag:12, key:3, ...
    target    text        NOT NULL,
    before    jsonb,
    after     jsonb
);
CREATE INDEX audit_log_at ON audit_log (at, entry_id);
CREATE INDEX audit_log_target ON audit_log (target, entry_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
