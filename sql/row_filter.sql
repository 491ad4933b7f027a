-- Rows found by content: the pages of GET …/rows with a filter that reads the rows themselves
-- (`delivery`, `q`, `where.<key>`; `status` alone is served by rows.sql). The filter's four
-- parameters are always $6 status, $7 delivery, $8 q and $9 where, as
-- `service.row_filter.RowFilter.arguments` gives them; `r` is the row and `b` its batch:
--
--     ($6::row_status IS NULL OR r.status = $6::row_status)
--     AND ($7::delivery_status IS NULL
--         OR (b.status = 'completed' AND r.delivery_status = $7::delivery_status))
--     AND ($8::text IS NULL OR (
--         (starts_with($8::text, '***:') OR r.data::text ~ $8::text)
--         AND (SELECT string_agg(e.value, chr(31)) FROM jsonb_each_text(r.data) AS e(key, value))
--             ~ $8::text))
--     AND NOT EXISTS (SELECT 1 FROM jsonb_each($9::jsonb) AS w(key, accepted)
--         WHERE NOT w.accepted @> jsonb_build_array(r.data -> w.key))
--
-- $8 is `q` made a regular expression that ignores case and accents
-- (`row_filter.search_pattern`), matched against the row's values joined by U+001F (a
-- control character no search contains): never across two values, never a key. The row's
-- whole jsonb text is tried first, much cheaper to get (no set-returning function): what the
-- values hold, it holds too, except where JSON escapes a character (a quote, a backslash, a
-- control character); a pattern for a `q` holding one of those starts with `***:` (which
-- PostgreSQL reads as "the rest is a regular expression") and skips that first test.

-- name: get_filtered_row_page_json :scalar
-- The JSON body of GET …/rows with a filter (see above): the matching live rows of batch $1
-- of project $2 owned by user $3 in source order, $4 of them from the $5th, with the number
-- of matches; NULL when no such live batch exists. The batch's rows are read once: the
-- positions of the matches are kept (at most a batch's rows, 4 bytes each), counted, and the
-- page is read back by position. As get_row_page_json: the page stops before the row that
-- would take its items past $10 bytes of JSON (the first row always comes), and `next` is $11
-- followed by the offset of the first matching row left out.
WITH owned AS (
    SELECT b.id, b.status
    FROM ingestion_batches AS b
    JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
    WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
        AND b.deleted_at IS NULL
),
matching AS MATERIALIZED (
    SELECT r.position
    FROM owned AS b
    JOIN ingestion_rows AS r ON r.batch_id = b.id
    WHERE r.deleted_at IS NULL
        AND ($6::row_status IS NULL OR r.status = $6::row_status)
        AND ($7::delivery_status IS NULL
            OR (b.status = 'completed' AND r.delivery_status = $7::delivery_status))
        AND ($8::text IS NULL OR (
            (starts_with($8::text, '***:') OR r.data::text ~ $8::text)
            AND (
                SELECT string_agg(e.value, chr(31)) FROM jsonb_each_text(r.data) AS e(key, value)
            ) ~ $8::text
        ))
        AND NOT EXISTS (
            SELECT 1 FROM jsonb_each($9::jsonb) AS w(key, accepted)
            WHERE NOT w.accepted @> jsonb_build_array(r.data -> w.key)
        )
)
SELECT json_build_object(
    'items', coalesce(page.items, '[]'::json),
    'total', counted.total,
    'limit', $4::integer,
    'offset', $5::integer,
    'next', CASE WHEN $5::integer::bigint + page.kept < counted.total
        THEN $11::text || ($5::integer::bigint + page.kept) END
)
FROM owned AS b
CROSS JOIN LATERAL (SELECT count(*) AS total FROM matching) AS counted
CROSS JOIN LATERAL (
    SELECT json_agg(sized.item ORDER BY sized.position) AS items, count(*) AS kept
    FROM (
        SELECT built.position, built.item,
            row_number() OVER (ORDER BY built.position) AS ordinal,
            sum(pg_column_size(built.item)) OVER (ORDER BY built.position) AS bytes
        FROM (
            SELECT r.position, json_build_object(
                'id', r.id,
                'batchId', r.batch_id,
                'data', r.data,
                'status', r.status,
                'validationMessages', r.validation_messages,
                'sourceFileName', r.source_file_name,
                'sourceSheetName', r.source_sheet_name,
                'sourceRowIndex', r.source_row_index,
                'delivery', CASE WHEN b.status = 'completed' THEN json_build_object(
                    'status', r.delivery_status,
                    'message', r.delivery_message,
                    'step', r.delivery_step,
                    'attempts', r.delivery_attempts,
                    'leaseUntil', to_char(r.delivery_lease_until AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.delivery_lease_until)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END),
                    'updatedAt', to_char(r.delivery_updated_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.delivery_updated_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
                ) END,
                'createdAt', to_char(r.created_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.created_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END),
                'updatedAt', to_char(r.updated_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.updated_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
            ) AS item
            FROM (
                SELECT m.position FROM matching AS m
                ORDER BY m.position
                LIMIT $4::integer OFFSET $5::integer
            ) AS picked
            JOIN ingestion_rows AS r ON r.batch_id = b.id AND r.position = picked.position
            OFFSET 0
        ) AS built
    ) AS sized
    WHERE sized.ordinal = 1 OR sized.bytes <= $10::bigint
) AS page;
