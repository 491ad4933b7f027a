-- migrate:up
-- Users are created on first sight of a token's `sub` (external_id).
-- pgcrypto is not needed: gen_random_uuid() is built into PostgreSQL >= 13.
CREATE TABLE users (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    external_id text NOT NULL,
    email text,
    name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT uq_users_external_id UNIQUE (external_id)
);

-- migrate:down
DROP TABLE users;
