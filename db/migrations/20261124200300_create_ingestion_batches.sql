-- migrate:up
-- One upload = one batch, as in the seed plan. created_at/updated_at are NOT NULL here
-- (the seed left them nullable with a default): a batch without a timestamp is never wanted.
CREATE TYPE batch_mode AS ENUM ('list_mode', 'profile_mode');
CREATE TYPE batch_status AS ENUM ('pending_review', 'completed', 'failed');

CREATE TABLE ingestion_batches (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    user_id uuid NOT NULL,
    mode batch_mode NOT NULL,
    status batch_status NOT NULL DEFAULT 'pending_review',
    file_count integer NOT NULL,
    row_count integer NOT NULL,
    column_metadata jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by uuid,
    CONSTRAINT pk_ingestion_batches PRIMARY KEY (id),
    CONSTRAINT fk_ingestion_batches_project_id FOREIGN KEY (project_id)
        REFERENCES projects (id) ON DELETE RESTRICT,
    CONSTRAINT fk_ingestion_batches_user_id FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT fk_ingestion_batches_deleted_by FOREIGN KEY (deleted_by)
        REFERENCES users (id) ON DELETE RESTRICT
);

CREATE INDEX idx_ingestion_batches_project_id ON ingestion_batches (project_id);
CREATE INDEX idx_ingestion_batches_user_id ON ingestion_batches (user_id);

-- migrate:down
DROP TABLE ingestion_batches;
DROP TYPE batch_status;
DROP TYPE batch_mode;
