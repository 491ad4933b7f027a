-- Row edits of the review loop: single, bulk and per-row edits of a batch pending review,
-- and row delete/restore. Each is one statement that changes the rows, re-validates them
-- (sheetflow_revalidate, db/migrations/…_create_row_revalidation_functions.sql), appends their
-- events (INSERT … SELECT from the change) and adjusts the batch's counts, so nothing is ever
-- half-written. Callers hold the batch's row lock (lock_batch_for_edit) first: edits, deletes
-- and reviews of one batch serialize on it, always batch first, then rows. Rows of a batch
-- pending review change only under that lock, so the set-based edits read the rows' values
-- before the change (for the events and counts) without locking each row first.
-- `OFFSET 0` keeps each row's new data and messages computed once (the planner would
-- otherwise pull the subquery up and evaluate them again for every use in the UPDATE).

-- name: lock_batch_for_edit :one
-- Lock one live batch for a change of its rows (waits for a review or an edit under way).
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL
FOR UPDATE;

-- name: get_empty_warned_keys :scalar
-- The keys of batch $1 whose columns warn an empty value, if already found (NULL otherwise).
SELECT empty_warned_keys FROM ingestion_batches WHERE id = $1::uuid;

-- name: save_empty_warned_keys :scalar
-- Find and keep which of the keys $2 of batch $1 warn an empty value: those whose every live
-- empty value (stored as JSON null) carries an `empty` message, a cell error aside, i.e. the
-- columns found filled in at least 95 % of their rows at upload (the others hold empty
-- values without one). One read of the batch's rows.
UPDATE ingestion_batches
SET empty_warned_keys = (
    SELECT coalesce(array_agg(k.key ORDER BY k.key), '{}'::text[])
    FROM unnest($2::text[]) AS k(key)
    WHERE k.key NOT IN (
        SELECT DISTINCT e.key
        FROM ingestion_rows AS r
        CROSS JOIN LATERAL jsonb_each(r.data) AS e(key, value)
        WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
            AND (e.value = 'null'::jsonb OR e.value = '""'::jsonb)
            AND NOT r.validation_messages @> jsonb_build_array(
                jsonb_build_object('field', e.key, 'type', 'empty'))
            AND NOT r.validation_messages @> jsonb_build_array(
                jsonb_build_object('field', e.key, 'type', 'cell_error'))
    )
)
WHERE id = $1::uuid
RETURNING empty_warned_keys;

-- name: edit_row :one
-- Apply patch $4 to live row $1 of batch $2 when its version is in $3 (NULL: any), by actor $5,
-- re-validated by rules $6, appending an event of kind $7 (the keys whose value changed)
-- and adjusting the batch's counts; a patch that changes nothing leaves the row as it is.
-- No row when the row is not live in the batch or its version is not in $3.
WITH target AS (
    SELECT id, data, status, validation_messages
    FROM ingestion_rows
    WHERE id = $1::uuid AND batch_id = $2::uuid AND deleted_at IS NULL
        AND ($3::integer[] IS NULL OR version = ANY($3::integer[]))
    FOR UPDATE
), picked AS (
    SELECT t.id, t.data AS old_data, t.status AS old_status, edited.data AS new_data,
        edited.keys,
        sheetflow_revalidate(t.validation_messages, edited.data, edited.keys, $6::jsonb)
            AS new_messages
    FROM target AS t
    CROSS JOIN LATERAL (
        SELECT t.data || $4::jsonb AS data,
            ARRAY(SELECT p.key FROM jsonb_each($4::jsonb) AS p(key, value)
                WHERE t.data -> p.key IS DISTINCT FROM p.value ORDER BY p.key) AS keys
    ) AS edited
    WHERE cardinality(edited.keys) > 0
), changed AS (
    UPDATE ingestion_rows AS r
    SET data = p.new_data, validation_messages = p.new_messages,
        status = sheetflow_row_status(p.new_messages), version = r.version + 1,
        updated_at = now()
    FROM picked AS p
    WHERE r.id = p.id
    RETURNING r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
        r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
        r.created_at, r.updated_at, p.old_status, p.old_data, p.keys
), logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
    SELECT c.batch_id, c.id, $5::uuid, $7::text,
        (SELECT jsonb_object_agg(k, coalesce(c.old_data -> k, 'null')) FROM unnest(c.keys) k),
        (SELECT jsonb_object_agg(k, coalesce(c.data -> k, 'null')) FROM unnest(c.keys) k)
    FROM changed AS c
), counted AS (
    UPDATE ingestion_batches AS b
    SET valid_count = b.valid_count + d.valid, warning_count = b.warning_count + d.warning,
        error_count = b.error_count + d.error, field_stats = NULL
    FROM (
        SELECT (count(*) FILTER (WHERE status = 'valid')
                - count(*) FILTER (WHERE old_status = 'valid'))::integer AS valid,
            (count(*) FILTER (WHERE status = 'warning')
                - count(*) FILTER (WHERE old_status = 'warning'))::integer AS warning,
            (count(*) FILTER (WHERE status = 'error')
                - count(*) FILTER (WHERE old_status = 'error'))::integer AS error
        FROM changed
    ) AS d
    WHERE b.id = $2::uuid AND EXISTS (SELECT 1 FROM changed)
)
-- (Rows change only in a batch pending review, which has no delivery state yet.)
SELECT id, batch_id, position, data, status, validation_messages, source_file_name,
    source_sheet_name, source_row_index, version, NULL::jsonb AS delivery, created_at,
    updated_at
