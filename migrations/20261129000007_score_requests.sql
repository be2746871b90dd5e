-- Each scored account's request count in the audit's window, so analysts can
-- sort and filter accounts by volume without counting events again.
ALTER TABLE audit_scores ADD COLUMN requests bigint;
CREATE INDEX audit_scores_risk ON audit_scores (audit_id, risk DESC, account_id);
