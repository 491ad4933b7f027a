-- migrate:up
-- The project schema version a batch was last validated with (at upload, or by
-- `POST …/validate`); NULL when it was stored without a schema.
ALTER TABLE ingestion_batches ADD COLUMN schema_version integer;
ALTER TABLE ingestion_batches ADD CONSTRAINT fk_ingestion_batches_schema_version
    FOREIGN KEY (project_id, schema_version) REFERENCES project_schemas (project_id, version)
    ON DELETE RESTRICT;

-- migrate:down
ALTER TABLE ingestion_batches DROP CONSTRAINT fk_ingestion_batches_schema_version;
ALTER TABLE ingestion_batches DROP COLUMN schema_version;