FROM changed
UNION ALL
SELECT r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
    NULL::jsonb AS delivery, r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN target AS t ON t.id = r.id
WHERE NOT EXISTS (SELECT 1 FROM picked);

-- name: edit_rows :one
-- Apply one patch per row (ids $3, patches $4) to the live rows of batch $1, by actor $2,
-- re-validated by rules $5, one event of kind $6 per row changed (the keys whose value
-- changed), the batch's counts adjusted; rows not live in the batch are left out. Returns
-- how many rows and cells changed.
WITH picked AS (
    SELECT r.id, r.status AS old_status, edited.data AS new_data, edited.keys,
        (SELECT jsonb_object_agg(k, coalesce(r.data -> k, 'null')) FROM unnest(edited.keys) k)
            AS before,
        (SELECT jsonb_object_agg(k, coalesce(edited.data -> k, 'null'))
            FROM unnest(edited.keys) k) AS after,
        sheetflow_revalidate(r.validation_messages, edited.data, edited.keys, $5::jsonb)
            AS new_messages
    FROM unnest($3::uuid[], $4::jsonb[]) AS e(id, patch)
    JOIN ingestion_rows AS r ON r.id = e.id
    CROSS JOIN LATERAL (
        SELECT r.data || e.patch AS data,
            ARRAY(SELECT p.key FROM jsonb_each(e.patch) AS p(key, value)
                WHERE r.data -> p.key IS DISTINCT FROM p.value ORDER BY p.key) AS keys
        OFFSET 0
    ) AS edited
    WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL AND cardinality(edited.keys) > 0
    OFFSET 0
), changed AS (
    UPDATE ingestion_rows AS r
    SET data = p.new_data, validation_messages = p.new_messages,
        status = sheetflow_row_status(p.new_messages), version = r.version + 1,
        updated_at = now()
    FROM picked AS p
    WHERE r.id = p.id
    RETURNING r.id, r.status, p.old_status, p.before, p.after, cardinality(p.keys) AS cells
), logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
    SELECT $1::uuid, c.id, $2::uuid, $6::text, c.before, c.after
    FROM changed AS c
), counted AS (
    UPDATE ingestion_batches AS b
    SET valid_count = b.valid_count + d.valid, warning_count = b.warning_count + d.warning,
        error_count = b.error_count + d.error, field_stats = NULL
    FROM (
        SELECT (count(*) FILTER (WHERE status = 'valid')
                - count(*) FILTER (WHERE old_status = 'valid'))::integer AS valid,
            (count(*) FILTER (WHERE status = 'warning')
                - count(*) FILTER (WHERE old_status = 'warning'))::integer AS warning,
            (count(*) FILTER (WHERE status = 'error')
                - count(*) FILTER (WHERE old_status = 'error'))::integer AS error
        FROM changed
    ) AS d
    WHERE b.id = $1::uuid AND EXISTS (SELECT 1 FROM changed)
)
SELECT count(*)::integer AS rows_changed,
    coalesce(sum(cells), 0)::integer AS cells_changed
FROM changed;

