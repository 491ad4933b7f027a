-- The audit trail: append-only events of batches and their rows, written by the transaction
-- that makes the change (one row, or INSERT … SELECT for a set-based change), read newest
-- first by (subject, id DESC). Nothing here updates or deletes an event (a trigger refuses it).

-- name: append_event :one
-- One event: of batch $1, of its row $2 (NULL: of the batch as a whole), by actor $3.
INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
VALUES ($1::uuid, $2::uuid, $3::uuid, $4::text, $5::jsonb, $6::jsonb)
RETURNING id, batch_id, row_id, actor_id, kind, before, after, created_at;

-- name: append_events :exec
-- One event per element of the arrays (row ids, befores, afters) of batch $1, by actor $2.
INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
SELECT $1::uuid, e.row_id, $2::uuid, $3::text, e.before, e.after
FROM unnest($4::uuid[], $5::jsonb[], $6::jsonb[]) AS e(row_id, before, after);

-- name: list_events_for_row :many
-- A page of one row's events, newest first.
SELECT id, batch_id, row_id, actor_id, kind, before, after, created_at
FROM ingestion_events
WHERE row_id = $1::uuid
ORDER BY id DESC
LIMIT $2::integer OFFSET $3::integer;

-- name: count_events_for_row :scalar
-- How many events one row has.
SELECT count(*) FROM ingestion_events WHERE row_id = $1::uuid;

-- name: list_events_for_batch :many
-- A page of a batch's events (its own and its rows'), newest first.
SELECT id, batch_id, row_id, actor_id, kind, before, after, created_at
FROM ingestion_events
WHERE batch_id = $1::uuid
ORDER BY id DESC
LIMIT $2::integer OFFSET $3::integer;

-- name: count_events_for_batch :scalar
-- How many events a batch has (its own and its rows').
SELECT count(*) FROM ingestion_events WHERE batch_id = $1::uuid;

-- name: get_original_row_data :scalar
-- Row $1's data as uploaded: its data now, with each key that an event of kinds $2 (the
-- edits) changed put back to the value the first such event found there.
SELECT r.data || coalesce((
    SELECT jsonb_object_agg(first.key, first.value)
    FROM (
        SELECT DISTINCT ON (kv.key) kv.key, kv.value
        FROM ingestion_events AS e
        CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(e.before) = 'object'
            THEN e.before ELSE '{}'::jsonb END) AS kv(key, value)
        WHERE e.row_id = r.id AND e.kind = ANY($2::text[])
        ORDER BY kv.key, e.id
    ) AS first
), '{}'::jsonb)
FROM ingestion_rows AS r
WHERE r.id = $1::uuid;
