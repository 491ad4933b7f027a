-- Idempotency keys: per user, what a create request sent with an `Idempotency-Key` made.
-- A key is taken with a transaction-scoped advisory lock (so that only one creating
-- transaction holds it at a time, across connections and processes), read, and written in
-- the transaction that creates the resource. Expired keys read as absent.

-- name: lock_idempotency_key :scalar
-- Hold the user's key until this transaction ends; false when another transaction holds it.
SELECT pg_try_advisory_xact_lock(hashtextextended($1::uuid::text || ' ' || $2::text, 0));

-- name: get_idempotency_key :one
-- The user's unexpired record of a key.
SELECT request_hash, resource_id
FROM idempotency_keys
WHERE user_id = $1::uuid AND key = $2::text AND expires_at > now();

-- name: create_idempotency_key :scalar
-- Record what a key created, replacing an expired record of it; NULL when one is still live.
INSERT INTO idempotency_keys (user_id, key, request_hash, resource_id, expires_at)
VALUES ($1::uuid, $2::text, $3::bytea, $4::uuid, now() + make_interval(secs => $5::integer))
ON CONFLICT ON CONSTRAINT uq_idempotency_keys_user_id_key DO UPDATE
SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at <= now()
RETURNING id;

-- name: purge_expired_idempotency_keys :exec
-- Delete up to $1 expired keys, oldest first, skipping rows another transaction has locked.
DELETE FROM idempotency_keys
WHERE id IN (
    SELECT id FROM idempotency_keys
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
);
