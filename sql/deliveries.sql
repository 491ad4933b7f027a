-- Delivery of a completed batch's rows to the automations that consume them: claims that
-- lease rows in source order, each to one caller, and reports of each row's outcome. Each
-- state is counted in ingestion_batch_delivery_counts (one of 16 slots per batch, chosen by
-- the writer, so that concurrent reports seldom wait for one another), and the batch keeps
-- a cursor: every row before delivery_cursor was claimed at least once, so a claim reads the
-- never-claimed rows through uq_ingestion_rows_batch_position from there, and the claimed rows
-- it may take again (retries, leases that may have run out) through
-- idx_ingestion_rows_redelivery; neither reads the rows done or in error. A claim that skips a
-- never-claimed row (locked by another transaction) or leaves it out (the answer's size) stops
-- the cursor there, so a later claim finds it.

-- name: lock_batch_for_delivery :one
-- Lock a live batch of a live project of owner $3 for a claim (claims of one batch take
-- turns, so that the cursor only ever passes rows that were claimed); returns its status
-- and cursor, or no row when there is no such batch. NO KEY UPDATE: the foreign keys of the
-- events and counts that reports write meanwhile only need KEY SHARE, which it lets pass.
SELECT b.status, b.delivery_cursor
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
    AND b.deleted_at IS NULL
FOR NO KEY UPDATE OF b;

-- name: claim_rows :many
-- Lease up to $2 claimable rows of batch $1 for $3 seconds, first in source order: pending
-- rows and rows whose lease ran out, skipping any row another transaction holds, and stopping
-- before the row whose data would take the answer past $7 bytes of JSON (one row always
-- comes); $4 is the batch's cursor (lock_batch_for_delivery). Bumps their versions, appends a
-- `row.delivery_claimed` event by actor $5 for each, counts the rows that were pending as in
-- progress now (in count slot $6) and moves the cursor up to the first never-claimed row it
-- read and did not claim (skipped, or left out), else past the last one it read, or past the
-- batch's last row when it read every never-claimed row there was; returns them.
WITH candidates AS MATERIALIZED (
    (
        SELECT r.id, r.position, false AS fresh
        FROM ingestion_rows AS r
        WHERE r.batch_id = $1::uuid AND r.delivery_attempts > 0
            AND r.delivery_status IN ('pending', 'in_progress') AND r.deleted_at IS NULL
            AND (r.delivery_status = 'pending' OR r.delivery_lease_until <= now())
        ORDER BY r.position
        LIMIT $2::integer
    )
    UNION ALL
    (
        SELECT r.id, r.position, true AS fresh
        FROM ingestion_rows AS r
        WHERE r.batch_id = $1::uuid AND r.position >= $4::integer
            AND r.delivery_attempts = 0 AND r.deleted_at IS NULL
        ORDER BY r.position
        LIMIT $2::integer
    )
),
chosen AS (
    SELECT c.id, c.position, c.fresh FROM candidates AS c ORDER BY c.position LIMIT $2::integer
),
locked AS (
    SELECT r.id, r.position, r.delivery_status AS was, octet_length(r.data::text) AS size
    FROM ingestion_rows AS r
    WHERE r.id IN (SELECT chosen.id FROM chosen)
        AND r.batch_id = $1::uuid AND r.deleted_at IS NULL
        AND (r.delivery_status = 'pending' OR (r.delivery_status = 'in_progress'
            AND r.delivery_lease_until <= now()))
    FOR UPDATE SKIP LOCKED
),
picked AS MATERIALIZED (
    SELECT sized.id, sized.position, sized.was
    FROM (
        SELECT locked.id, locked.position, locked.was,
            row_number() OVER (ORDER BY locked.position) AS ordinal,
            sum(locked.size) OVER (ORDER BY locked.position) AS bytes
        FROM locked
    ) AS sized
    WHERE sized.ordinal = 1 OR sized.bytes <= $7::bigint
),
claimed AS (
    UPDATE ingestion_rows AS r
    SET delivery_status = 'in_progress', delivery_attempts = r.delivery_attempts + 1,
        version = r.version + 1,
        delivery_lease_until = now() + make_interval(secs => $3::integer),
        delivery_updated_at = now()
    FROM picked
    WHERE r.id = picked.id
    RETURNING r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
        r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
        jsonb_build_object(
            'status', r.delivery_status, 'message', r.delivery_message, 'step', r.delivery_step,
            'attempts', r.delivery_attempts, 'lease_until', r.delivery_lease_until,
            'updated_at', r.delivery_updated_at
        ) AS delivery,
        r.created_at, r.updated_at
),
logged AS (
    INSERT INTO ingestion_events (batch_id, row_id, actor_id, kind, before, after)
    SELECT $1::uuid, claimed.id, $5::uuid, 'row.delivery_claimed',
        jsonb_build_object('status', picked.was),
        jsonb_build_object(
            'status', 'in_progress', 'attempts', claimed.delivery -> 'attempts',
            'leaseUntil', claimed.delivery -> 'lease_until'
        )
    FROM claimed
    JOIN picked ON picked.id = claimed.id
    ORDER BY claimed.position
),
moved AS (
    UPDATE ingestion_batches
    SET delivery_cursor = coalesce(
        (
            SELECT min(c.position) FROM candidates AS c
            WHERE c.fresh AND c.id NOT IN (SELECT picked.id FROM picked)
        ),
        CASE WHEN (SELECT count(*) FROM candidates AS c WHERE c.fresh) < $2::integer
            THEN (SELECT max(r.position) + 1 FROM ingestion_rows AS r WHERE r.batch_id = $1::uuid)
            ELSE (SELECT max(c.position) + 1 FROM candidates AS c WHERE c.fresh)
        END,
        delivery_cursor
    )
    WHERE id = $1::uuid
),
counted AS (
    INSERT INTO ingestion_batch_delivery_counts AS c (batch_id, slot, in_progress)
    SELECT $1::uuid, $6::smallint, count(*) FROM picked WHERE picked.was = 'pending'
    ON CONFLICT (batch_id, slot) DO UPDATE SET in_progress = c.in_progress + excluded.in_progress
)
SELECT id, batch_id, position, data, status, validation_messages, source_file_name,
    source_sheet_name, source_row_index, version, delivery, created_at, updated_at
FROM claimed
ORDER BY position;

-- name: lock_row_delivery :one
-- Lock one live row of a live batch for a report; returns its delivery state, attempts,
-- message and step and its batch's status, or no row when there is none.
SELECT r.delivery_status, r.delivery_attempts, r.delivery_message, r.delivery_step,
    b.status AS batch_status
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.id = $1::uuid AND r.batch_id = $2::uuid AND r.deleted_at IS NULL
FOR UPDATE OF r;

-- name: report_delivery :one
-- Record a row's delivery outcome $2, with its message and step when their flags ($3, $5)
-- are true (else they stay); a row no longer in progress loses its lease. Like every change
-- of the row, it bumps its version. Returns the row.
UPDATE ingestion_rows AS r
SET delivery_status = $2::delivery_status,
    delivery_message = CASE WHEN $3::boolean THEN $4::text ELSE r.delivery_message END,
    delivery_step = CASE WHEN $5::boolean THEN $6::text ELSE r.delivery_step END,
    delivery_lease_until = NULL,
    delivery_updated_at = now(),
    version = r.version + 1
WHERE r.id = $1::uuid
RETURNING r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
    jsonb_build_object(
        'status', r.delivery_status, 'message', r.delivery_message, 'step', r.delivery_step,
        'attempts', r.delivery_attempts, 'lease_until', r.delivery_lease_until,
        'updated_at', r.delivery_updated_at
    ) AS delivery,
    r.created_at, r.updated_at;

-- name: count_delivery_change :exec
-- Add $3, $4 and $5 to batch $1's counts of rows in progress, done and in error, in its slot $2.
INSERT INTO ingestion_batch_delivery_counts AS c (batch_id, slot, in_progress, done, error)
VALUES ($1::uuid, $2::smallint, $3::integer, $4::integer, $5::integer)
ON CONFLICT (batch_id, slot) DO UPDATE
SET in_progress = c.in_progress + excluded.in_progress, done = c.done + excluded.done,
    error = c.error + excluded.error;
