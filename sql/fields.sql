-- Fields: per-key statistics and value frequencies of a batch's live rows, computed by
-- PostgreSQL from the JSONB data. Every row carries every key of its batch (JSON null when
-- empty), so "present" means "not JSON null".

-- name: get_saved_field_stats :scalar
-- The batch's per-key statistics if already computed (NULL otherwise).
SELECT field_stats FROM ingestion_batches WHERE id = $1::uuid;

-- name: lock_field_stats :exec
-- Serialise the computation of a batch's statistics (held until the transaction ends).
SELECT pg_advisory_xact_lock(hashtextextended('field_stats:' || $1::uuid::text, 0));

-- name: save_field_stats :scalar
-- Count, for each key of a batch's live rows, how many have a value, how many are empty and
-- how many distinct values it takes, and keep that on the batch (its rows never change after
-- ingestion); returns what was kept. A key no row fills sums nothing: 0, not NULL; a batch
-- without live rows keeps an empty list, not NULL ("not computed yet").
-- (Grouping by key and value first lets PostgreSQL hash instead of sorting for DISTINCT.)
WITH per_value AS (
    SELECT e.key, e.value, count(*) AS n
    FROM ingestion_rows AS r
    CROSS JOIN LATERAL jsonb_each(r.data) AS e(key, value)
    WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
    GROUP BY e.key, e.value
),
per_key AS (
    SELECT key,
        coalesce(sum(n) FILTER (WHERE value <> 'null'::jsonb), 0)::bigint AS present_count,
        coalesce(sum(n) FILTER (WHERE value = 'null'::jsonb), 0)::bigint AS empty_count,
        count(*) FILTER (WHERE value <> 'null'::jsonb) AS distinct_count
    FROM per_value
    GROUP BY key
)
UPDATE ingestion_batches
SET field_stats = coalesce(
    (SELECT jsonb_agg(jsonb_build_object(
        'key', key,
        'present_count', present_count,
        'empty_count', empty_count,
        'distinct_count', distinct_count
    ) ORDER BY key) FROM per_key),
    '[]'::jsonb
)
WHERE id = $1::uuid
RETURNING field_stats;

-- name: list_field_values :one
-- A page of one key's distinct non-null values, most frequent first (the value breaks ties),
-- optionally only those containing $3 (case- and accent-insensitive), with their total.
WITH matching AS (
    SELECT r.data -> $2::text AS value
    FROM ingestion_rows AS r
    WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
        AND r.data -> $2::text <> 'null'::jsonb
        AND ($3::text IS NULL OR strpos(
            lower(regexp_replace(normalize(r.data ->> $2::text, NFD), '[\u0300-\u036f]', '', 'g')),
            lower(regexp_replace(normalize($3::text, NFD), '[\u0300-\u036f]', '', 'g'))
        ) > 0)
),
grouped AS (
    SELECT value, count(*) AS count FROM matching GROUP BY value
),
page AS (
    SELECT value, count FROM grouped ORDER BY count DESC, value
    LIMIT $4::integer OFFSET $5::integer
)
SELECT (SELECT count(*) FROM grouped) AS total,
    coalesce(
        (SELECT jsonb_agg(jsonb_build_object('value', value, 'count', count)
            ORDER BY count DESC, value) FROM page),
        '[]'::jsonb
    ) AS items;
