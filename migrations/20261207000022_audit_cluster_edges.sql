-- What joins each cluster an audit found, edge by edge (the strongest
-- first, at most 50): [{"members": [account ids], "words": "...",
-- "operation": true|false}]. Audits published before this column kept only
-- the cluster's reason: theirs is empty.
ALTER TABLE audit_clusters ADD COLUMN edges jsonb NOT NULL DEFAULT '[]';
