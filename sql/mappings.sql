-- Remembered mappings (issue 18): how the columns of a header were matched to the fields of a
-- project's schema in the last completed batch with that header fingerprint ("last": by its
-- reviewed_at, which only the review sets; a rename or a label later does not move it).

-- name: list_remembered_mappings :scalar
-- Header fingerprint -> column metadata of the last completed list-mode batch with it, for the
-- project's most recently completed fingerprints, at most $2 of them (NULL when none).
SELECT jsonb_object_agg(header_fingerprint, column_metadata)
FROM (
    SELECT header_fingerprint, column_metadata
    FROM (
        SELECT DISTINCT ON (header_fingerprint)
            header_fingerprint, column_metadata, reviewed_at, id
        FROM ingestion_batches
        WHERE project_id = $1::uuid AND status = 'completed' AND deleted_at IS NULL
            AND header_fingerprint IS NOT NULL AND mode = 'list_mode'
        ORDER BY header_fingerprint, reviewed_at DESC, id DESC
    ) AS latest
    ORDER BY reviewed_at DESC, id DESC
    LIMIT $2::integer
) AS recent;
