-- migrate:up
-- A completed batch's delivery counts, split over up to 16 slots per batch (each claim or
-- report adds to one slot of its choosing; a read sums them): reports of one batch by many
-- consumers at once then do not queue on one row, as they did on the counts kept on the batch
-- (bench/README.md, "Review loop"). The batch keeps its claim cursor, which claims take turns on.
CREATE TABLE ingestion_batch_delivery_counts (
    batch_id uuid NOT NULL,
    slot smallint NOT NULL,
    in_progress integer NOT NULL DEFAULT 0,
    done integer NOT NULL DEFAULT 0,
    error integer NOT NULL DEFAULT 0,
    CONSTRAINT pk_ingestion_batch_delivery_counts PRIMARY KEY (batch_id, slot),
    CONSTRAINT fk_ingestion_batch_delivery_counts_batch_id FOREIGN KEY (batch_id)
        REFERENCES ingestion_batches (id) ON DELETE RESTRICT,
    CONSTRAINT ck_ingestion_batch_delivery_counts_slot CHECK (slot BETWEEN 0 AND 15)
);

INSERT INTO ingestion_batch_delivery_counts (batch_id, slot, in_progress, done, error)
SELECT id, 0, delivery_in_progress_count, delivery_done_count, delivery_error_count
FROM ingestion_batches
WHERE delivery_in_progress_count <> 0 OR delivery_done_count <> 0 OR delivery_error_count <> 0;

ALTER TABLE ingestion_batches
    DROP COLUMN delivery_in_progress_count,
    DROP COLUMN delivery_done_count,
    DROP COLUMN delivery_error_count;

-- migrate:down
ALTER TABLE ingestion_batches
    ADD COLUMN delivery_in_progress_count integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_done_count integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_error_count integer NOT NULL DEFAULT 0;

UPDATE ingestion_batches AS b
SET delivery_in_progress_count = c.in_progress, delivery_done_count = c.done,
    delivery_error_count = c.error
FROM (
    SELECT batch_id, sum(in_progress)::integer AS in_progress, sum(done)::integer AS done,
        sum(error)::integer AS error
    FROM ingestion_batch_delivery_counts
    GROUP BY batch_id
) AS c
WHERE c.batch_id = b.id;

DROP TABLE ingestion_batch_delivery_counts;
