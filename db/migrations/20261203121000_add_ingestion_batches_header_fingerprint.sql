-- migrate:up
-- The header fingerprint of a batch: SHA-256 (hex) of its columns' distinct normalized source
-- keys, sorted bytewise and joined by newlines, as `service.ingest.matching.header_fingerprint`
-- computes it. A later upload with the same header starts from the mapping of the last
-- completed batch that has it (issue 18), found through the partial index below. Generated
-- from `column_metadata`, so every statement that writes the columns writes the print too.
CREATE FUNCTION ingestion_header_fingerprint(columns jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT encode(sha256(convert_to(
        string_agg(DISTINCT column_key, E'\n' ORDER BY column_key), 'UTF8')), 'hex')
    FROM (
        SELECT (entry ->> 'normalizedKey') COLLATE "C" AS column_key
        FROM jsonb_array_elements(columns) AS entry
    ) AS keys
$$;

ALTER TABLE ingestion_batches ADD COLUMN header_fingerprint text
    GENERATED ALWAYS AS (ingestion_header_fingerprint(column_metadata)) STORED;

CREATE INDEX idx_ingestion_batches_completed_header
    ON ingestion_batches (project_id, header_fingerprint, updated_at DESC, id DESC)
    WHERE status = 'completed' AND deleted_at IS NULL;

-- migrate:down
DROP INDEX idx_ingestion_batches_completed_header;
ALTER TABLE ingestion_batches DROP COLUMN header_fingerprint;
DROP FUNCTION ingestion_header_fingerprint(jsonb);
