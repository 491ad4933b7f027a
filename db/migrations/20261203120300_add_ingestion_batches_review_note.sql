-- migrate:up
-- Why a batch has its status when the service, not a reviewer, decided it: an upload over
-- its project's error budget is failed at once, and says so here. NULL otherwise.
ALTER TABLE ingestion_batches ADD COLUMN review_note text;

-- migrate:down
ALTER TABLE ingestion_batches DROP COLUMN review_note;