-- name: bulk_update_rows :scalar
-- One set-based edit of the live rows of batch $1 by actor $2 that match the filter (status
-- $3, ids $4, key $5 whose text equals $6 (a JSON null: is empty) or contains $7; NULL: no
-- such condition): `set` ($8 = 'set') merges object $9 into each row; `replace` ($8 =
-- 'exact' or 'contains') rewrites key $10 where its text is or contains $11: with value
-- $12 (exact), or with its text where $11 becomes $13, trimmed, empty as null (contains).
-- Rows that would not change are left out. Re-validated by rules $14 for keys $15, one event
-- of kind $16 per row changed, the batch's counts adjusted. Returns how many rows and cells
-- changed, as an array of the two.
WITH picked AS (
    SELECT r.id, r.status AS old_status, edited.data AS new_data, edited.keys,
        (SELECT jsonb_object_agg(k, coalesce(r.data -> k, 'null')) FROM unnest(edited.keys) k)
            AS before,
        (SELECT jsonb_object_agg(k, coalesce(edited.data -> k, 'null'))
            FROM unnest(edited.keys) k) AS after,
        sheetflow_revalidate(r.validation_messages, edited.data, $15::text[], $14::jsonb)
            AS new_messages
    FROM ingestion_rows AS r
    CROSS JOIN LATERAL (
        SELECT CASE $8::text
            WHEN 'set' THEN r.data || $9::jsonb
            WHEN 'exact' THEN jsonb_set(r.data, ARRAY[$10::text], $12::jsonb, true)
            ELSE jsonb_set(r.data, ARRAY[$10::text], coalesce(to_jsonb(nullif(regexp_replace(
                replace(r.data ->> $10::text, $11::text, $13::text),
                '^[\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$',
                '', 'g'), '')), 'null'::jsonb), true)
        END AS data
    ) AS changing
    CROSS JOIN LATERAL (
        SELECT changing.data,
            ARRAY(SELECT k FROM unnest($15::text[]) AS k
                WHERE r.data -> k IS DISTINCT FROM changing.data -> k ORDER BY k) AS keys
        OFFSET 0
    ) AS edited
    WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
        AND ($3::row_status IS NULL OR r.status = $3::row_status)
        AND ($4::uuid[] IS NULL OR r.id = ANY($4::uuid[]))
        AND ($5::text IS NULL OR $6::jsonb IS NULL OR CASE
            WHEN jsonb_typeof($6::jsonb) = 'null'
            THEN sheetflow_value_kind(r.data -> $5::text) = 'empty'
            ELSE r.data ->> $5::text = $6::jsonb #>> '{}' END)
        AND ($5::text IS NULL OR $7::text IS NULL
            OR strpos(r.data ->> $5::text, $7::text) > 0)
        AND ($8::text = 'set' OR CASE $8::text
            WHEN 'exact' THEN r.data ->> $10::text = $11::text
            ELSE strpos(r.data ->> $10::text, $11::text) > 0 END)
        AND cardinality(edited.keys) > 0
    OFFSET 0
), changed AS (
    UPDATE ingestion_rows AS r
    SET data = p.new_data, validation_messages = p.new_messages,
        status = sheetflow_row_status(p.new_messages), version = r.version + 1,
        updated_at = now()
    FROM picked AS p
    WHERE r.id = p.id
    RETURNING r.id, r.status, p.old_status, p.before, p.after, cardinality(p.keys) AS cells
), logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
    SELECT $1::uuid, c.id, $2::uuid, $16::text, c.before, c.after
    FROM changed AS c
), counted AS (
    UPDATE ingestion_batches AS b
    SET valid_count = b.valid_count + d.valid, warning_count = b.warning_count + d.warning,
        error_count = b.error_count + d.error, field_stats = NULL
    FROM (
        SELECT (count(*) FILTER (WHERE status = 'valid')
                - count(*) FILTER (WHERE old_status = 'valid'))::integer AS valid,
            (count(*) FILTER (WHERE status = 'warning')
                - count(*) FILTER (WHERE old_status = 'warning'))::integer AS warning,
            (count(*) FILTER (WHERE status = 'error')
                - count(*) FILTER (WHERE old_status = 'error'))::integer AS error
        FROM changed
    ) AS d
    WHERE b.id = $1::uuid AND EXISTS (SELECT 1 FROM changed)
)
SELECT ARRAY[count(*), coalesce(sum(cells), 0)]::integer[] FROM changed;

-- name: soft_delete_row :scalar
-- Hide live row $1 of batch $2 (by actor $3, event kind $4), taking it out of the batch's
-- row count, status counts and, for a delivered row, delivery counts; its id, or NULL when
-- it was not live.
WITH changed AS (
    UPDATE ingestion_rows
    SET deleted_at = now(), version = version + 1, updated_at = now()
    WHERE id = $1::uuid AND batch_id = $2::uuid AND deleted_at IS NULL
    RETURNING id, status, delivery_status
), logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind)
    SELECT $2::uuid, id, $3::uuid, $4::text FROM changed
), counted AS (
    UPDATE ingestion_batches AS b
    SET row_count = b.row_count - 1,
        valid_count = b.valid_count - (c.status = 'valid')::integer,
        warning_count = b.warning_count - (c.status = 'warning')::integer,
        error_count = b.error_count - (c.status = 'error')::integer,
        field_stats = NULL
    FROM changed AS c
    WHERE b.id = $2::uuid
), delivered AS (
    -- A delivered row (of a completed batch) leaves or rejoins its delivery counts too.
    INSERT INTO ingestion_batch_delivery_counts AS d (batch_id, slot, in_progress, done, error)
    SELECT $2::uuid, 0, -(c.delivery_status = 'in_progress')::integer,
        -(c.delivery_status = 'done')::integer, -(c.delivery_status = 'error')::integer
    FROM changed AS c
    WHERE c.delivery_status <> 'pending'
    ON CONFLICT (batch_id, slot) DO UPDATE
    SET in_progress = d.in_progress + excluded.in_progress, done = d.done + excluded.done,
        error = d.error + excluded.error
)
SELECT id FROM changed;

