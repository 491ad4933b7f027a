-- migrate:up
-- Idempotency keys: what a create request sent with an `Idempotency-Key` header made, so that
-- a retry answers with that resource instead of making another. One row per user and key,
-- written in the transaction that creates the resource. A key is not a record of the domain:
-- it expires (`expires_at`), is read as absent from then on, and is deleted for good a few
-- rows at a time by later creations, so it has no `deleted_at` and no `updated_at`.
-- `request_hash` is the SHA-256 of the request (operation, path, body); `resource_id` names a
-- project or a batch, whichever the hashed operation creates, so it has no foreign key.
CREATE TABLE idempotency_keys (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    resource_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (id),
    CONSTRAINT uq_idempotency_keys_user_id_key UNIQUE (user_id, key),
    CONSTRAINT fk_idempotency_keys_user_id FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT ck_idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT ck_idempotency_keys_request_hash_length CHECK (octet_length(request_hash) = 32)
);

-- The purge finds expired keys oldest first.
CREATE INDEX idx_idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- migrate:down
DROP TABLE idempotency_keys;
