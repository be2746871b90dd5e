-- The linked-account clusters an audit found, with why their members are
-- linked, so analysts can read every cluster (flagged or not).
CREATE TABLE audit_clusters (
    audit_id    bigint NOT NULL REFERENCES audits (audit_id) ON DELETE CASCADE,
    cluster_id  text   NOT NULL,
    -- what the members share, in words (networks, instruments, bursts)
    reason      text   NOT NULL,
    PRIMARY KEY (audit_id, cluster_id)
);
