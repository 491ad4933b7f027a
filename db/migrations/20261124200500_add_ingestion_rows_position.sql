-- migrate:up
-- Source order (files as uploaded, sheets in workbook order, rows top to bottom) cannot be
-- rebuilt from file/sheet/row alone, so each row carries its 0-based ordinal in the batch.
-- Rows written before this column existed get the best order their source columns allow.
ALTER TABLE ingestion_rows ADD COLUMN position integer;
UPDATE ingestion_rows AS r
SET position = o.position
FROM (
    SELECT id, (row_number() OVER (
        PARTITION BY batch_id
        ORDER BY source_file_name, source_sheet_name, source_row_index, id
    ) - 1)::integer AS position
    FROM ingestion_rows
) AS o
WHERE o.id = r.id;
ALTER TABLE ingestion_rows ALTER COLUMN position SET NOT NULL;
CREATE UNIQUE INDEX uq_ingestion_rows_batch_position ON ingestion_rows (batch_id, position);

-- migrate:down
DROP INDEX uq_ingestion_rows_batch_position;
ALTER TABLE ingestion_rows DROP COLUMN position;
