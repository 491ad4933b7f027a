-- migrate:up
-- Rows deleted one by one leave gaps in their batch's positions. A page of live rows is still
-- found by position: the k-th live row is at k plus the number of deleted rows before it,
-- counted from this index, which holds only deleted rows (nothing at COPY time: copied rows
-- are live and the predicate keeps them out).
CREATE INDEX idx_ingestion_rows_batch_id_position_deleted ON ingestion_rows (batch_id, position)
    WHERE deleted_at IS NOT NULL;

-- migrate:down
DROP INDEX idx_ingestion_rows_batch_id_position_deleted;
