-- migrate:up
-- One record of a batch, as in the seed plan: the data as JSONB plus its validation result
-- and the exact place it came from.
CREATE TYPE row_status AS ENUM ('valid', 'warning', 'error');

CREATE TABLE ingestion_rows (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    batch_id uuid NOT NULL,
    data jsonb NOT NULL,
    status row_status NOT NULL DEFAULT 'valid',
    validation_messages jsonb NOT NULL DEFAULT '[]',
    source_file_name text NOT NULL,
    source_sheet_name text NOT NULL,
    source_row_index integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_ingestion_rows PRIMARY KEY (id),
    CONSTRAINT fk_ingestion_rows_batch_id FOREIGN KEY (batch_id)
        REFERENCES ingestion_batches (id) ON DELETE RESTRICT
);

CREATE INDEX idx_ingestion_rows_batch_id ON ingestion_rows (batch_id);

-- migrate:down
DROP TABLE ingestion_rows;
DROP TYPE row_status;