-- name: restore_row :scalar
-- Bring back soft-deleted row $1 of batch $2 (by actor $3, event kind $4), into the batch's
-- row count, status counts and, for a delivered row, delivery counts; its id, or NULL when
-- it was not deleted.
WITH changed AS (
    UPDATE ingestion_rows
    SET deleted_at = NULL, version = version + 1, updated_at = now()
    WHERE id = $1::uuid AND batch_id = $2::uuid AND deleted_at IS NOT NULL
    RETURNING id, status, delivery_status
), logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind)
    SELECT $2::uuid, id, $3::uuid, $4::text FROM changed
), counted AS (
    UPDATE ingestion_batches AS b
    SET row_count = b.row_count + 1,
        valid_count = b.valid_count + (c.status = 'valid')::integer,
        warning_count = b.warning_count + (c.status = 'warning')::integer,
        error_count = b.error_count + (c.status = 'error')::integer,
        field_stats = NULL
    FROM changed AS c
    WHERE b.id = $2::uuid
), delivered AS (
    -- A delivered row (of a completed batch) leaves or rejoins its delivery counts too.
    INSERT INTO ingestion_batch_delivery_counts AS d (batch_id, slot, in_progress, done, error)
    SELECT $2::uuid, 0, +(c.delivery_status = 'in_progress')::integer,
        +(c.delivery_status = 'done')::integer, +(c.delivery_status = 'error')::integer
    FROM changed AS c
    WHERE c.delivery_status <> 'pending'
    ON CONFLICT (batch_id, slot) DO UPDATE
    SET in_progress = d.in_progress + excluded.in_progress, done = d.done + excluded.done,
        error = d.error + excluded.error
)
SELECT id FROM changed;

-- name: row_state :one
-- Whether row $1 is in batch $2, and then whether it is live and its version.
SELECT deleted_at IS NULL AS live, version
FROM ingestion_rows
WHERE id = $1::uuid AND batch_id = $2::uuid;

-- name: list_edited_rows :many
-- A page of the live rows of batch $1 that this transaction changed (an edit, or a `unique`
-- recheck), after position $2 in source order, at most $3: the rows an edit re-checks by
-- the project schema's rules (one pass over the batch's position index, page by page).
SELECT id, position, data, status, validation_messages
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL AND updated_at = now()
    AND position > $2::integer
ORDER BY position
LIMIT $3::integer;

-- name: rewrite_edited_rows :exec
-- New data ($3, a JSON array: one object per row), statuses ($4) and messages ($5, a JSON
-- array of arrays) of rows $2 of batch $1 that this transaction edited (their version went
-- up with the edit already), the batch's counts adjusted by the statuses that changed.
WITH changed AS (
    UPDATE ingestion_rows AS r
    SET data = $3::jsonb -> (u.ordinal::integer - 1), status = u.status::row_status,
        validation_messages = $5::jsonb -> (u.ordinal::integer - 1), updated_at = now()
    FROM unnest($2::uuid[], $4::text[]) WITH ORDINALITY AS u (id, status, ordinal)
    JOIN ingestion_rows AS o ON o.id = u.id
    WHERE r.id = u.id AND r.batch_id = $1::uuid
    RETURNING r.status, o.status AS old_status
)
UPDATE ingestion_batches AS b
SET valid_count = b.valid_count + d.valid, warning_count = b.warning_count + d.warning,
    error_count = b.error_count + d.error
FROM (
    SELECT (count(*) FILTER (WHERE status = 'valid')
            - count(*) FILTER (WHERE old_status = 'valid'))::integer AS valid,
        (count(*) FILTER (WHERE status = 'warning')
            - count(*) FILTER (WHERE old_status = 'warning'))::integer AS warning,
        (count(*) FILTER (WHERE status = 'error')
            - count(*) FILTER (WHERE old_status = 'error'))::integer AS error
    FROM changed
) AS d
WHERE b.id = $1::uuid;

-- name: add_batch_status_counts :exec
-- Add $2 valid, $3 warning and $4 error rows (negative: take away) to the counts of batch $1.
UPDATE ingestion_batches
SET valid_count = valid_count + $2::integer, warning_count = warning_count + $3::integer,
    error_count = error_count + $4::integer
WHERE id = $1::uuid;
