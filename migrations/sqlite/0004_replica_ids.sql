-- Which replica (its stable name) and which process of it (incarnation) executes a run or
-- holds an agent lease, so that a restarted replica releases what its crashed process left
-- at once instead of waiting for the lease to expire and the run to go stale.

ALTER TABLE jobs ADD COLUMN replica_id TEXT;
ALTER TABLE jobs ADD COLUMN replica_incarnation TEXT;
ALTER TABLE agent_leases ADD COLUMN replica_id TEXT;
ALTER TABLE agent_leases ADD COLUMN replica_incarnation TEXT;
