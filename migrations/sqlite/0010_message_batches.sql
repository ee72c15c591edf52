-- Message batches: a batch is a job of type 'batch'; each of its requests is a run (a job of
-- type 'run') carrying the batch's id.

ALTER TABLE jobs ADD COLUMN batch_id TEXT;
CREATE INDEX jobs_batch ON jobs (batch_id, created_at, id);
