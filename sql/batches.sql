-- Ingestion batches: one per upload, created pending review with their row count and column
-- metadata, in the same transaction as their rows.

-- name: create_batch :one
-- A new batch, pending review, named $7 (its first file's name); its rows are copied in by
-- the same transaction.
INSERT INTO ingestion_batches
    (project_id, user_id, mode, file_count, row_count, column_metadata, name)
VALUES ($1::uuid, $2::uuid, $3::batch_mode, $4::integer, $5::integer, $6::jsonb, $7::text)
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at;

-- name: get_batch :one
-- One live batch by id.
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL;

-- name: list_batches_for_project :many
-- A project's live batches, newest first (id breaks ties).
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at
FROM ingestion_batches
WHERE project_id = $1::uuid AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT $2::integer OFFSET $3::integer;

-- name: count_batches_for_project :scalar
-- How many live batches a project has.
SELECT count(*) FROM ingestion_batches WHERE project_id = $1::uuid AND deleted_at IS NULL;

-- name: get_batch_for_owner :one
-- One live batch of one live project of this owner.
SELECT b.id, b.project_id, b.user_id, b.mode, b.status, b.file_count, b.row_count,
    b.column_metadata,
    batch_status_counts(b) AS status_counts,
    b.name, b.identifier_field_key, b.secondary_field_key,
    batch_delivery_counts(b) AS delivery_counts,
    b.schema_version, b.review_note, b.created_at, b.updated_at
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
    AND b.deleted_at IS NULL;

-- name: finish_batch :one
-- Record what the end of an ingestion knows: the row count, the columns with their inferred
-- types, how many rows are valid, warning and error, the schema version the rows follow,
-- and (over the project's error budget) its status `failed` with the reason.
UPDATE ingestion_batches
SET row_count = $2::integer, column_metadata = $3::jsonb, valid_count = $4::integer,
    warning_count = $5::integer, error_count = $6::integer, schema_version = $7::integer,
    status = $8::batch_status, review_note = $9::text, updated_at = now()
WHERE id = $1::uuid
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at;

-- name: review_batch :one
-- Move a pending batch to completed or failed, recording when (reviewed_at); no row when it
-- is not pending (or not live).
UPDATE ingestion_batches
SET status = $2::batch_status, reviewed_at = now(), updated_at = now()
WHERE id = $1::uuid AND status = 'pending_review' AND deleted_at IS NULL
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at;

-- name: lock_batch_for_owner :scalar
-- Lock one live batch of one live project of this owner against other changes until the
-- transaction ends (read it again after: what it then holds is what a change starts from);
-- returns its id, or NULL when there is no such batch.
SELECT b.id
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
    AND b.deleted_at IS NULL
FOR NO KEY UPDATE OF b;

-- name: update_batch_settings :one
-- Change a live batch's name and identifier keys: each is set only when its flag ($2, $4, $6)
-- is true (a PATCH that leaves it out keeps it); no row when the batch is not live.
UPDATE ingestion_batches
SET name = CASE WHEN $2::boolean THEN $3::text ELSE name END,
    identifier_field_key = CASE WHEN $4::boolean THEN $5::text ELSE identifier_field_key END,
    secondary_field_key = CASE WHEN $6::boolean THEN $7::text ELSE secondary_field_key END,
    updated_at = now()
WHERE id = $1::uuid AND deleted_at IS NULL
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at;

-- name: label_batch_columns :one
-- Set or clear the labels of some columns of a live batch: $2 maps a column's data key (its
-- targetField when matched, else its normalizedKey: the key its values are under in the rows)
-- to {"label": text} (a JSON null label clears it); other columns, and the order, stay.
UPDATE ingestion_batches
SET column_metadata = (
        SELECT coalesce(jsonb_agg(CASE
            WHEN NOT $2::jsonb ? c.data_key THEN c.entry
            WHEN jsonb_typeof($2::jsonb -> c.data_key -> 'label') = 'string'
                THEN jsonb_set(c.entry, '{label}', $2::jsonb -> c.data_key -> 'label')
            ELSE c.entry - 'label'
        END ORDER BY c.ordinal), '[]'::jsonb)
        FROM jsonb_array_elements(column_metadata) WITH ORDINALITY AS e(entry, ordinal)
        CROSS JOIN LATERAL (
            SELECT e.entry, e.ordinal,
                coalesce(e.entry ->> 'targetField', e.entry ->> 'normalizedKey') AS data_key
        ) AS c
    ),
    updated_at = now()
WHERE id = $1::uuid AND deleted_at IS NULL
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    batch_status_counts(ingestion_batches) AS status_counts,
    name, identifier_field_key, secondary_field_key,
    batch_delivery_counts(ingestion_batches) AS delivery_counts,
    schema_version, review_note, created_at, updated_at;

-- name: soft_delete_batch :scalar
-- Hide one live batch, recording who did it; returns its id, or NULL when there was none.
UPDATE ingestion_batches
SET deleted_at = now(), deleted_by = $2::uuid, updated_at = now()
WHERE id = $1::uuid AND deleted_at IS NULL
RETURNING id;

-- name: soft_delete_batches_for_project :exec
-- Hide every live batch of a project (the project itself is being deleted, in this
-- transaction: the batches get the project's own `deleted_at`, which is how its restore
-- finds them), with an event of kind $3 each, marked `{"cascade": "project"}`.
WITH hidden AS (
    UPDATE ingestion_batches
    SET deleted_at = now(), deleted_by = $2::uuid, updated_at = now()
    WHERE project_id = $1::uuid AND deleted_at IS NULL
    RETURNING id
)
INSERT INTO ingestion_events (batch_id, actor_id, kind, after)
SELECT id, $2::uuid, $3::text, '{"cascade": "project"}'::jsonb FROM hidden;

-- name: restore_batches_for_project :exec
-- Bring back the batches of project $1 that its deletion at $2 hid (those deleted before
-- it stay deleted), by actor $3, with an event of kind $4 each, marked as the project's.
WITH shown AS (
    UPDATE ingestion_batches
    SET deleted_at = NULL, deleted_by = NULL, updated_at = now()
    WHERE project_id = $1::uuid AND deleted_at = $2::timestamptz
    RETURNING id
)
INSERT INTO ingestion_events (batch_id, actor_id, kind, after)
SELECT id, $3::uuid, $4::text, '{"cascade": "project"}'::jsonb FROM shown;

-- name: restore_batch :one
-- Bring back soft-deleted batch $1 of live project $2 of owner $3; no row when there is
-- no such deleted batch.
UPDATE ingestion_batches AS b
SET deleted_at = NULL, deleted_by = NULL, updated_at = now()
FROM projects AS p
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.id = b.project_id
    AND p.user_id = $3::uuid AND p.deleted_at IS NULL AND b.deleted_at IS NOT NULL
RETURNING b.id, b.project_id, b.user_id, b.mode, b.status, b.file_count, b.row_count,
    b.column_metadata,
    batch_status_counts(b) AS status_counts,
    b.name, b.identifier_field_key, b.secondary_field_key,
    batch_delivery_counts(b) AS delivery_counts,
    b.schema_version, b.review_note, b.created_at, b.updated_at;
