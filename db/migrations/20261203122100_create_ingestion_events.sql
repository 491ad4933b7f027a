-- migrate:up
-- The audit trail of the review loop: one event per change of a batch or of one of its rows
-- (an edit, a bulk edit, a delete or restore, a review verdict, a delivery change), written by
-- the transaction that makes the change. `row_id` NULL: an event of the batch as a whole.
-- `kind` is a dotted name from the service's vocabulary (entities.EventKind): text, so that
-- the vocabulary grows without a migration. `before`/`after` hold the values the change
-- replaced and wrote (for a row edit, only the keys it changed).
-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so the trail cannot be edited.
-- `id` grows with every insert: read newest first by (subject, id DESC).
CREATE TABLE ingestion_events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    batch_id uuid NOT NULL,
    row_id uuid,
    actor_id uuid NOT NULL,
    kind text NOT NULL,
    before jsonb,
    after jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_ingestion_events PRIMARY KEY (id),
    CONSTRAINT fk_ingestion_events_batch_id FOREIGN KEY (batch_id)
        REFERENCES ingestion_batches (id) ON DELETE RESTRICT,
    CONSTRAINT fk_ingestion_events_row_id FOREIGN KEY (row_id)
        REFERENCES ingestion_rows (id) ON DELETE RESTRICT,
    CONSTRAINT fk_ingestion_events_actor_id FOREIGN KEY (actor_id)
        REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT ck_ingestion_events_kind CHECK (kind ~ '^[a-z]+(\.[a-z_]+)+$')
);

-- A row's history and a batch's history, newest first.
CREATE INDEX idx_ingestion_events_row_id_id ON ingestion_events (row_id, id DESC)
    WHERE row_id IS NOT NULL;
CREATE INDEX idx_ingestion_events_batch_id_id ON ingestion_events (batch_id, id DESC);

CREATE FUNCTION refuse_ingestion_events_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ingestion_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER trg_ingestion_events_append_only
    BEFORE UPDATE OR DELETE ON ingestion_events
    FOR EACH ROW EXECUTE FUNCTION refuse_ingestion_events_change();

CREATE TRIGGER trg_ingestion_events_no_truncate
    BEFORE TRUNCATE ON ingestion_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_ingestion_events_change();

-- migrate:down
DROP TABLE ingestion_events;
DROP FUNCTION refuse_ingestion_events_change();
